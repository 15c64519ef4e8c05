"""One canonical record, many formats, the same meaning: the manager's exports.

Every export is written from the :class:`~hipaa_lab.records.status.TrainingRecord` list that
:func:`~hipaa_lab.records.status.training_status` derives from the ledger, and every file is
written whole: into a temporary file beside it, then renamed over it (``os.replace``), so a
killed export leaves the previous file or the new one, never half of either.

* :func:`write_csv`: one row per employee and module, the columns of :data:`EXPORT_COLUMNS`,
  UTF-8, quoted by the :mod:`csv` module; :func:`read_csv` reads it back.
* :func:`write_xlsx`: one sheet per view (all records, overdue, a summary by department and
  module), a frozen header row, dates stored as dates; :func:`read_xlsx` reads the records back.
* :func:`write_xapi`: xAPI 1.0.3 statements (:func:`xapi_statements`), one JSON list.

The PDF certificates are :mod:`hipaa_lab.records.certificate`'s, the plots
:mod:`hipaa_lab.records.dashboard`'s.

**Formula injection** (the OWASP CSV-injection rule): a text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return would be run as a formula by a spreadsheet; it is written
with a single quote before it (:func:`neutralise`). A cell that already starts with quotes and
then one of those characters gets one more quote, so :func:`restore`, which the readers apply,
undoes exactly what was added and nothing else.

Examples
--------
>>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("Ann"), neutralise("'=1")
('\\'=HYPERLINK("http://x")', 'Ann', "''=1")
>>> restore(neutralise("'=1")), restore("'Connor")
("'=1", "'Connor")
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import operator
import os
import re
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.records.status import Standing, TrainingRecord, paused_gc

if TYPE_CHECKING:
    from hipaa_lab.ledger import Ledger
    from hipaa_lab.records.curricula import Curricula

__all__ = [
    "DASHBOARD_WEEKS",
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "Selection",
    "XAPI_BASE",
    "XAPI_VERBS",
    "neutralise",
    "read_csv",
    "read_xapi",
    "read_xlsx",
    "restore",
    "write_csv",
    "write_export",
    "write_whole",
    "write_xapi",
    "write_xlsx",
    "xapi_statements",
]

#: Each export column, in order, and the :class:`TrainingRecord` attribute it holds.
_COLUMN_ATTRIBUTES = (
    ("employee_id", "employee_id"),
    ("name", "name"),
    ("email", "email"),
    ("department", "department"),
    ("role", "role"),
    ("module", "module"),
    ("module_version", "module_version"),
    ("status", "status"),
    ("score", "score"),
    ("passed_date", "passed_on"),
    ("due_date", "due_on"),
    ("attested", "attested"),
    ("waived", "waived"),
    ("ledger_entry", "entry_index"),
    ("ledger_hash", "entry_hash"),
)
#: The columns of the CSV and of the XLSX "Records" sheet, in order, as an LMS or HR import
#: expects them (snake_case headers: ``employee_id``, ``name``, ``email``, ``department``,
#: ``role``, ``module``, ``module_version``, ``status``, ``score``, ``passed_date``, ``due_date``,
#: ``attested``, ``waived``, ``ledger_entry``, ``ledger_hash``); ``ledger_entry`` and
#: ``ledger_hash`` name the ledger entry of the pass (its 0-based index and SHA-256), which a
#: certificate's receipt proves.
EXPORT_COLUMNS = tuple(column for column, _ in _COLUMN_ATTRIBUTES)
_ATTRIBUTES = operator.attrgetter(*(attribute for _, attribute in _COLUMN_ATTRIBUTES))

_TRIGGERS = "=+-@\t\r"
_NEUTRALISED = re.compile(r"'*[=+\-@\t\r]")
_FIRST = frozenset(_TRIGGERS + "'")  # a cell that may need neutralising starts with one of these
_YES, _NO = "yes", "no"


def neutralise(cell: str) -> str:
    """``cell`` with a single quote before it when a spreadsheet would read it as a formula.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after any quotes)
    gets one more leading quote; any other cell is returned as it is. :func:`restore` undoes it.
    """
    if cell[:1] not in _FIRST:  # the common case, decided without the pattern
        return cell
    return "'" + cell if _NEUTRALISED.match(cell) else cell


def restore(cell: str) -> str:
    """Undo :func:`neutralise`: drop the one quote it put before a formula-like cell."""
    return cell[1:] if cell.startswith("'") and _NEUTRALISED.match(cell, 1) else cell


# --------------------------------------------------------------------------- writing whole


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def write_whole(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Have ``write`` write a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is flushed to disk before the rename, and the rename after, so ``path`` is
    always either the old file or the whole new one, even when the process is killed
    (``kill -9``) or the machine stops. The temporary file's name starts with a dot and carries
    the writer's process id; one left by a writer that no longer runs (a killed export of the
    same ``path``) is removed first, and one of a writer still at work is left alone.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    for stale in path.parent.glob(f"{prefix}*.tmp"):
        pid = stale.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()
    fd, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself on disk
    finally:
        os.close(folder)
    return path


# --------------------------------------------------------------------------- rows


def _row(r: TrainingRecord) -> dict[str, Any]:
    """The record as export cells: text, numbers, dates and booleans, before any format."""
    cells = dict(zip(EXPORT_COLUMNS, _ATTRIBUTES(r), strict=True))
    cells["status"] = r.status.value
    return cells


def _text(value: Any) -> str:
    """A cell as CSV text: empty for none, ISO dates, yes/no, numbers as Python prints them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _YES if value else _NO
    if isinstance(value, dt.date):
        return value.isoformat()
    return neutralise(str(value))


def _record(cells: dict[str, Any], where: str, *, restored: bool = False) -> TrainingRecord:
    """The record whose export cells are ``cells`` (text or typed), for the readers;
    ``restored``: the text cells are already :func:`restore`'d."""

    def text(key: str) -> str:
        v = cells.get(key)
        if v is None:
            return ""
        return str(v) if restored else restore(str(v))

    def day(key: str) -> dt.date | None:
        v = cells.get(key)
        if v in (None, ""):
            return None
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        return dt.date.fromisoformat(str(v))

    def number(key: str) -> float | None:
        v = cells.get(key)
        return None if v in (None, "") else float(v)

    attested = cells.get("attested")
    if isinstance(attested, str):
        if attested not in (_YES, _NO):
            raise ValueError(f"{where}: attested is {attested!r}; expected yes or no")
        attested = attested == _YES
    entry = cells.get("ledger_entry")
    try:
        return TrainingRecord(
            employee_id=text("employee_id"),
            name=text("name"),
            email=text("email"),
            department=text("department"),
            role=text("role"),
            module=text("module"),
            module_version=text("module_version"),
            status=Standing(text("status")),
            score=number("score"),
            passed_on=day("passed_date"),
            due_on=day("due_date"),
            attested=bool(attested),
            waived=text("waived"),
            entry_index=None if entry in (None, "") else int(entry),
            entry_hash=text("ledger_hash"),
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- CSV


#: Each standing's cell text (an Enum's ``.value`` costs a descriptor call a row).
_STATUS_TEXT = {s: neutralise(s.value) for s in Standing}


def _neutralised(cells: list[str]) -> list[str]:
    """``[neutralise(c) for c in cells]``, decided for the whole column at once by the cells'
    first characters: a column where none starts as a formula may (the common case) is returned
    as it is."""
    if _FIRST.isdisjoint({c[:1] for c in cells}):
        return cells
    return [neutralise(c) for c in cells]


def _optional(
    values: Iterable[Any], text: Callable[[Any], str], *, repeated: bool = True
) -> list[str]:
    """Each value's text, ``""`` for ``None``; equal values are converted once when
    ``repeated`` (dates, scores), each on its own when they are mostly distinct (entry
    indexes: there the look-up costs more than it saves)."""
    if not repeated:
        return ["" if v is None else text(v) for v in values]
    seen: dict[tuple[type, Any], str] = {}  # by type too: 90 and 90.0 are written apart
    out = []
    for v in values:
        key = (type(v), v)
        cell = seen.get(key)
        if cell is None:
            cell = seen[key] = "" if v is None else text(v)
        out.append(cell)
    return out


#: A character for which the csv module's minimal quoting quotes a cell.
_QUOTE_NEEDED = re.compile(r'[,"\r\n]')
_QUOTE_SPECIALS = (",", '"', "\r", "\n")


def _quoted(cells: list[str]) -> list[str]:
    """``cells`` as ``csv.writer(quoting=QUOTE_MINIMAL)`` writes them in a row of several:
    quoted, quotes doubled, when holding a comma, a quote or a line break; decided for the whole
    column at once first."""
    whole = "".join(cells)  # four substring searches run faster than one character class
    if not any(special in whole for special in _QUOTE_SPECIALS):
        return cells
    return ['"' + c.replace('"', '""') + '"' if _QUOTE_NEEDED.search(c) else c for c in cells]


def _csv_rows(records: Sequence[TrainingRecord]) -> Iterator[tuple[str, ...]]:
    """:func:`_row`'s cells as :func:`_text` writes them, one tuple a row."""
    return zip(*_csv_columns(records), strict=True)


#: How :func:`_csv_columns` writes a column's values; any other column: as text, neutralised.
_CSV_CELLS: dict[str, Callable[[list[Any]], list[str]]] = {
    "status": lambda values: [_STATUS_TEXT[s] for s in values],
    "score": lambda values: _neutralised(_optional(values, str)),
    "passed_date": lambda values: _optional(values, dt.date.isoformat),
    "due_date": lambda values: _optional(values, dt.date.isoformat),
    "attested": lambda values: [_YES if a else _NO for a in values],
    "ledger_entry": lambda values: _neutralised(_optional(values, str, repeated=False)),
}


def _csv_columns(records: Sequence[TrainingRecord]) -> list[list[str]]:
    """:func:`_row`'s cells as :func:`_text` writes them, built a column at a time (the
    export's hot loop: a row of 15 cells at a time cost three times pandas' whole export)."""
    return [
        _CSV_CELLS.get(column, _neutralised)([getattr(r, attribute) for r in records])
        for column, attribute in _COLUMN_ATTRIBUTES
    ]


def write_csv(records: Iterable[TrainingRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` as CSV: a header of :data:`EXPORT_COLUMNS`, then one row per record.

    UTF-8 without a byte-order mark, CRLF line ends (RFC 4180), fields quoted where needed by the
    :mod:`csv` module (a comma, a quote or a line break in a name stays in its cell), formula-like
    cells neutralised (:func:`neutralise`); an empty cell is a missing value, booleans are
    ``yes``/``no``, dates ISO 8601 and the score a percentage.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, quoting=csv.QUOTE_MINIMAL).writerow(EXPORT_COLUMNS)
            if columns and columns[0]:  # rows as csv.writer writes them, joined in C
                f.write("\r\n".join(map(",".join, zip(*map(_quoted, columns), strict=True))))
                f.write("\r\n")

    with paused_gc():  # millions of short strings, no cycles
        columns = _csv_columns(list(records))
        return write_whole(path, write)


def read_csv(path: str | os.PathLike[str]) -> list[TrainingRecord]:
    """The records of a CSV export (:func:`write_csv`), neutralised cells restored.

    Raises
    ------
    ValueError
        When the header is not :data:`EXPORT_COLUMNS` or a cell is not what it should be; the
        message names the line.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != EXPORT_COLUMNS:
            raise ValueError(
                f"{path}: the header is {reader.fieldnames}; expected {list(EXPORT_COLUMNS)}"
            )
        return [_record(row, f"{path} line {reader.line_num}") for row in reader]


# --------------------------------------------------------------------------- XLSX

_OOXML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _xlsx_text(cell: str) -> str:
    """``cell`` neutralised, then escaped as OOXML escapes text (ECMA-376 ST_Xstring): a control
    character other than tab and line feed as ``_xHHHH_`` (XML cannot hold most of them, and
    reads a carriage return back as a line feed), and the underscore of a literal ``_xHHHH_`` as
    ``_x005F_``, so Excel and :func:`read_xlsx` read back the very text."""
    cell = _OOXML_ESCAPED.sub(lambda m: "_x005F" + m.group(0), neutralise(cell))
    return _XML_UNSAFE.sub(lambda m: f"_x{ord(m.group(0)):04X}_", cell)


def _xlsx_read_text(cell: str) -> str:
    """Undo :func:`_xlsx_text`."""
    return restore(_OOXML_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), cell))


_SUMMARY_COLUMNS = ("department", "module", *(s.value for s in Standing), "total", "current %")
_DATE_FORMAT = "yyyy-mm-dd"


def _summary(records: Sequence[TrainingRecord]) -> list[list[Any]]:
    """Counts by department and module of each standing, and the share current."""
    counts: dict[tuple[str, str], Counter[Standing]] = {}
    for r in records:
        counts.setdefault((r.department, r.module), Counter())[r.status] += 1
    out: list[list[Any]] = []
    for (department, module), c in sorted(counts.items()):
        total = sum(c.values())
        current = round(100.0 * c[Standing.CURRENT] / total, 1)
        out.append([department, module, *(c[s] for s in Standing), total, current])
    return out


def write_xlsx(records: Sequence[TrainingRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` as an XLSX workbook, one sheet per view.

    Sheets: ``Records`` (every record, the columns of :data:`EXPORT_COLUMNS`), ``Overdue`` (the
    overdue ones, the same columns), ``By department`` (for each department and module, how many
    stand where, and the share current). Each has a frozen, bold header row and an auto-filter;
    dates are stored as dates (``yyyy-mm-dd``), scores as numbers, ``attested`` as a boolean;
    text that a spreadsheet would take for a formula is neutralised as in the CSV, and control
    characters in text (a carriage return, say) are escaped as OOXML escapes them (``_x000D_``,
    which Excel shows as the character), since XML itself cannot hold them.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)  # streamed: several times faster for a large workforce
    bold = Font(bold=True)

    def sheet(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        ws = wb.create_sheet(title)
        ws.freeze_panes = "A2"
        last = get_column_letter(len(header))
        ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
        for i, name in enumerate(header, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(name) + 4))

        def cell(value: Any) -> Any:
            if isinstance(value, str):
                return _xlsx_text(value)
            if isinstance(value, dt.date):
                c = WriteOnlyCell(ws, value)
                c.number_format = _DATE_FORMAT
                return c
            return value

        heading = []
        for name in header:
            c = WriteOnlyCell(ws, name)
            c.font = bold
            heading.append(c)
        ws.append(heading)
        for row in rows:
            ws.append([cell(v) for v in row])

    table = [list(_row(r).values()) for r in records]
    overdue = [row for r, row in zip(records, table, strict=True) if r.status is Standing.OVERDUE]
    sheet("Records", EXPORT_COLUMNS, table)
    sheet("Overdue", EXPORT_COLUMNS, overdue)
    sheet("By department", _SUMMARY_COLUMNS, _summary(records))
    return write_whole(path, lambda tmp: wb.save(tmp))


def read_xlsx(path: str | os.PathLike[str], sheet: str = "Records") -> list[TrainingRecord]:
    """The records on ``sheet`` (``Records`` or ``Overdue``) of an XLSX export.

    Raises
    ------
    ValueError
        When the sheet's header is not :data:`EXPORT_COLUMNS` or a cell is not what it should be.
    """
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        rows = wb[sheet].iter_rows(values_only=True)
        header = next(rows, ())
        if tuple(header) != EXPORT_COLUMNS:
            raise ValueError(
                f"{path} [{sheet}]: the header is {list(header)}; expected {list(EXPORT_COLUMNS)}"
            )
        return [
            _record(
                {
                    k: _xlsx_read_text(v) if isinstance(v, str) else v
                    for k, v in zip(EXPORT_COLUMNS, row, strict=True)
                },
                f"{path} [{sheet}] row {i}",
                restored=True,
            )
            for i, row in enumerate(rows, start=2)
        ]
    finally:
        wb.close()


# --------------------------------------------------------------------------- xAPI 1.0.3

#: The base of the IRIs this kit defines: activities (one per module) and context extensions.
XAPI_BASE = "https://hipaa-lab.example/xapi"
#: The ADL verbs the statements use.
XAPI_VERBS = {
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "passed": "http://adlnet.gov/expapi/verbs/passed",
    "failed": "http://adlnet.gov/expapi/verbs/failed",
}
_EXT_VERSION = f"{XAPI_BASE}/ext/module-version"
_EXT_HASH = f"{XAPI_BASE}/ext/ledger-entry-hash"
_EXT_INDEX = f"{XAPI_BASE}/ext/ledger-entry-index"
_EXT_DEPARTMENT = f"{XAPI_BASE}/ext/department"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, XAPI_BASE)


def _activity(module: str, title: str) -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": f"{XAPI_BASE}/activities/module/{module}",
        "definition": {
            "name": {"en-US": title},
            "type": "http://adlnet.gov/expapi/activities/module",
        },
    }


def xapi_statements(
    records: Iterable[TrainingRecord], *, titles: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """xAPI 1.0.3 statements of the records that have a graded result.

    Each record with a score (a graded submission on file) gives two statements, both carrying
    its result: ``completed`` (the learner finished and submitted the module) and its verdict,
    ``passed`` when the record has a pass on file, else ``failed``. A record that was never graded
    (never trained, or waived) gives none: xAPI records learning experiences, and a waiver is not
    one (the CSV and XLSX carry it).

    * ``actor``: the employee, by ``mbox`` (``mailto:`` their email) when there is one, else by an
      ``account`` on :data:`XAPI_BASE` named by the employee id;
    * ``object``: the module as an Activity, ``{XAPI_BASE}/activities/module/{module}``;
    * ``result.score``: ``raw`` the percentage, ``min`` 0, ``max`` 100, ``scaled`` raw / 100;
      ``success`` the verdict; ``completion`` true;
    * ``timestamp``: the day of the pass (of the last grade for a failure), at 00:00 UTC;
    * ``context.extensions``: the module version and the department, and for a pass the ledger
      entry's index and hash (``{XAPI_BASE}/ext/...``);
    * ``id``: a UUID derived from the record, so exporting again gives the same statements (an
      LRS ignores a statement id it already holds).

    ``titles``: module titles for the activity names (default: the module ids).
    """
    titles = titles or {}
    out: list[dict[str, Any]] = []
    for r in records:
        if r.score is None:
            continue
        passed = r.passed_on is not None
        day = r.passed_on if passed else r.graded_on
        if day is None:
            raise ValueError(f"{r.employee_id} {r.module}: a graded record with no date")
        if r.email:
            actor: dict[str, Any] = {"objectType": "Agent", "mbox": f"mailto:{r.email}"}
        else:
            actor = {
                "objectType": "Agent",
                "account": {"homePage": XAPI_BASE, "name": r.employee_id},
            }
        if r.name:
            actor["name"] = r.name
        extensions: dict[str, Any] = {_EXT_VERSION: r.module_version, _EXT_DEPARTMENT: r.department}
        if passed and r.entry_hash:
            extensions[_EXT_HASH] = r.entry_hash
            extensions[_EXT_INDEX] = r.entry_index
        result = {
            "score": {"scaled": round(r.score / 100.0, 4), "raw": r.score, "min": 0, "max": 100},
            "success": passed,
            "completion": True,
        }
        for verb in ("completed", "passed" if passed else "failed"):
            key = f"{r.employee_id}|{r.module}|{r.module_version}|{day}|{r.entry_hash}|{verb}"
            out.append(
                {
                    "id": str(uuid.uuid5(_NAMESPACE, key)),
                    "actor": actor,
                    "verb": {"id": XAPI_VERBS[verb], "display": {"en-US": verb}},
                    "object": _activity(r.module, titles.get(r.module, r.module)),
                    "result": result,
                    "context": {"platform": "hipaa-lab", "extensions": extensions},
                    "timestamp": f"{day.isoformat()}T00:00:00Z",
                    "version": "1.0.3",
                }
            )
    return out


def write_xapi(
    records: Iterable[TrainingRecord],
    path: str | os.PathLike[str],
    *,
    titles: dict[str, str] | None = None,
) -> Path:
    """Write :func:`xapi_statements` of ``records`` to ``path``: one JSON list, UTF-8, a
    statement a line."""
    statements = xapi_statements(records, titles=titles)
    # a statement a line; json's C encoder (an indent would take the pure-Python one)
    lines = ",\n".join(json.dumps(s, ensure_ascii=False) for s in statements)

    def write(tmp: Path) -> None:
        tmp.write_text(f"[\n{lines}\n]\n" if statements else "[]\n", encoding="utf-8")

    return write_whole(path, write)


def read_xapi(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The verdict (``passed`` / ``failed``) of each statement in an xAPI export, as a dict:
    ``actor`` (the mbox or account name), ``module``, ``verb``, ``score`` (raw), ``success``,
    ``day``, ``module_version``, ``entry_hash``: what the other formats say of the same record."""
    statements = json.loads(Path(path).read_text(encoding="utf-8"))
    prefix = f"{XAPI_BASE}/activities/module/"
    verbs = {v: k for k, v in XAPI_VERBS.items()}
    return [
        {
            "actor": s["actor"].get("mbox") or s["actor"]["account"]["name"],
            "module": s["object"]["id"].removeprefix(prefix),
            "verb": verbs[s["verb"]["id"]],
            "score": s["result"]["score"]["raw"],
            "success": s["result"]["success"],
            "day": dt.date.fromisoformat(s["timestamp"][:10]),
            "module_version": s["context"]["extensions"][_EXT_VERSION],
            "entry_hash": s["context"]["extensions"].get(_EXT_HASH, ""),
        }
        for s in _statements(statements)
        if verbs[s["verb"]["id"]] != "completed"
    ]


def _statements(value: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError("an xAPI export is a JSON list of statements")
    yield from value


# --------------------------------------------------------------------------- all formats


@dataclass(frozen=True)
class Selection:
    """Which records an export covers: what a manager or an auditor asks for, not everyone.

    Each part left empty selects everything; the parts together select what all of them do.
    ``employees``, ``modules`` and ``departments``: any of those given; ``since``: a pass on or
    after that day (a record with no pass has none, so it is left out).

    Examples
    --------
    >>> Selection(modules=frozenset({"m01-phi-in-images"}), departments=frozenset({"X"})).describe()
    'module m01-phi-in-images, department X'
    >>> bool(Selection())
    False
    """

    employees: frozenset[str] = frozenset()
    modules: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    since: dt.date | None = None

    def __bool__(self) -> bool:
        """Whether it selects anything less than everyone."""
        return bool(self.employees or self.modules or self.departments or self.since)

    def select(self, records: Iterable[TrainingRecord]) -> list[TrainingRecord]:
        """The records selected, in their order."""
        return [r for r in records if self.covers(r)]

    def covers(self, r: TrainingRecord) -> bool:
        """Whether ``r`` is selected."""
        return (
            (not self.employees or r.employee_id in self.employees)
            and (not self.modules or r.module in self.modules)
            and (not self.departments or r.department in self.departments)
            and (self.since is None or (r.passed_on is not None and r.passed_on >= self.since))
        )

    def describe(self) -> str:
        """The selection in words, for a message."""
        parts = [
            f"{name} {', '.join(sorted(values))}"
            for name, values in (
                ("employee", self.employees),
                ("module", self.modules),
                ("department", self.departments),
            )
            if values
        ]
        if self.since is not None:
            parts.append(f"passed on or after {self.since.isoformat()}")
        return ", ".join(parts) or "everyone"


#: The formats of ``hipaa-lab records export --format``.
EXPORT_FORMATS = ("csv", "xlsx", "xapi", "pdf", "dashboard")
DASHBOARD_WEEKS = 26  #: how far back the overdue plot goes, in weeks


def write_export(
    fmt: str,
    ledger: Ledger,
    curricula: Curricula,
    out: str | os.PathLike[str],
    *,
    as_of: dt.date,
    records: Sequence[TrainingRecord] | None = None,
    selection: Selection | None = None,
    progress: bool = False,
) -> tuple[list[Path], int]:
    """Write the records of ``ledger`` as of ``as_of`` in format ``fmt`` into ``out``.

    ``records``: the ledger's records as of ``as_of``
    (:func:`hipaa_lab.records.status.training_status`), when the caller has them already (one
    computation for several formats); else they are computed here. ``selection``: only these
    records (every format but the dashboard, which plots the whole workforce). ``progress``: a
    progress bar on standard error while the certificates are written.

    ``csv``: ``training-records.csv``; ``xlsx``: ``training-records.xlsx``; ``xapi``:
    ``xapi-statements.json``; ``pdf``: a certificate per pass
    (:func:`hipaa_lab.records.certificate.write_certificates`) against a checkpoint made now,
    written beside them as ``checkpoint.json`` with the public key ``ledger.pub``, so an auditor
    can run ``hipaa-lab records verify-receipt CERT.pdf --public-key ledger.pub``;
    ``dashboard``: the plots of :mod:`hipaa_lab.records.dashboard`, overdue weekly over the
    :data:`DASHBOARD_WEEKS` weeks up to ``as_of``.

    Returns
    -------
    tuple[list[Path], int]
        The files written, and how many records they were written from.

    Raises
    ------
    ValueError
        For a format not in :data:`EXPORT_FORMATS`, or a selection for the dashboard.
    """
    from hipaa_lab.records import certificate, dashboard
    from hipaa_lab.records.status import training_status

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {EXPORT_FORMATS}")
    if selection and fmt == "dashboard":
        raise ValueError(
            f"the dashboard plots the whole workforce; a selection ({selection.describe()}) "
            "applies to csv, xlsx, xapi and pdf"
        )
    out = Path(out)
    if records is None:
        records = training_status(ledger, curricula, as_of)
    if selection:
        records = selection.select(records)
    if fmt == "csv":
        written = [write_csv(records, out / "training-records.csv")]
    elif fmt == "xlsx":
        written = [write_xlsx(records, out / "training-records.xlsx")]
    elif fmt == "xapi":
        written = [write_xapi(records, out / "xapi-statements.json", titles=curricula.titles)]
    elif fmt == "pdf":
        cp = ledger.checkpoint()
        written = certificate.write_certificates(
            records, ledger, cp, out, titles=curricula.titles, progress=progress
        )
        text = cp.to_json() + "\n"
        written.append(write_whole(out / "checkpoint.json", lambda tmp: tmp.write_text(text)))
        written.append(write_whole(out / "ledger.pub", ledger.export_public_key))
    else:
        days = [as_of - dt.timedelta(weeks=w) for w in range(DASHBOARD_WEEKS, -1, -1)]
        overdue = dashboard.overdue_over_time(ledger, curricula, days)
        written = dashboard.write_dashboard(records, overdue, out, as_of=as_of)
    return written, len(records)
