"""The safeguards learners can touch: a simulated PACS with access control
(:mod:`~hipaa_lab.safeguards.access`, its policy in :mod:`~hipaa_lab.safeguards.policy`, its users
and sessions in :mod:`~hipaa_lab.safeguards.sessions`) and its
tamper-evident DICOM audit trail (:mod:`~hipaa_lab.safeguards.audit`). DICOM over TLS and what a
network tap reads without it is :mod:`~hipaa_lab.safeguards.transmission` (imported by name: it
loads pynetdicom)."""

from __future__ import annotations

from hipaa_lab.safeguards.access import Decision, Pacs, StudySummary
from hipaa_lab.safeguards.policy import AccessPolicy, Condition, Operation, Purpose, Role, Rule
from hipaa_lab.safeguards.sessions import STAFF, BreakGlass, Session, User

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
