"""Training records an auditor accepts: roster, curricula, completion synced from the gradebook,
status derived as of a date, all kept in the tamper-evident :mod:`hipaa_lab.ledger`, and the
exports a manager hands an auditor (CSV, XLSX, xAPI, PDF certificates, dashboard plots).

Callers import the wing (``from hipaa_lab import records``), not its modules.
"""

from __future__ import annotations

from hipaa_lab.records.certificate import read_receipt, write_certificates
from hipaa_lab.records.curricula import Curricula, Policy, load_curricula
from hipaa_lab.records.dashboard import overdue_over_time, write_dashboard
from hipaa_lab.records.events import RecordKind
from hipaa_lab.records.export import (
    read_csv,
    read_xapi,
    read_xlsx,
    write_csv,
    write_xapi,
    write_xlsx,
    xapi_statements,
)
from hipaa_lab.records.roster import (
    COLUMNS,
    Employee,
    EmploymentStatus,
    ImportSummary,
    Role,
    RosterError,
    current_roster,
    import_roster,
    read_roster,
)
from hipaa_lab.records.status import (
    Standing,
    TrainingRecord,
    standings_over_time,
    training_status,
)
from hipaa_lab.records.sync import SyncSummary, module_version, sync

__all__ = [
    "COLUMNS",
    "Curricula",
    "Employee",
    "EmploymentStatus",
    "ImportSummary",
    "Policy",
    "RecordKind",
    "Role",
    "RosterError",
    "Standing",
    "SyncSummary",
    "TrainingRecord",
    "current_roster",
    "import_roster",
    "load_curricula",
    "module_version",
    "overdue_over_time",
    "read_csv",
    "read_receipt",
    "read_roster",
    "read_xapi",
    "read_xlsx",
    "standings_over_time",
    "sync",
    "training_status",
    "write_certificates",
    "write_csv",
    "write_dashboard",
    "write_xapi",
    "write_xlsx",
    "xapi_statements",
]
