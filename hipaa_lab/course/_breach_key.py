"""Module 6's answer key: what each card requires and which exclusion each incident meets.

The grader's side of :mod:`hipaa_lab.course.checks_breach`, kept apart so that sealed
autograding can withhold it while module 6 is graded (:data:`hipaa_lab.course.rules.RULES`):
``expected_notices`` answers ``plan_notices`` and ``_exclusion_of`` answers ``which_exclusion``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hipaa_lab.safeguards import breach
from hipaa_lab.safeguards.breach import Exclusion

__all__ = ["expected_notices"]


def expected_notices(card: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`~hipaa_lab.safeguards.breach.plan` says a card requires, in the exercise's
    shape: ``{"notification_required", "recipients": [{"who", "state" (media), "deadline"}]}``."""
    from hipaa_lab.course.checks_breach import card_facts

    p = breach.plan(card_facts(card), as_of=dt.date.fromisoformat(card["today"]))
    return {
        "notification_required": p.notification_required,
        "recipients": [
            {k: v for k, v in n.to_json().items() if k in ("who", "state", "deadline")}
            for n in p.recipients
        ],
    }


def _exclusion_of(incident: Mapping[str, Any]) -> str | None:
    """The exclusion of 164.402 (breach, paragraph (1)) that the incident's facts meet, or None."""
    if incident["further_use_or_disclosure"]:
        return None
    if incident["event"] == "access":
        ok = (
            incident["by_workforce"]
            and incident["unintentional"]
            and incident["good_faith"]
            and incident["within_scope"]
        )
        return Exclusion.UNINTENTIONAL_ACCESS.value if ok else None
    if (
        incident["by_workforce"]
        and incident["unintentional"]
        and incident["recipient_authorized_same_entity"]
    ):
        return Exclusion.INADVERTENT_DISCLOSURE.value
    if not incident["recipient_could_retain"]:
        return Exclusion.UNABLE_TO_RETAIN.value
    return None
