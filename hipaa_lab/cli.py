"""The ``hipaa-lab`` command.

Each subcommand imports only what it needs, so quick commands stay quick.
Exit status: 0 success, 1 a failure the message explains, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hipaa_lab.errors import HipaaLabError, UsageError


def _datasets(args: argparse.Namespace) -> int:
    from hipaa_lab.studies import catalogue

    if args.action == "list":
        for spec in catalogue.catalogue().values():
            print(f"{spec.name}\t{spec.description}")
        return 0
    key = catalogue.build(args.name, args.out)
    print(
        f"built {args.name}: {len(key.files())} files with {len(key.entries)} planted identifiers"
    )
    print(f"  learner tree: {Path(args.out) / 'studies'}")
    print(f"  answer key:   {Path(args.out) / 'answer-key.json'} (keep it away from learners)")
    return 0


def _course(args: argparse.Namespace) -> int:
    from hipaa_lab import course

    return course.main(args)


def _deid(args: argparse.Namespace) -> int:
    from hipaa_lab import deid
    from hipaa_lab.deid.pseudonyms import DEFAULT_KEY_FILE

    key_file = args.key_file or DEFAULT_KEY_FILE.expanduser()
    try:
        report = deid.deidentify_tree(
            args.src,
            args.dst,
            key_file=key_file,
            options=args.option or (),
            profile=args.profile,
            jobs=args.jobs,
            linkage=args.linkage,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"hipaa-lab deid: {exc}", file=sys.stderr)
        return 2
    skipped = sum(report.skipped.values())
    print(
        f"de-identified {report.processed} files into {args.dst}; skipped {skipped}",
        file=sys.stderr,
    )
    return 1 if skipped else 0


def _demo(args: argparse.Namespace) -> int:
    from hipaa_lab import demo

    demo.run(Path(args.out))
    return 0


def _hub(args: argparse.Namespace) -> int:
    from hipaa_lab.course import hub

    return hub.main(args)


def _lab(args: argparse.Namespace) -> int:
    from hipaa_lab import course

    return course.lab(Path(args.course_dir))


def _scan(args: argparse.Namespace) -> int:
    from hipaa_lab.deid import scan

    return scan.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hipaa-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list or build the named synthetic datasets")
    dsub = p.add_subparsers(dest="action", required=True)
    dsub.add_parser("list", help="one dataset a line, its name first")
    b = dsub.add_parser("build", help="build one dataset: DIR/studies and DIR/answer-key.json")
    b.add_argument("name")
    b.add_argument("--out", default=None, help="output folder, new or empty (default: ./NAME)")
    p.set_defaults(func=_datasets)

    p = sub.add_parser("course", help="build, release, autograde and return the nbgrader course")
    csub = p.add_subparsers(dest="action", required=True)
    for action, text in [
        ("build", "make the course directory from notebooks/"),
        ("release", "generate and release assignments to the exchange"),
        ("autograde", "autograde submitted assignments"),
        ("feedback", "write feedback for graded submissions"),
        ("scores", "print per-learner, per-module scores as CSV"),
    ]:
        a = csub.add_parser(action, help=text)
        a.add_argument("--course-dir", default="course", type=Path)
        if action != "build":
            a.add_argument("--assignment", action="append", help="one module (default: all)")
        if action in ("autograde", "feedback"):
            a.add_argument("--student", action="append", help="one learner (default: all)")
        if action == "autograde":
            a.add_argument(
                "--jobs",
                type=int,
                default=1,
                metavar="N",
                help="worker processes grading at once (default 1; above 1 needs a PostgreSQL "
                "gradebook)",
            )
        if action == "build":
            a.add_argument("--notebooks", default=None, type=Path, help="source notebooks folder")
            a.add_argument(
                "--db",
                default=None,
                metavar="URL",
                help="the gradebook's database, e.g. postgresql+psycopg://... , or @FILE holding "
                "a URL with a password, or HIPAA_LAB_DATABASE_URL (default: the course's own, "
                "else SQLite gradebook.db)",
            )
    p.set_defaults(func=_course)

    from hipaa_lab.deid.profile import Option  # light: no pydicom, no notebook stack

    p = sub.add_parser(
        "deid", help="de-identify every DICOM file under SRC into DST (PS3.15 Annex E)"
    )
    p.add_argument("src", type=Path, metavar="SRC")
    p.add_argument("dst", type=Path, metavar="DST")
    p.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="secret key for pseudonyms, UIDs and date shifts; created (mode 600) when missing "
        "(default: ~/.config/hipaa-lab/deid.key)",
    )
    p.add_argument(
        "--option",
        action="append",
        choices=[o.value for o in Option],
        metavar="NAME",
        help="a PS3.15 E.3 option, repeatable: " + ", ".join(o.value for o in Option),
    )
    p.add_argument("--profile", choices=["basic", "safe-harbor"], default="basic")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--linkage",
        type=Path,
        default=None,
        help="write source-to-output linkage (PHI) here, outside DST",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_deid)

    p = sub.add_parser("demo", help="run the whole loop headless on embedded defaults")
    p.add_argument("--out", default="demo-output")
    p.set_defaults(func=_demo)

    p = sub.add_parser("scan", help="find identifiers left in files and trees (exit 1 when any)")
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="files and folders, scanned recursively"
    )
    p.add_argument("--key", default=None, help="an answer key: also search for its exact values")
    p.add_argument("--original", default=None, help="the original tree: also search for its values")
    p.add_argument("--no-ocr", action="store_true", help="do not read text burned into pixels")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument(
        "--show-paths",
        action="store_true",
        help="print file paths unmasked (names that hold identifiers are masked by default)",
    )
    p.set_defaults(func=_scan)

    from hipaa_lab.records import commands as records_commands

    records_commands.add_parser(sub)

    from hipaa_lab.safeguards import commands as audit_commands

    audit_commands.add_parser(sub)

    from hipaa_lab.safeguards import breach_commands

    breach_commands.add_parser(sub)

    p = sub.add_parser("hub", help="the course for a class on JupyterHub (run as root)")
    hsub = p.add_subparsers(dest="action", required=True)
    s = hsub.add_parser("start", help="set up the hub from a roster and serve it until Ctrl-C")
    s.add_argument("--roster", type=Path, default=None, help="staff roster, CSV or XLSX")
    s.add_argument(
        "--trainer",
        action="append",
        default=[],
        help="a trainer's account name (repeatable; at least one on the first start)",
    )
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    s.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="the gradebook's PostgreSQL, a URL without a password, or @FILE holding one, or "
        "HIPAA_LAB_DATABASE_URL (default: a server of the hub's own, started here)",
    )
    s.add_argument(
        "--postgres-port", type=int, default=None, help="the hub's own PostgreSQL's port"
    )
    s.add_argument(
        "--config", default=None, type=Path, help="a JupyterHub config file, loaded last"
    )
    s.add_argument("--home-base", default=None, help="folder of learners' homes (default /home)")
    s.add_argument("--prefix", default="hl-", help="account names' prefix (default hl-)")
    y = hsub.add_parser("sync", help="apply a changed roster: add and disable accounts")
    y.add_argument("--roster", type=Path, required=True, help="staff roster, CSV or XLSX")
    c = hsub.add_parser(
        "course", help="a course step on the hub's course, run as the course account"
    )
    c.add_argument("step", choices=["release", "autograde", "feedback", "scores"])
    c.add_argument("--assignment", action="append", help="one module (default: all)")
    c.add_argument("--student", action="append", help="one learner (default: all)")
    t = hsub.add_parser("stop", help="stop the hub running from --hub-dir")
    for q in (s, y, c, t):
        q.add_argument("--hub-dir", type=Path, default=Path("hub"), help="the hub's folder")
    p.set_defaults(func=_hub)

    p = sub.add_parser(
        "lab", help="start JupyterLab with the course ready (one person, not a class)"
    )
    p.add_argument("--course-dir", default="course")
    p.set_defaults(func=_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "") is None:
        args.out = args.name
    try:
        status: int = args.func(args)
        return status
    except UsageError as exc:
        print(f"hipaa-lab {args.command}: {exc}", file=sys.stderr)
        return 2
    except HipaaLabError as exc:
        print(f"hipaa-lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
