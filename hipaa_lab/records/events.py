"""The kinds of entry the training records write to the ledger, and what each body holds.

Every fact is an entry; nothing is updated or deleted (the ledger has no such API), and status
is derived from the entries, never stored (:mod:`hipaa_lab.records.status`).

==========================  ==============================================================
kind                        body
==========================  ==============================================================
``employee.added``          ``employee`` (the roster row), ``source``
``employee.changed``        ``employee`` (the new row), ``changes`` (field: [old, new])
``employee.removed``        ``employee`` (the last row), ``source``
``module.released``         ``module``, ``version`` (SHA-256 of the released notebooks)
``training.retraining``     ``module``, ``version``, ``reason``, ``by``: a material change
``training.assigned``       ``employee_id``, ``module``, ``version``
``training.submitted``      ``employee_id``, ``module``, ``version``, ``at``
``training.graded``         ``employee_id``, ``module``, ``version``, ``at``, ``score``,
                            ``max_score``
``training.passed``         ``employee_id``, ``module``, ``version``, ``at``, ``score``,
                            ``max_score``, ``threshold``
``training.failed``         the same as passed
``training.attested``       ``employee_id``, ``module``, ``version``, ``at``, ``statement``
                            (SHA-256 of the policy text), ``signed`` (the name typed)
``training.waived``         ``employee_id``, ``module``, ``reason``, ``by``
``training.grade-changed``  ``employee_id``, ``module``, ``at``, ``old``, ``new``, ``by``,
                            ``why``
==========================  ==============================================================
"""

from __future__ import annotations

import enum

__all__ = ["RecordKind"]


class RecordKind(enum.Enum):
    """The kinds of ledger entry of the training records (see the module docstring)."""

    EMPLOYEE_ADDED = "employee.added"
    EMPLOYEE_CHANGED = "employee.changed"
    EMPLOYEE_REMOVED = "employee.removed"
    MODULE_RELEASED = "module.released"
    RETRAINING_REQUIRED = "training.retraining"
    ASSIGNED = "training.assigned"
    SUBMITTED = "training.submitted"
    GRADED = "training.graded"
    PASSED = "training.passed"
    FAILED = "training.failed"
    ATTESTED = "training.attested"
    WAIVED = "training.waived"
    GRADE_CHANGED = "training.grade-changed"
