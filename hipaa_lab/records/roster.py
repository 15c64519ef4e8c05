"""The staff roster: who must be trained, in which role, since when.

A roster is a CSV or XLSX file with the columns :data:`COLUMNS`, one employee a row.
:func:`read_roster` checks every row and reports every problem with its line number (a duplicate
id, an unknown role, a bad date, a missing field); one problem and nothing is imported.
:func:`import_roster` records what changed in the :class:`~hipaa_lab.ledger.Ledger`, in one
transaction: an employee added, a row changed (which fields, from what to what), an employee
no longer on the roster (removed, with their history kept). Importing the same roster again
records nothing. :func:`current_roster` replays the ledger: the roster as of its last import,
with the people removed since.

Examples
--------
>>> import tempfile, pathlib
>>> from hipaa_lab.ledger import Ledger
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "roster.csv").write_text(
...     "employee_id,name,email,role,department,hire_date,status\\n"
...     "E1001,Avery Quinlan,avery.quinlan@example.org,technologist,Radiology,2026-10-01,active\\n"
... )
>>> with Ledger(folder / "records.db") as log:
...     import_roster(log, read_roster(folder / "roster.csv")).added
...     import_roster(log, read_roster(folder / "roster.csv")).unchanged
1
1
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.errors import RosterError
from hipaa_lab.ledger import Entry, Ledger
from hipaa_lab.records.events import RecordKind

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

#: The roster's columns, in the order a template lists them (any order is read).
COLUMNS = ("employee_id", "name", "email", "role", "department", "hire_date", "status")


class Role(enum.Enum):
    """A workforce role; which modules it takes is the curricula's business."""

    TECHNOLOGIST = "technologist"
    RADIOLOGIST = "radiologist"
    REFERRING_PHYSICIAN = "referring_physician"
    FRONT_DESK = "front_desk"
    BILLING = "billing"
    PACS_ADMIN = "pacs_admin"
    RESEARCHER = "researcher"
    MANAGER = "manager"


class EmploymentStatus(enum.Enum):
    """Whether the employee works here now."""

    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Employee:
    """One roster row, checked. Workforce members, not patients: none of this is PHI, but it is
    personal data, kept in the ledger only as the roster gives it."""

    employee_id: str
    name: str
    email: str
    role: Role
    department: str
    hire_date: dt.date
    status: EmploymentStatus

    def to_json(self) -> dict[str, str]:
        """The row as the ledger keeps it: every field a string."""
        return {
            "department": self.department,
            "email": self.email,
            "employee_id": self.employee_id,
            "hire_date": self.hire_date.isoformat(),
            "name": self.name,
            "role": self.role.value,
            "status": self.status.value,
        }

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Employee:
        return cls(
            v["employee_id"],
            v["name"],
            v["email"],
            Role(v["role"]),
            v["department"],
            dt.date.fromisoformat(v["hire_date"]),
            EmploymentStatus(v["status"]),
        )


# --------------------------------------------------------------------------- reading

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV or XLSX roster; the header is line 1."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
        return
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise RosterError([(1, "the file is empty: expected a header row " + ",".join(COLUMNS))])
    names = [h.strip().lower() for h in header]
    _check_header(names)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if len(row) != len(names):
            yield line, {"__width__": f"{len(row)} fields, the header has {len(names)}"}
            continue
        yield line, {n: cell.strip() for n, cell in zip(names, row, strict=True)}


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise RosterError([(1, "the sheet is empty: expected a header row " + ",".join(COLUMNS))])
    names = [str(h or "").strip().lower() for h in header]
    _check_header(names)
    for line, row in enumerate(rows, start=2):
        cells = [_cell(v) for v in row]
        if not any(cells):
            continue
        yield line, dict(zip(names, cells, strict=False))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _check_header(names: list[str]) -> None:
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    if repeated:
        problems.append(f"columns named twice: {', '.join(repeated)}")
    if problems:
        raise RosterError([(1, "; ".join(problems) + f" (expected {', '.join(COLUMNS)})")])


def _employee(row: dict[str, str]) -> tuple[Employee | None, list[str]]:
    """The employee in ``row``, or the reasons it is not one."""
    if "__width__" in row:
        return None, [row["__width__"]]
    problems = [f"{c} is empty" for c in COLUMNS if not row.get(c)]
    if problems:
        return None, problems
    role = status = hired = None
    try:
        role = Role(row["role"].lower())
    except ValueError:
        problems.append(f"role {row['role']!r} is not one of: {', '.join(r.value for r in Role)}")
    try:
        status = EmploymentStatus(row["status"].lower())
    except ValueError:
        problems.append(f"status {row['status']!r} is not active or terminated")
    try:
        hired = dt.date.fromisoformat(row["hire_date"])
    except ValueError:
        problems.append(f"hire_date {row['hire_date']!r} is not a date (YYYY-MM-DD)")
    if not _EMAIL.fullmatch(row["email"]):
        problems.append(f"email {row['email']!r} is not an e-mail address")
    if problems or role is None or status is None or hired is None:
        return None, problems
    employee = Employee(
        row["employee_id"], row["name"], row["email"], role, row["department"], hired, status
    )
    return employee, []


def read_roster(path: str | os.PathLike[str]) -> list[Employee]:
    """Every employee of the roster at ``path`` (CSV, or XLSX's first sheet), checked.

    Raises
    ------
    RosterError
        Listing every problem with its line number (the header is line 1), when there is any:
        then no row is returned.
    FileNotFoundError
        When there is no such file.
    """
    employees: list[Employee] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for line, row in _rows(Path(path)):
        employee, why = _employee(row)
        problems += [(line, w) for w in why]
        if employee is None:
            continue
        if employee.employee_id in first_line:
            problems.append(
                (
                    line,
                    f"employee_id {employee.employee_id!r} is also on line "
                    f"{first_line[employee.employee_id]}",
                )
            )
            continue
        first_line[employee.employee_id] = line
        employees.append(employee)
    if problems:
        raise RosterError(problems)
    return employees


# --------------------------------------------------------------------------- the ledger


@dataclass
class ImportSummary:
    """What an import recorded: how many added, changed, removed and unchanged."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    entries: list[int] = field(default_factory=list)  # the ledger indexes written


_ROSTER_KINDS = (
    RecordKind.EMPLOYEE_ADDED,
    RecordKind.EMPLOYEE_CHANGED,
    RecordKind.EMPLOYEE_REMOVED,
)


def current_roster(ledger: Ledger) -> tuple[dict[str, Employee], dict[str, Employee]]:
    """The roster as the ledger has it: those on it, and those removed from it (their last row).

    Replays the roster entries in order; entries of other kinds are passed over.
    """
    return roster_in(ledger.entries())


def roster_in(entries: Iterable[Entry]) -> tuple[dict[str, Employee], dict[str, Employee]]:
    """:func:`current_roster` of entries already read."""
    on: dict[str, Employee] = {}
    removed: dict[str, Employee] = {}
    kinds = {k.value: k for k in _ROSTER_KINDS}
    for entry in entries:
        kind = kinds.get(entry.kind)
        if kind is None:
            continue
        employee = Employee.from_json(entry.body["employee"])
        if kind is RecordKind.EMPLOYEE_REMOVED:
            on.pop(employee.employee_id, None)
            removed[employee.employee_id] = employee
        else:
            on[employee.employee_id] = employee
            removed.pop(employee.employee_id, None)
    return on, removed


def import_roster(
    ledger: Ledger, employees: Iterable[Employee], *, source: str = ""
) -> ImportSummary:
    """Record in ``ledger`` how ``employees`` differs from the roster it holds: all or nothing.

    ``source`` (a file name, say) is kept with each entry. An employee not in ``employees`` is
    recorded as removed; their earlier entries stay, and a later import may add them back.
    Two imports at once never record the same change twice (:meth:`Ledger.append_planned`).
    """
    employees = list(employees)
    summaries: list[ImportSummary] = []

    def plan(entries: list[Entry]) -> list[tuple[str, dict[str, Any]]]:
        summary, items = _changes(roster_in(entries)[0], employees, source)
        summaries.append(summary)
        return items

    written = ledger.append_planned(plan)
    summary = summaries[-1]
    summary.entries = [entry.index for entry in written]
    return summary


def _changes(
    on: dict[str, Employee], employees: list[Employee], source: str
) -> tuple[ImportSummary, list[tuple[str, dict[str, Any]]]]:
    """What importing ``employees`` over the roster ``on`` records, and the count by change."""
    summary = ImportSummary()
    items: list[tuple[str, dict[str, Any]]] = []
    seen = set()
    for e in employees:
        seen.add(e.employee_id)
        before = on.get(e.employee_id)
        if before is None:
            items.append(
                (RecordKind.EMPLOYEE_ADDED.value, {"employee": e.to_json(), "source": source})
            )
            summary.added += 1
        elif before != e:
            old, new = before.to_json(), e.to_json()
            changes = {k: [old[k], new[k]] for k in new if old[k] != new[k]}
            items.append(
                (
                    RecordKind.EMPLOYEE_CHANGED.value,
                    {"changes": changes, "employee": new, "source": source},
                )
            )
            summary.changed += 1
        else:
            summary.unchanged += 1
    for employee_id in sorted(set(on) - seen):
        body = {"employee": on[employee_id].to_json(), "source": source}
        items.append((RecordKind.EMPLOYEE_REMOVED.value, body))
        summary.removed += 1
    return summary, items
