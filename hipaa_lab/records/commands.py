"""``hipaa-lab records ...``: the roster and the ledger from the command line.

Exit status: 0 done (or intact), 1 a bad roster or a log that fails verification, 2 a usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hipaa_lab.errors import UsageError

if TYPE_CHECKING:
    from hipaa_lab import ledger as lg
    from hipaa_lab.ledger import Ledger

__all__ = ["add_parser", "main"]

DEFAULT_DB = "sqlite:///records.db"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``records`` subcommand and its actions."""
    p = sub.add_parser("records", help="the staff roster and the tamper-evident training ledger")
    rsub = p.add_subparsers(dest="action", required=True)

    def ledger_arg(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--db",
            default=DEFAULT_DB,
            metavar="URL",
            help="the ledger database: a SQLAlchemy URL, sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST/DB (default: sqlite:///records.db)",
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
        type=_day,
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
    ledger_arg(a)
    p.set_defaults(func=main)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; expected YYYY-MM-DD") from None


def _export(ledger: Ledger, args: argparse.Namespace) -> int:
    """``records export``: write the chosen format into ``--out``; print each file's path."""
    from hipaa_lab.records.curricula import load_curricula
    from hipaa_lab.records.export import write_export

    as_of = args.as_of or dt.date.today()
    written, count = write_export(
        args.format, ledger, load_curricula(args.curricula), args.out, as_of=as_of
    )
    for path in written:
        print(path)
    print(f"{args.format}: {len(written)} files in {args.out} ({count} records as of {as_of})")
    return 0


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

    url = database_url(args.db)
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
