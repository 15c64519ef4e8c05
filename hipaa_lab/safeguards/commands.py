"""``hipaa-lab audit ...``: generate a workday's audit trail, verify it, export it.

::

    hipaa-lab audit generate --out LOG [--seed N] [--key-out FILE] [--context-out FILE]
                             [--checkpoint-out FILE] [--staff N] [--patients N]
    hipaa-lab audit verify LOG [--checkpoint FILE] [--public-key PEM]
    hipaa-lab audit export LOG --format xml|csv --out DIR [--unverified]
    hipaa-lab audit checkpoint LOG --out FILE [--public-key PEM]

Files: the log is JSON lines (one ledger entry per line, see
:class:`~hipaa_lab.safeguards.audit.AuditTrail`); its signing key is ``LOG.signing-key`` (mode
600) unless ``--key-file``; the reviewer's context is ``LOG`` with the suffix ``.context.json``
unless ``--context-out``; the answer key is written only to ``--key-out``. Exit status: 0 done
(or intact), 1 a log that fails verification or cannot be read, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.errors import UsageError

if TYPE_CHECKING:
    from hipaa_lab.safeguards.audit import AuditTrail

__all__ = ["add_parser", "main"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``audit`` subcommand and its actions."""
    p = sub.add_parser(
        "audit", help="the tamper-evident DICOM audit trail: generate, verify, export"
    )
    asub = p.add_subparsers(dest="action", required=True)

    def key_arg(a: argparse.ArgumentParser) -> None:
        a.add_argument(
            "--key-file",
            type=Path,
            default=None,
            help="the log's signing key (default: LOG.signing-key, created mode 600 when needed)",
        )

    a = asub.add_parser(
        "generate", help="write a workday's audit log with planted inappropriate access"
    )
    a.add_argument("--out", type=Path, required=True, metavar="LOG", help="the log to write (new)")
    a.add_argument("--seed", type=int, default=0, help="the day's seed (default 0)")
    a.add_argument(
        "--key-out", type=Path, default=None, metavar="FILE", help="write the answer key here"
    )
    a.add_argument(
        "--context-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="the reviewer's context: staff, patients, care teams, approvals, emergencies "
        "(default: LOG with the suffix .context.json)",
    )
    a.add_argument(
        "--checkpoint-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="also sign the new log and save the checkpoint here (keep it away from the log)",
    )
    a.add_argument("--staff", type=int, default=300, help="staff members (default 300)")
    a.add_argument("--patients", type=int, default=600, help="patients (default 600)")
    key_arg(a)

    a = asub.add_parser("verify", help="check the log line by line (exit 1 when it fails)")
    a.add_argument("log", type=Path, metavar="LOG")
    a.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint saved earlier")
    a.add_argument(
        "--public-key", type=Path, default=None, help="check the checkpoint with this key (PEM)"
    )
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    key_arg(a)

    a = asub.add_parser("export", help="write the events as DICOM audit XML or CSV")
    a.add_argument("log", type=Path, metavar="LOG")
    a.add_argument("--format", required=True, choices=("xml", "csv"))
    a.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into")
    a.add_argument(
        "--unverified",
        action="store_true",
        help="export a log that fails verification (say so in what you do with it)",
    )
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    key_arg(a)

    a = asub.add_parser("checkpoint", help="sign the log as it is now; save the checkpoint")
    a.add_argument("log", type=Path, metavar="LOG")
    a.add_argument("--out", type=Path, required=True, help="checkpoint file (JSON) to write")
    a.add_argument("--public-key", type=Path, default=None, help="also write the public key (PEM)")
    key_arg(a)
    p.set_defaults(func=main)


def _write(path: Path, data: dict[str, Any] | str) -> None:
    from hipaa_lab.phi import write_atomic

    text = data if isinstance(data, str) else json.dumps(data, indent=1, ensure_ascii=False)
    write_atomic(path, (text + "\n").encode())


def _trail(args: argparse.Namespace, *, must_exist: bool = True) -> AuditTrail:
    from hipaa_lab.safeguards.audit import AuditTrail

    log: Path = args.log
    if must_exist and not log.is_file():
        raise UsageError(f"no audit log at {log}; expected a file written by 'audit generate'")
    return AuditTrail(log, key_file=args.key_file)


def _progress(args: argparse.Namespace, total: int, what: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, unit="B", unit_scale=True, desc=what, leave=False, disable=args.quiet or None
    )


def main(args: argparse.Namespace) -> int:
    action = args.action
    if action == "generate":
        return _generate(args)
    if action == "verify":
        return _verify(args)
    if action == "export":
        return _export(args)
    return _checkpoint(args)


def _generate(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from hipaa_lab.safeguards.audit import AuditTrail
    from hipaa_lab.safeguards.workday import generate

    out: Path = args.out
    context = args.context_out or out.with_suffix(".context.json")
    if out.exists():
        raise UsageError(f"{out} exists; a generated log is always a new file")
    paths = [out, context, *(x for x in (args.key_out, args.checkpoint_out) if x is not None)]
    if len({p.resolve() for p in paths}) != len(paths):
        raise UsageError(
            "the log, the context, the key and the checkpoint need four different files"
        )
    try:
        day = generate(args.seed, staff=args.staff, patients=args.patients)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    key_file = args.key_file or out.with_name(out.name + ".signing-key")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        Path(tmp).unlink()  # the trail makes it, mode 600
        trail = AuditTrail(tmp, key_file=key_file)
        trail.record_many(day.events)
        os.link(tmp, out)  # never replaces a log that appeared meanwhile
    finally:
        Path(tmp).unlink(missing_ok=True)
    trail = AuditTrail(out, key_file=key_file)
    _write(context, day.context())
    print(f"wrote {len(day.events)} events of {day.day} (seed {args.seed}) to {out}")
    print(f"  reviewer's context: {context}")
    if args.key_out is not None:
        _write(args.key_out, day.key())
        print(
            f"  answer key: {args.key_out} ({len(day.planted)} planted events; keep it away "
            "from learners)"
        )
    if args.checkpoint_out is not None:
        _write(args.checkpoint_out, trail.checkpoint().to_json())
        print(f"  checkpoint: {args.checkpoint_out} (signed with {key_file})")
    return 0


def _public_key(args: argparse.Namespace, trail: AuditTrail) -> Any:
    from hipaa_lab.ledger import load_public_key

    if args.public_key is not None:
        try:
            return load_public_key(args.public_key)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.public_key}: {exc}") from None
    if not trail.ledger.key_file.is_file():
        raise UsageError(
            f"no signing key at {trail.ledger.key_file} to check the checkpoint with; give "
            "--public-key or --key-file"
        )
    return trail.public_key()


def _verify(args: argparse.Namespace) -> int:
    from hipaa_lab.ledger import Checkpoint

    trail = _trail(args)
    checkpoint = key = None
    if args.checkpoint is not None:
        try:
            checkpoint = Checkpoint.from_json(args.checkpoint.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{args.checkpoint}: {exc}") from None
        key = _public_key(args, trail)
    with _progress(args, trail.path.stat().st_size, "verify") as bar:
        result = trail.verify(checkpoint, key, progress=bar.update)
    if result.ok:
        against = f", and it extends the checkpoint of {checkpoint.time}" if checkpoint else ""
        print(f"intact: {result.size} events{against}")
        return 0
    where = f"line {result.first_bad + 1}" if result.first_bad is not None else "the log"
    print(f"NOT intact: first bad {where}: {result.reason}")
    return 1


def _export(args: argparse.Namespace) -> int:
    from hipaa_lab.safeguards.audit import write_csv, write_xml

    trail = _trail(args)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; expected a folder to write into")
    with _progress(args, trail.path.stat().st_size, "verify") as bar:
        result = trail.verify(progress=bar.update)
    if not result.ok:
        where = f"line {result.first_bad + 1}" if result.first_bad is not None else "the log"
        print(
            f"hipaa-lab audit: {trail.path} fails verification at {where}: {result.reason}",
            file=sys.stderr,
        )
        if not args.unverified:
            print("nothing exported (--unverified exports it anyway)", file=sys.stderr)
            return 1
    show = not args.quiet
    if args.format == "xml":
        n = write_xml(trail.events(), out / "audit-messages", progress=show)
        print(f"xml: {n} DICOM audit messages in {out / 'audit-messages'}")
    else:
        n = write_csv(trail.events(), out / "audit.csv", progress=show)
        print(f"csv: {n} events in {out / 'audit.csv'}")
    return 0 if result.ok else 1


def _checkpoint(args: argparse.Namespace) -> int:
    trail = _trail(args)
    result = trail.verify()
    if not result.ok:
        where = f"line {result.first_bad + 1}" if result.first_bad is not None else "the log"
        print(f"refusing to sign a log that fails verification at {where}: {result.reason}")
        return 1
    checkpoint = trail.checkpoint()
    _write(args.out, checkpoint.to_json())
    if args.public_key is not None:
        trail.ledger.export_public_key(args.public_key)
    print(f"checkpoint of {checkpoint.size} events written to {args.out}")
    return 0
