"""The safeguards learners can touch: a simulated PACS with access control
(:mod:`~hipaa_lab.safeguards.access`, its policy in :mod:`~hipaa_lab.safeguards.policy`) and its
tamper-evident DICOM audit trail (:mod:`~hipaa_lab.safeguards.audit`)."""

from __future__ import annotations

from hipaa_lab.safeguards.access import (
    STAFF,
    BreakGlass,
    Decision,
    Pacs,
    Session,
    StudySummary,
    User,
)
from hipaa_lab.safeguards.policy import AccessPolicy, Condition, Operation, Purpose, Role, Rule

__all__ = [
    "AccessPolicy",
    "BreakGlass",
    "Condition",
    "Decision",
    "Operation",
    "Pacs",
    "Purpose",
    "Role",
    "Rule",
    "STAFF",
    "Session",
    "StudySummary",
    "User",
]
