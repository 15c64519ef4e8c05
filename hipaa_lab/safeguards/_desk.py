"""The request desk's answers: :func:`hipaa_lab.safeguards.sharing.decide_request`,
:func:`~hipaa_lab.safeguards.sharing.make_link` and
:func:`~hipaa_lab.safeguards.sharing.verify_link` run these.

Module 7's answers (``decide``, ``link_valid``): kept apart from
:mod:`hipaa_lab.safeguards.sharing`, whose cards and timelines a notebook uses, so that sealed
autograding can withhold this module while module 7 is graded
(:data:`hipaa_lab.course.rules.RULES`). In a learner's own kernel they refuse while the learner's
function runs (:func:`hipaa_lab.safeguards.sharing.refusing`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from hipaa_lab.safeguards.sharing import _FLAGS, Basis, _refuse, access_due

__all__ = ["decide_request", "make_link", "verify_link"]


def decide_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The answer behind :func:`hipaa_lab.safeguards.sharing.decide_request` (its contract and
    examples are there)."""
    _refuse("decide_request")
    basis = _basis(request)
    allowed = basis is not Basis.NONE
    due = None
    if basis is Basis.RIGHT_OF_ACCESS:
        due = access_due(request["received"], bool(request.get("extension_notice"))).isoformat()
    return {
        "allowed": allowed,
        "basis": basis.value,
        "minimum_necessary": allowed and basis in _MINIMUM_NECESSARY,
        "due": due,
    }


#: The bases whose disclosures the minimum necessary standard covers (45 CFR 164.502(b)(1));
#: the others are excepted (164.502(b)(2)(i), (ii), (iii)) or are not PHI (164.502(d)(2)).
_MINIMUM_NECESSARY = frozenset({Basis.IRB_WAIVER, Basis.LIMITED_DATA_SET, Basis.BAA})


def _basis(request: Mapping[str, Any]) -> Basis:
    """The rule that allows ``request``, or :attr:`Basis.NONE` (the heart of
    :func:`decide_request`'s answer: it refuses as that does)."""
    _refuse("_basis")
    who, purpose = request.get("from"), request.get("purpose")
    has = {flag for flag in _FLAGS if request.get(flag) is True}
    if who == "patient" and purpose == "own_copy":
        return Basis.RIGHT_OF_ACCESS
    if who == "patient" and purpose == "send_to_designee":
        directed = {"written", "signed", "recipient_named"} <= has
        return Basis.RIGHT_OF_ACCESS if directed else Basis.NONE
    if who == "outside_provider" and purpose == "treatment":
        return Basis.TREATMENT
    if who == "cloud_vendor":
        return Basis.BAA if "baa" in has else Basis.NONE
    if who == "researcher":
        if "deidentified" in has:
            return Basis.DEIDENTIFIED
        if "irb_waiver" in has:
            return Basis.IRB_WAIVER
        if {"limited_data_set", "data_use_agreement"} <= has:
            return Basis.LIMITED_DATA_SET
    if "authorization" in has:
        return Basis.AUTHORIZATION
    return Basis.NONE


def _message(study_uid: str, recipient: str, expires: str) -> bytes:
    return f"{study_uid}|{recipient}|{expires}".encode()


def make_link(study_uid: str, recipient: str, expires: str, key: str) -> dict[str, str]:
    """The answer behind :func:`hipaa_lab.safeguards.sharing.make_link` (its contract and examples
    are there): the signature is half of ``link_valid``'s answer."""
    _refuse("make_link")
    mac = hmac.new(bytes.fromhex(key), _message(study_uid, recipient, expires), hashlib.sha256)
    return {
        "study_uid": study_uid,
        "recipient": recipient,
        "expires": expires,
        "signature": mac.hexdigest(),
    }


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def verify_link(link: Mapping[str, Any], user: str, now: str, key: str) -> bool:
    """The answer behind :func:`hipaa_lab.safeguards.sharing.verify_link` (its contract and
    examples are there)."""
    _refuse("verify_link")
    try:
        expected = make_link(link["study_uid"], link["recipient"], link["expires"], key)
        signed = hmac.compare_digest(expected["signature"], str(link["signature"]))
        return signed and user == link["recipient"] and _when(now) < _when(link["expires"])
    except (KeyError, TypeError, ValueError):
        return False
