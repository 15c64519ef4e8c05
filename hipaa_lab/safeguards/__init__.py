"""The safeguards learners can touch: a simulated PACS with access control
(:mod:`~hipaa_lab.safeguards.access`, its policy in :mod:`~hipaa_lab.safeguards.policy`, its users
and sessions in :mod:`~hipaa_lab.safeguards.sessions`) and its
tamper-evident DICOM audit trail (:mod:`~hipaa_lab.safeguards.audit`); encryption at rest and the
lost laptop (:mod:`~hipaa_lab.safeguards.crypto`), the backup-and-restore drill
(:mod:`~hipaa_lab.safeguards.backup`), media disposal (:mod:`~hipaa_lab.safeguards.media`), DICOM
over TLS and what a network tap reads without it (:mod:`~hipaa_lab.safeguards.transmission`, which
loads pynetdicom) and breach notification (:mod:`~hipaa_lab.safeguards.breach`), imported as
modules."""

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
