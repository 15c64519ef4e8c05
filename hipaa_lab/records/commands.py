"""``hipaa-lab records ...``: the roster and the ledger from the command line.

Exit status: 0 done (or intact), 1 a bad roster or a log that fails verification, 2 a usage error.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hipaa_lab.errors import UsageError

if TYPE_CHECKING:
    from hipaa_lab import ledger as lg
    from hipaa_lab.ledger import Ledger
    from hipaa_lab.records.curricula import Curricula
    from hipaa_lab.records.export import Selection
    from hipaa_lab.records.status import TrainingRecord

__all__ = ["add_parser", "main"]

DEFAULT_DB = "sqlite:///records.db"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``records`` subcommand and its actions."""
    p = sub.add_parser("records", help="the staff roster and the tamper-evident training ledger")
    rsub = p.add_subparsers(dest="action", required=True)

    def ledger_arg(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--db",
            default=None,
            metavar="URL",
            help="the ledger database: a SQLAlchemy URL, sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB; a URL with a password as @FILE or in "
            "HIPAA_LAB_DATABASE_URL (default: sqlite:///records.db)",
        )
        a.add_argument(
            "--key-file",
            type=Path,
            default=None,
            help="the signing key, created (mode 600) on first use, outside the database "
            "(default: beside a SQLite file, FILE.signing-key; else ./records.signing-key)",
        )

    a = rsub.add_parser("import-roster", help="record a roster (CSV or XLSX): all rows or none")
    a.add_argument("file", type=Path, metavar="FILE")
    ledger_arg(a)

    a = rsub.add_parser("checkpoint", help="sign the ledger as it is now; save the checkpoint")
    a.add_argument("--out", type=Path, required=True, help="checkpoint file (JSON) to write")
    a.add_argument("--public-key", type=Path, default=None, help="also write the public key (PEM)")
    ledger_arg(a)

    a = rsub.add_parser("verify", help="check the ledger entry by entry (exit 1 when it fails)")
    a.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint saved earlier")
    a.add_argument(
        "--public-key", type=Path, default=None, help="check the checkpoint with this key (PEM)"
    )
    ledger_arg(a)

    a = rsub.add_parser("receipt", help="write the proof that one entry is in a checkpoint")
    a.add_argument("index", type=int, metavar="INDEX", help="the entry, 0-based")
    a.add_argument("--checkpoint", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    ledger_arg(a)

    def curricula_arg(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--curricula",
            type=Path,
            default=None,
            help="modules by role and the training policy (TOML; default: the shipped "
            "hipaa_lab/data/curricula.toml)",
        )

    def as_of_arg(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--as-of", type=_date, default=None, metavar="YYYY-MM-DD", help="default: today"
        )

    a = rsub.add_parser("sync", help="record what the course's gradebook holds that is new")
    a.add_argument("--course-dir", type=Path, default=Path("course"))
    a.add_argument(
        "--prefix",
        default=None,
        help="the hub's account names' prefix, as given to `hub start --prefix` (default hl-)",
    )
    curricula_arg(a)
    as_of_arg(a)
    ledger_arg(a)

    a = rsub.add_parser("status", help="where each employee stands on each module they must take")
    a.add_argument("--overdue", action="store_true", help="only the overdue")
    a.add_argument("--format", choices=["table", "csv"], default="table")
    curricula_arg(a)
    as_of_arg(a)
    ledger_arg(a)

    a = rsub.add_parser(
        "mark-material",
        help="record a material change to a module: those who passed it retake it",
    )
    a.add_argument("module", metavar="MODULE")
    a.add_argument("--reason", required=True, help="what changed (kept in the ledger)")
    a.add_argument("--by", required=True, help="who decided (kept in the ledger)")
    curricula_arg(a)
    as_of_arg(a)
    ledger_arg(a)

    a = rsub.add_parser("waive", help="record that an employee need not take a module, and why")
    a.add_argument("employee_id", metavar="EMPLOYEE_ID")
    a.add_argument("module", metavar="MODULE")
    a.add_argument("--reason", required=True)
    a.add_argument("--by", required=True)
    curricula_arg(a)
    as_of_arg(a)
    ledger_arg(a)

    a = rsub.add_parser("verify-receipt", help="check a receipt with the public key alone")
    a.add_argument(
        "receipt",
        type=Path,
        metavar="FILE",
        help="a receipt (JSON) or a certificate (PDF) with its receipt attached",
    )
    a.add_argument(
        "--public-key",
        type=Path,
        default=None,
        help="the ledger's public key (PEM; default: that of the --db ledger's signing key)",
    )
    ledger_arg(a)

    a = rsub.add_parser(
        "export", help="write the training records as CSV, XLSX, xAPI, PDF certificates or plots"
    )
    a.add_argument(
        "--format",
        required=True,
        choices=("csv", "xlsx", "xapi", "pdf", "dashboard"),
        help="what to write",
    )
    a.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into")
    a.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="judge status as of this day (default: today)",
    )
    a.add_argument(
        "--curricula",
        type=Path,
        default=None,
        metavar="FILE",
        help="the curricula file (default: the shipped one)",
    )
    a.add_argument(
        "--employee",
        action="append",
        default=[],
        metavar="ID",
        help="only this employee (repeat for several; not for the dashboard)",
    )
    a.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="NAME",
        help="only this module (repeat for several; not for the dashboard)",
    )
    a.add_argument(
        "--department",
        action="append",
        default=[],
        metavar="NAME",
        help="only this department (repeat for several; not for the dashboard)",
    )
    a.add_argument(
        "--since",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="only records with a pass on or after this day (not for the dashboard)",
    )
    ledger_arg(a)
    p.set_defaults(func=main)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


#: Certificates past which an export of every pass says how to select fewer.
MANY_CERTIFICATES = 1000


def _export(ledger: Ledger, args: argparse.Namespace) -> int:
    """``records export``: write the chosen format into ``--out``; print each file's path.

    For the PDF, say first how many certificates it will write (one a pass), with a progress
    bar while it does when standard error is a terminal, and how to select fewer when they
    are many and nothing was selected."""
    from hipaa_lab.records.curricula import load_curricula
    from hipaa_lab.records.export import Selection, write_export
    from hipaa_lab.records.status import training_status

    as_of = args.as_of or dt.date.today()
    curricula = load_curricula(args.curricula)
    selection = Selection(
        frozenset(args.employee),
        frozenset(args.module),
        frozenset(args.department),
        args.since,
    )
    if selection and args.format == "dashboard":
        raise UsageError(
            "the dashboard plots the whole workforce; --employee, --module, --department and "
            "--since apply to --format csv, xlsx, xapi and pdf"
        )
    records = training_status(ledger, curricula, as_of)
    _check_selection(selection, records, ledger, curricula)
    selected = selection.select(records) if selection else records
    if args.format == "pdf":
        passes = sum(r.passed_on is not None for r in selected)
        of = f" ({selection.describe()})" if selection else ""
        print(f"pdf: {passes} certificates to write, one a pass{of}", file=sys.stderr)
        if not selection and passes > MANY_CERTIFICATES:
            print(
                "  every pass of everyone; select fewer with --employee, --module, "
                "--department or --since",
                file=sys.stderr,
            )
    written, count = write_export(
        args.format,
        ledger,
        curricula,
        args.out,
        as_of=as_of,
        records=selected,
        progress=args.format == "pdf" and sys.stderr.isatty(),
    )
    for path in written:
        print(path)
    print(f"{args.format}: {len(written)} files in {args.out} ({count} records as of {as_of})")
    return 0


def _check_selection(
    selection: Selection, records: list[TrainingRecord], ledger: Ledger, curricula: Curricula
) -> None:
    """Refuse a selection that names what there is not: an employee never on the roster, a
    module no curriculum has, a department no active employee is in (a typo would otherwise
    export nothing, silently). An employee on the roster with no records (terminated, or
    removed) is named on standard error.

    Raises
    ------
    UsageError
        Naming what is unknown, and what is known.
    """
    modules = set(curricula.modules())
    unknown = sorted(selection.modules - modules)
    if unknown:
        raise UsageError(
            f"no module {', '.join(map(repr, unknown))} in the curricula; "
            f"the modules are {', '.join(sorted(modules))}"
        )
    departments = {r.department for r in records}
    unknown = sorted(selection.departments - departments)
    if unknown:
        raise UsageError(
            f"no department {', '.join(map(repr, unknown))} on the roster; "
            f"the departments are {', '.join(sorted(departments)) or 'none'}"
        )
    missing = selection.employees - {r.employee_id for r in records}
    if missing:
        from hipaa_lab.records.roster import current_roster

        on, removed = current_roster(ledger)
        unknown = sorted(missing - set(on) - set(removed))
        if unknown:
            raise UsageError(f"no employee {', '.join(map(repr, unknown))} on the roster")
        for employee_id in sorted(missing):
            print(
                f"employee {employee_id!r}: not active on the roster, no records",
                file=sys.stderr,
            )


def _read_receipt(path: Path) -> lg.Receipt:
    """The receipt in ``path``: a receipt's JSON, or a certificate (PDF) with one attached.

    Raises
    ------
    ValueError
        When ``path`` is neither; the message says what was expected.
    """
    from hipaa_lab import ledger as lg
    from hipaa_lab.records.certificate import read_receipt

    data = path.read_bytes()
    if data.startswith(b"%PDF-"):
        return read_receipt(path)
    try:
        return lg.Receipt.from_json(data.decode("utf-8"))
    except ValueError as exc:
        raise ValueError(
            f"{path}: {exc}; expected a receipt (JSON, from 'records receipt') or a "
            "certificate (PDF, from 'records export --format pdf')"
        ) from None


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (a temporary file renamed), never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)


def _open(args: argparse.Namespace, *, create: bool = False) -> Ledger:
    """The ledger of ``--db``; a SQLite file that is not there is a usage error unless ``create``
    (a mistyped path must not start an empty ledger that then verifies)."""
    from hipaa_lab.ledger import Ledger, database_url
    from hipaa_lab.postgres import url_argument

    url = database_url(url_argument(args.db) or DEFAULT_DB)
    if url.startswith("sqlite:///") and not create:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise UsageError(f"no ledger at {path} (import a roster first, or pass --db URL)")
    return Ledger(url, key_file=args.key_file)


def main(args: argparse.Namespace) -> int:
    from hipaa_lab import ledger as lg
    from hipaa_lab.records import roster

    action = args.action
    if action == "verify-receipt":
        try:
            receipt = _read_receipt(args.receipt)
            if args.public_key:
                key = lg.load_public_key(args.public_key)
            else:
                with _open(args) as ledger:
                    key = ledger.public_key()
        except (OSError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        ok = receipt.verify(key)
        entry = lg.Entry.from_data(receipt.entry) if ok else None
        if entry is not None:
            print(
                f"receipt verifies: entry {entry.index} ({entry.kind}, {entry.time}) is in the "
                f"log of {receipt.checkpoint.size} entries signed {receipt.checkpoint.time}"
            )
            return 0
        print("receipt does NOT verify: wrong key, or the entry or its proof was changed")
        return 1
    if action in _TRAINING_ACTIONS:
        with _open(args) as ledger:
            return _TRAINING_ACTIONS[action](args, ledger)
    with _open(args, create=action == "import-roster") as ledger:
        if action == "import-roster":
            employees = roster.read_roster(args.file)
            s = roster.import_roster(ledger, employees, source=args.file.name)
            print(
                f"roster {args.file.name}: {s.added} added, {s.changed} changed, "
                f"{s.removed} removed, {s.unchanged} unchanged ({len(ledger)} ledger entries)"
            )
            return 0
        if action == "checkpoint":
            cp = ledger.checkpoint()
            _write_new(args.out, cp.to_json())
            if args.public_key:
                ledger.export_public_key(args.public_key)
            print(f"checkpoint: {cp.size} entries, root {cp.root.hex()[:16]}..., {cp.time}")
            return 0
        if action == "export":
            return _export(ledger, args)
        if action == "receipt":
            cp = lg.Checkpoint.from_json(args.checkpoint.read_text())
            _write_new(args.out, ledger.receipt(args.index, cp).to_json())
            print(f"receipt for entry {args.index} written to {args.out}")
            return 0
        # verify
        saved = lg.Checkpoint.from_json(args.checkpoint.read_text()) if args.checkpoint else None
        public = lg.load_public_key(args.public_key) if args.public_key else None
        result = ledger.verify(saved, public)
        if result.ok:
            extends = f", and extends the checkpoint of {saved.size} entries" if saved else ""
            print(f"ledger intact: {result.size} entries{extends}")
            return 0
        where = f" (first bad entry: {result.first_bad})" if result.first_bad is not None else ""
        print(f"ledger FAILS verification{where}: {result.reason}", file=sys.stderr)
        return 1


# --------------------------------------------------------------------------- training actions


def _curricula(args: argparse.Namespace) -> Curricula:
    from hipaa_lab.records.curricula import load_curricula

    return load_curricula(args.curricula)


def _sync(args: argparse.Namespace, ledger: Ledger) -> int:
    from hipaa_lab.records.sync import sync

    if not (args.course_dir / "nbgrader_config.py").is_file():
        raise UsageError(f"no course at {args.course_dir} (hipaa-lab course build first)")
    summary = sync(ledger, args.course_dir, _curricula(args), today=args.as_of, prefix=args.prefix)
    recorded = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.recorded.items()))
    print(f"synced {args.course_dir}: {recorded or 'nothing new'}")
    if summary.not_on_roster:
        print(
            f"not on the roster, not recorded: {', '.join(summary.not_on_roster)}",
            file=sys.stderr,
        )
    return 0


def _status(args: argparse.Namespace, ledger: Ledger) -> int:
    from hipaa_lab.records.status import Standing, training_status

    rows = training_status(ledger, _curricula(args), args.as_of)
    if args.overdue:
        rows = [r for r in rows if r.status is Standing.OVERDUE]
    header = ["employee_id", "name", "department", "role", "module", "status", "score",
              "passed_on", "due_on"]  # fmt: skip
    table = [
        [
            r.employee_id,
            r.name,
            r.department,
            r.role,
            r.module,
            r.status.value,
            "" if r.score is None else f"{r.score:g}",
            r.passed_on.isoformat() if r.passed_on else "",
            r.due_on.isoformat() if r.due_on else "",
        ]
        for r in rows
    ]
    if args.format == "csv":  # opened in a spreadsheet too: formula-like cells neutralised
        from hipaa_lab.records.export import neutralise

        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(header)
        out.writerows([neutralise(str(cell)) for cell in line] for line in table)
        return 0
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
    for line in [header, *table]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    print(f"\n{len(rows)} records: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 0


def _mark_material(args: argparse.Namespace, ledger: Ledger) -> int:
    from hipaa_lab.records.events import RecordKind
    from hipaa_lab.records.sync import latest_versions

    curricula = _curricula(args)
    if args.module not in curricula.modules():
        raise UsageError(
            f"no module {args.module!r}; the curricula's modules are {', '.join(curricula.modules())}"
        )
    body = {
        "at": (args.as_of or dt.date.today()).isoformat(),
        "by": args.by,
        "module": args.module,
        "reason": args.reason,
        "version": latest_versions(ledger).get(args.module, ""),
    }
    entry = ledger.append(RecordKind.RETRAINING_REQUIRED.value, body)
    print(f"recorded a material change to {args.module} (ledger entry {entry.index})")
    return 0


def _waive(args: argparse.Namespace, ledger: Ledger) -> int:
    from hipaa_lab.records.events import RecordKind
    from hipaa_lab.records.roster import current_roster

    on, removed = current_roster(ledger)
    if args.employee_id not in on and args.employee_id not in removed:
        raise UsageError(f"no employee {args.employee_id!r} on the roster")
    if args.module not in _curricula(args).modules():
        raise UsageError(f"no module {args.module!r} in the curricula")
    body = {
        "at": (args.as_of or dt.date.today()).isoformat(),
        "by": args.by,
        "employee_id": args.employee_id,
        "module": args.module,
        "reason": args.reason,
    }
    entry = ledger.append(RecordKind.WAIVED.value, body)
    print(f"recorded the waiver (ledger entry {entry.index})")
    return 0


_TRAINING_ACTIONS = {
    "sync": _sync,
    "status": _status,
    "mark-material": _mark_material,
    "waive": _waive,
}
