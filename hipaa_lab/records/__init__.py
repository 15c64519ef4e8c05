"""Training records an auditor accepts: the staff roster, kept in the tamper-evident ledger.

Callers import the wing (``from hipaa_lab import records``), not its modules.
"""

from __future__ import annotations

from hipaa_lab.records.roster import (
    COLUMNS,
    Employee,
    EmploymentStatus,
    ImportSummary,
    RecordKind,
    Role,
    RosterError,
    current_roster,
    import_roster,
    read_roster,
)

__all__ = [
    "COLUMNS",
    "Employee",
    "EmploymentStatus",
    "ImportSummary",
    "RecordKind",
    "Role",
    "RosterError",
    "current_roster",
    "import_roster",
    "read_roster",
]
