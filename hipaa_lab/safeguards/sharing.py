"""The request desk: who may receive a patient's images, on what basis, and by when.

Every request that reaches an imaging department's front desk is a card (a plain dict, see
:func:`request_cards`): who asks, for what, with which papers. :func:`decide_request` decides it
as the HIPAA Privacy Rule does, for the clear cases module 7 grades:

================================  =========================================================
basis                             when
================================  =========================================================
``right_of_access``               the patient asks for a copy of her own images, or asks in
                                  writing, signed, that a copy go to a person she names
                                  (45 CFR 164.524(a)(1), (c)(3)(ii)); act within 30 days of
                                  receipt, or 60 after one written extension (164.524(b)(2))
``treatment``                     another health care provider, for its treatment of the
                                  patient (164.506(c)(2)); minimum necessary does not apply
                                  (164.502(b)(2)(i))
``authorization``                 the patient's signed, valid authorization (164.508);
                                  minimum necessary does not apply (164.502(b)(2)(iii))
``irb_waiver``                    research under a waiver of authorization approved by an
                                  IRB or privacy board (164.512(i)(1)(i))
``deidentified``                  de-identified images (164.514(a)-(b)) are not PHI
                                  (164.502(d)(2))
``limited_data_set``              a limited data set under a data use agreement (164.514(e))
``baa``                           a business associate, such as a cloud archive, under a
                                  business associate agreement (164.502(e), 164.504(e),
                                  164.308(b)(1))
``none``                          no basis: refuse (a family member with no authorization,
                                  a researcher with no approval, a cloud vendor with no BAA)
================================  =========================================================

``minimum_necessary`` is whether the minimum necessary standard (164.502(b)(1), 164.514(d))
applies to the disclosure; a refusal answers ``False`` and no due date. ``due`` is the rule's own
deadline, which only the right of access has.

The second half is the expiring link a hospital sends images with (:func:`make_link`,
:func:`verify_link`): an HMAC-SHA256 over the study, the recipient and the expiry. The Security
Rule asks for access control, person or entity authentication and transmission security
(164.312(a)(1), (d), (e)(1)); an expiry and a signature are how this kit meets them, good practice
and not a paragraph of the rule.

While a learner's ``decide`` or ``link_valid`` runs for a grade, :func:`decide_request` and
:func:`verify_link` refuse (:func:`refusing`): the exercise is to decide, not to ask the package.
Every name, date and number here is synthetic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from hipaa_lab.errors import GradingError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "ACCESS_DAYS",
    "Basis",
    "EXTENSION_DAYS",
    "KINDS",
    "access_due",
    "cards_frame",
    "decide_request",
    "kinded_cards",
    "link_cases",
    "make_link",
    "plot_access_timeline",
    "refusing",
    "request_cards",
    "try_decide",
    "verify_link",
]

#: Days to act on a request for access after receipt (45 CFR 164.524(b)(2)(i)).
ACCESS_DAYS = 30
#: The one extension's most days, with a written statement of reasons and date (164.524(b)(2)(ii)).
EXTENSION_DAYS = 30


class Basis(str, Enum):
    """The closed set of bases a decision names."""

    RIGHT_OF_ACCESS = "right_of_access"
    TREATMENT = "treatment"
    AUTHORIZATION = "authorization"
    IRB_WAIVER = "irb_waiver"
    DEIDENTIFIED = "deidentified"
    LIMITED_DATA_SET = "limited_data_set"
    BAA = "baa"
    NONE = "none"


#: The kinds of card the desk sees. Which basis allows each, and whether the minimum necessary
#: standard then applies, is the exercise's answer: the desk works it out from a card's facts
#: (:mod:`hipaa_lab.safeguards._desk`, withheld while module 7 is graded), and the tests hold it
#: to a table of their own; this module, which the graded sandbox reads, keeps no such table.
KINDS: tuple[str, ...] = (
    "patient_copy",
    "patient_directs",
    "outside_treatment",
    "research_waiver",
    "research_authorization",
    "research_deidentified",
    "research_lds",
    "research_nothing",
    "research_lds_no_dua",
    "cloud_baa",
    "cloud_no_baa",
    "attorney_authorization",
    "attorney_no_authorization",
    "family_no_authorization",
)

_FLAGS = (
    "written",
    "signed",
    "recipient_named",
    "authorization",
    "irb_waiver",
    "deidentified",
    "limited_data_set",
    "data_use_agreement",
    "baa",
    "encrypted_no_key",
    "extension_notice",
)

_REFUSING = False


@contextlib.contextmanager
def refusing(name: str) -> Iterator[None]:
    """While the learner's ``name`` runs for a grade, the package's answers refuse.

    A reminder of the exercise's rule in a learner's own kernel, not a seal: code that turns
    the switch off, or reloads this module, gets the answers there. Sealed grading withholds
    them (:mod:`hipaa_lab.safeguards._desk`) from the sandbox: see :mod:`hipaa_lab.course.rules`.
    """
    global _REFUSING  # one process-wide switch, set only around a learner's call
    saved, _REFUSING = _REFUSING, True
    try:
        yield
    finally:
        _REFUSING = saved


def _refuse(what: str) -> None:
    if _REFUSING:
        raise GradingError(
            f"{what} is the package's answer: while your function runs for a grade, it refuses. "
            "Decide with the rules the notebook teaches."
        )


def access_due(received: str | dt.date, extension: bool = False) -> dt.date:
    """The last day to act on a request for access received on ``received``.

    30 calendar days after receipt (45 CFR 164.524(b)(2)(i)); 30 more after one extension whose
    written statement of reasons and date reached the individual within the first 30
    (164.524(b)(2)(ii)).

    >>> access_due("2026-01-15"), access_due("2026-01-15", extension=True)
    (datetime.date(2026, 2, 14), datetime.date(2026, 3, 16))
    """
    day = dt.date.fromisoformat(received) if isinstance(received, str) else received
    return day + dt.timedelta(days=ACCESS_DAYS + (EXTENSION_DAYS if extension else 0))


def decide_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The reference decision on one request card.

    Returns ``{"allowed", "basis", "minimum_necessary", "due"}`` (``due`` as ``YYYY-MM-DD`` or
    ``None``). Refuses while a learner's function runs for a grade (:func:`refusing`).

    >>> decide_request({"from": "outside_provider", "purpose": "treatment", "received": "2026-03-02"})
    {'allowed': True, 'basis': 'treatment', 'minimum_necessary': False, 'due': None}
    """
    from hipaa_lab.safeguards import _desk  # the answer: withheld while m07 is graded

    return _desk.decide_request(request)


# --------------------------------------------------------------------------- the cards

_GIVEN = ("Ana", "Bao", "Chidi", "Dana", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kemal")
_FAMILY = ("Okafor", "Lindqvist", "Moreau", "Nakamura", "Petrov", "Quispe", "Rahman", "Silva")
_STUDIES = ("MRI of the left knee", "CT of the chest", "mammogram", "lumbar spine MRI",
            "CT of the head", "shoulder X-ray", "abdominal ultrasound", "cardiac MRI")  # fmt: skip
_APPS = ("MyScans app", "HealthVault-style personal record app", "second-opinion service")
_CLINICS = ("Riverside Orthopedics", "Northgate Oncology", "Lakeview Cardiology", "Hillcrest ENT")


def _text(kind: str, rng: random.Random, card: dict[str, Any]) -> str:
    """The card as the desk reads it."""
    who = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
    study = rng.choice(_STUDIES)
    texts = {
        "patient_copy": f"Patient {who} asks for a copy of her {study} on {card['format']}"
        + (f", and would like it by {card['wanted_by']}" if card["wanted_by"] else "")
        + (
            "; the desk sent her a written extension notice with reasons and a date"
            if card["extension_notice"]
            else ""
        ),
        "patient_directs": f"Patient {who} signs a written request that an electronic copy of her "
        f"{study} be sent to the {rng.choice(_APPS)}, named with its address",
        "outside_treatment": f"Dr {who} of {rng.choice(_CLINICS)} asks for the patient's {study} "
        "to plan surgery next week (no authorization on file)",
        "research_waiver": f"Researcher {who} asks for identifiable {study} studies under a waiver of "
        "authorization the IRB approved",
        "research_authorization": f"Researcher {who} asks for a patient's {study}; the patient "
        "signed an authorization for this study",
        "research_deidentified": f"Researcher {who} asks for {study} studies de-identified by the "
        "hospital (Safe Harbor and the DICOM profile)",
        "research_lds": f"Researcher {who} asks for {study} studies as a limited data set (dates kept, "
        "names removed) and signed the hospital's data use agreement",
        "research_nothing": f"Researcher {who} asks for identifiable {study} studies for a paper; no "
        "authorization, no waiver",
        "research_lds_no_dua": f"Researcher {who} asks for {study} studies as a limited data set, and "
        "has not signed a data use agreement",
        "cloud_baa": f"A cloud archive vendor will store the department's images; its business "
        f"associate agreement was signed by {who}, the hospital's privacy official",
        "cloud_no_baa": "A cloud vendor offers free storage for the department's images, "
        "encrypted with a key only the hospital holds; it will not sign a BAA",
        "attorney_authorization": f"Attorney {who} asks for a patient's {study} and brings the "
        "patient's signed, valid authorization",
        "attorney_no_authorization": f"Attorney {who} asks for a patient's {study} for a claim; "
        "no authorization, no court order",
        "family_no_authorization": f"{who}, an adult patient's brother, asks for a copy of her "
        f"{study}; he is not involved in her care or her personal representative, and she signed "
        "no authorization",
    }
    return texts[kind]


_SETS: dict[str, tuple[str, ...]] = {
    "patient_directs": ("written", "signed", "recipient_named"),
    "research_waiver": ("irb_waiver",),
    "research_authorization": ("authorization", "written", "signed"),
    "research_deidentified": ("deidentified",),
    "research_lds": ("limited_data_set", "data_use_agreement"),
    "research_lds_no_dua": ("limited_data_set",),
    "cloud_baa": ("baa",),
    "cloud_no_baa": ("encrypted_no_key",),
    "attorney_authorization": ("authorization", "written", "signed"),
}

_FROM = {
    "patient": "patient",
    "outside": "outside_provider",
    "research": "researcher",
    "cloud": "cloud_vendor",
    "attorney": "attorney",
    "family": "family_member",
}

_PURPOSE = {
    "patient_copy": "own_copy",
    "patient_directs": "send_to_designee",
    "outside_treatment": "treatment",
    "cloud_baa": "storage",
    "cloud_no_baa": "storage",
    "attorney_authorization": "legal_claim",
    "attorney_no_authorization": "legal_claim",
    "family_no_authorization": "personal",
}


def request_cards(seed: int, per_kind: int = 1) -> list[dict[str, Any]]:
    """Fresh request cards, ``per_kind`` of each kind of :data:`KINDS`, shuffled.

    Each card is plain data: ``id``, ``from``, ``purpose``, ``received`` (YYYY-MM-DD),
    ``text`` (the request in words), ``format``, ``wanted_by`` (what the requester asked for, not
    the rule's deadline), and the papers as booleans: ``written``, ``signed``,
    ``recipient_named``, ``authorization``, ``irb_waiver``, ``deidentified``,
    ``limited_data_set``, ``data_use_agreement``, ``baa``, ``encrypted_no_key``,
    ``extension_notice``.

    >>> [c["id"] for c in request_cards(1)][:2] == [c["id"] for c in request_cards(1)][:2]
    True
    """
    return [card for _, card in kinded_cards(seed, per_kind)]


def kinded_cards(seed: int, per_kind: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """:func:`request_cards` with each card's kind of :data:`KINDS` beside it (for tests)."""
    rng = random.Random(seed)  # noqa: S311 - which synthetic requests to show, not a secret
    cards: list[tuple[str, dict[str, Any]]] = []
    numbers = rng.sample(range(1000, 10000), per_kind * len(KINDS))
    for i in range(per_kind):
        for kind in KINDS:
            received = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
            card: dict[str, Any] = {
                "id": f"R-{numbers[len(cards)]}",
                "from": _FROM[kind.split("_")[0]],
                "purpose": _PURPOSE.get(kind, "research"),
                "received": received.isoformat(),
                "format": "none",
                "wanted_by": None,
            }
            card.update(dict.fromkeys(_FLAGS, False))
            card.update(dict.fromkeys(_SETS.get(kind, ()), True))
            if kind.startswith("patient"):
                card["format"] = rng.choice(("CD", "USB drive", "patient portal download"))
                if kind == "patient_directs":
                    card["format"] = "electronic, sent to the named recipient"
                card["extension_notice"] = (i % 2 == 1) if per_kind > 1 else rng.random() < 0.5
                if rng.random() < 0.6:
                    wanted = received + dt.timedelta(days=rng.choice((5, 7, 10, 14, 45)))
                    card["wanted_by"] = wanted.isoformat()
            card["text"] = _text(kind, rng, card)
            cards.append((kind, card))
    rng.shuffle(cards)
    return cards


def cards_frame(
    cards: Sequence[Mapping[str, Any]], decisions: Sequence[Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """The cards as a table (id, from, received, the request), with ``decisions`` beside them."""
    import pandas as pd

    rows = []
    for n, card in enumerate(cards):
        row = {k: card[k] for k in ("id", "from", "received", "text")}
        if decisions is not None:
            decision = decisions[n]
            row.update(
                {k: decision.get(k) for k in ("allowed", "basis", "minimum_necessary", "due")}
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("id")


def try_decide(
    decide: Callable[[dict[str, Any]], Any], cards: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """The cards with ``decide``'s decisions and whether each matches the desk's (all four
    fields): the notebook's practice table. The grade uses other cards."""
    mine = [decide(dict(card)) for card in cards]
    frame = cards_frame(cards, [m if isinstance(m, Mapping) else {} for m in mine])
    frame["as the desk decides"] = [
        isinstance(m, Mapping) and all(m.get(k) == v for k, v in decide_request(c).items())
        for m, c in zip(mine, cards, strict=True)
    ]
    return frame


def plot_access_timeline(received: str, ax: Axes | None = None) -> Axes:
    """The right of access's clock for a request received on ``received``: 30 days, and the one
    extension of up to 30 more (45 CFR 164.524(b)(2))."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
    start = dt.date.fromisoformat(received)
    due, extended = access_due(start), access_due(start, extension=True)
    ax.barh(1, ACCESS_DAYS, left=0, color="tab:blue", label="30 days to act (164.524(b)(2)(i))")
    ax.barh(
        0,
        EXTENSION_DAYS,
        left=ACCESS_DAYS,
        color="tab:orange",
        label="one extension, up to 30 days (164.524(b)(2)(ii))",
    )
    ax.barh(0, ACCESS_DAYS, left=0, color="tab:orange", alpha=0.25)
    ax.axvline(ACCESS_DAYS, color="k", ls="--")
    ax.annotate(f"due {due} ", (ACCESS_DAYS, 1.45), ha="right")
    ax.annotate(f"extended due {extended}", (ACCESS_DAYS + EXTENSION_DAYS, 0.45), ha="right")
    ax.annotate(
        "written statement of reasons and date: within the first 30 days",
        (1, -0.6),
        fontsize="small",
    )
    ax.set_yticks([1, 0], ["no extension", "with extension"])
    ax.set_xlabel(f"calendar days after receipt on {start}")
    ax.set_xlim(0, ACCESS_DAYS + EXTENSION_DAYS + 2)
    ax.set_ylim(-0.8, 1.8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2, fontsize="small")
    ax.set_title("The right of access: when the hospital must act")
    return ax


# --------------------------------------------------------------------------- expiring links


def make_link(study_uid: str, recipient: str, expires: str, key: str) -> dict[str, str]:
    """A signed, expiring link to a study for one recipient (plain data).

    ``signature`` is the hex HMAC-SHA256, keyed by ``key`` (hex), of
    ``"<study_uid>|<recipient>|<expires>"``; ``expires`` is ISO 8601 UTC text.

    >>> link = make_link("1.2.3", "dr.lee", "2026-05-01T12:00:00Z", "00" * 32)
    >>> sorted(link)
    ['expires', 'recipient', 'signature', 'study_uid']

    Refuses while a learner's function runs for a grade (:func:`refusing`): its signature is the
    half of ``link_valid``'s answer the exercise asks the learner to compute with ``hmac``.
    """
    from hipaa_lab.safeguards import _desk

    return _desk.make_link(study_uid, recipient, expires, key)


def verify_link(link: Mapping[str, Any], user: str, now: str, key: str) -> bool:
    """Whether ``user`` may open ``link`` at ``now``: the signature is the key's over the study,
    recipient and expiry; ``user`` is its recipient; ``now`` is before its expiry.

    >>> key = "11" * 32
    >>> link = make_link("1.2.3", "dr.lee", "2026-05-01T12:00:00Z", key)
    >>> verify_link(link, "dr.lee", "2026-05-01T11:59:59Z", key)
    True
    >>> verify_link(link, "dr.lee", "2026-05-01T12:00:00Z", key)
    False
    """
    from hipaa_lab.safeguards import _desk

    return _desk.verify_link(link, user, now, key)


def link_cases(seed: int, count: int = 16) -> list[dict[str, Any]]:
    """Fresh cases for a link checker: ``{"link", "user", "now", "key", "valid", "why"}``.

    About half are valid; the others are expired (some to the second), tampered (study,
    recipient or expiry changed after signing), signed with another key, or opened by another
    user. ``valid`` and ``why`` are the key.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic cases; the seed is the secret
    key = rng.randbytes(32).hex()
    kinds = ["valid"] * (count // 2) + [
        ("expired", "expired_by_a_second", "tampered_expiry", "tampered_study",
         "tampered_recipient", "other_key", "wrong_user")[i % 7]
        for i in range(count - count // 2)
    ]  # fmt: skip
    rng.shuffle(kinds)
    cases = []
    for why in kinds:
        uid = "2.25." + str(rng.getrandbits(96))
        recipient = f"{rng.choice(_GIVEN).lower()}.{rng.choice(_FAMILY).lower()}"
        sent = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(500_000))
        expires = sent + dt.timedelta(hours=rng.choice((24, 48, 72)))  # the kit's 72 h at most
        stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        link = make_link(uid, recipient, stamp, key)
        now = sent + dt.timedelta(
            minutes=rng.randrange(1, int((expires - sent).total_seconds() // 60))
        )
        user = recipient
        if why == "expired":
            now = expires + dt.timedelta(hours=rng.randrange(1, 200))
        elif why == "expired_by_a_second":
            now = expires + dt.timedelta(seconds=rng.choice((0, 1)))
        elif why == "tampered_expiry":
            later = expires + dt.timedelta(days=rng.randrange(2, 30))
            link["expires"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
            now = expires + dt.timedelta(hours=1)
        elif why == "tampered_study":
            link["study_uid"] = "2.25." + str(rng.getrandbits(96))
        elif why == "tampered_recipient":
            link["recipient"] = user = f"{rng.choice(_GIVEN).lower()}.outsider"
        elif why == "other_key":
            link = make_link(uid, recipient, stamp, rng.randbytes(32).hex())
        elif why == "wrong_user":
            user = f"{rng.choice(_GIVEN).lower()}.{rng.choice(_FAMILY).lower()}x"
        cases.append(
            {
                "link": link,
                "user": user,
                "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "key": key,
                "valid": why == "valid",
                "why": why,
            }
        )
    return cases
