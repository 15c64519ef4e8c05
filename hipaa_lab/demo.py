"""``hipaa-lab demo``: the whole loop, headless, into one new folder.

It builds the module-1 sample dataset, builds the nbgrader course from ``notebooks/``, releases every
module, lets three simulated learners submit (one correct, one partial, one blank), autogrades them,
lets a simulated trainer grade their written answers (full, half and no marks), writes their feedback, exports the completion records, and keeps the training records: it imports
a small synthetic roster of the three (as employees), syncs the gradebook into the tamper-evident
ledger, derives where each stands, signs a checkpoint and verifies the ledger against it::

    OUT/
    ├── dataset/          the m01-sample studies and their answer key (trainers only)
    ├── course/           the nbgrader course: gradebook, releases, submissions, grades, feedback
    ├── cache/            the datasets the notebooks load while they are graded
    ├── records/          roster.csv, records.db (the ledger) and its signing key, status.csv,
    │                     checkpoint.json and ledger.pub (for an auditor), and exports/: the
    │                     records as CSV, XLSX, xAPI, PDF certificates and dashboard plots
    └── completion.csv    one row per learner and module, with the score
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from hipaa_lab import course
from hipaa_lab.errors import CourseError, OutputNotEmptyError
from hipaa_lab.phi import AnswerKey, write_atomic

__all__ = ["LEARNERS", "run"]

#: The simulated learners, by id: what each submits.
LEARNERS = {
    "learner-correct": "correct",
    "learner-partial": "partial",
    "learner-blank": "blank",
}
DATASET = "m01-sample"
#: The demo's roster: the simulated learners as employees (synthetic people), hired this month.
ROSTER = [
    # the correct learner's role takes every module (PACS administrators take module 4 too)
    ("learner-correct", "Avery Quinlan", "pacs_admin", "Imaging IT"),
    ("learner-partial", "Bo Lindqvist", "technologist", "Radiology"),
    ("learner-blank", "Chidi Okafor", "researcher", "Imaging Research"),
]
_NAMES = {employee_id: name for employee_id, name, _role, _department in ROSTER}
_CSV_COLUMNS = [
    "learner",
    "module",
    "score",
    "max_score",
    "percent",
    "auto_score",
    "max_auto_score",
    "needs_manual_grade",
    "submitted_at",
    "autograded_at",
]


def _partial_answers(notebooks: Path, module: str) -> dict[str, str]:
    path = notebooks / module / "simulated-learners.json"
    try:
        partial: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["partial"]
        return partial
    except (OSError, ValueError, KeyError) as exc:
        raise CourseError(
            f"{path}: expected a JSON object with a 'partial' learner ({{grade_id: answer}}); {exc}"
        ) from None


def run(out: Path, *, notebooks: Path | None = None, quiet: bool = False) -> pd.DataFrame:
    """Run the demo into ``out`` (new or empty) and return the completion records.

    Parameters
    ----------
    out
        The folder everything is written to; it must not hold files.
    notebooks
        The course's source notebooks (default: :func:`hipaa_lab.course.find_notebooks`).
    quiet
        No progress bars and no summary.

    Raises
    ------
    OutputNotEmptyError
        ``out`` already holds files; nothing in it is changed.
    """
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputNotEmptyError(out)
    notebooks = Path(notebooks).resolve() if notebooks is not None else course.find_notebooks()
    modules = course.assignments(notebooks)
    partial = {m: _partial_answers(notebooks, m) for m in modules}  # fail before writing anything
    out.mkdir(parents=True, exist_ok=True)

    # the notebooks load their sample through hl.datasets.load: keep that cache under out too
    # (the grading kernels inherit the environment)
    saved_cache = os.environ.get("HIPAA_LAB_CACHE")
    os.environ["HIPAA_LAB_CACHE"] = str(out / "cache")
    try:
        records, key, course_dir = _run(out, notebooks, modules, partial, quiet)
    finally:
        if saved_cache is None:
            os.environ.pop("HIPAA_LAB_CACHE", None)
        else:
            os.environ["HIPAA_LAB_CACHE"] = saved_cache
    write_atomic(out / "completion.csv", records.to_csv(index=False).encode())
    standing = _records(out / "records", course_dir)
    if not quiet:
        _summary(out, course_dir, key, records)
        print("\nTraining records (records/status.csv), as of today:")
        print(standing.to_string(index=False))
    return records


def _records(folder: Path, course_dir: Path) -> pd.DataFrame:
    """The records part: roster, ledger, sync, status, checkpoint, verification."""
    import csv
    import datetime as dt
    import io

    from hipaa_lab import records
    from hipaa_lab.ledger import Ledger

    folder.mkdir()
    hired = dt.date.today().replace(day=1).isoformat()
    roster = io.StringIO()
    writer = csv.writer(roster, lineterminator="\n")
    writer.writerow(records.COLUMNS)
    for employee_id, name, role, department in ROSTER:
        email = name.lower().replace(" ", ".") + "@example.org"
        writer.writerow([employee_id, name, email, role, department, hired, "active"])
    write_atomic(folder / "roster.csv", roster.getvalue().encode())
    curricula = records.load_curricula()
    with Ledger(folder / "records.db") as ledger:
        records.import_roster(
            ledger, records.read_roster(folder / "roster.csv"), source="roster.csv"
        )
        records.sync(ledger, course_dir, curricula)
        today = dt.date.today()
        rows = records.training_status(ledger, curricula, today)
        checkpoint = ledger.checkpoint()
        write_atomic(folder / "checkpoint.json", (checkpoint.to_json() + "\n").encode())
        ledger.export_public_key(folder / "ledger.pub")
        verified = ledger.verify(checkpoint)
        if not verified.ok:  # the demo's own ledger: a bug
            raise CourseError(f"the demo's ledger fails verification: {verified.reason}")
        from hipaa_lab.records.export import EXPORT_FORMATS, write_export

        for fmt in EXPORT_FORMATS:  # what a manager hands an auditor
            out = folder / "exports" / fmt
            write_export(fmt, ledger, curricula, out, as_of=today, records=rows)
    frame = pd.DataFrame(
        [
            {
                "employee_id": r.employee_id,
                "name": r.name,
                "role": r.role,
                "module": r.module,
                "status": r.status.value,
                "score": r.score,
                "passed_on": r.passed_on.isoformat() if r.passed_on else "",
                "due_on": r.due_on.isoformat() if r.due_on else "",
            }
            for r in rows
        ]
    )
    write_atomic(folder / "status.csv", frame.to_csv(index=False).encode())
    return frame


def _run(
    out: Path, notebooks: Path, modules: list[str], partial: dict[str, dict[str, str]], quiet: bool
) -> tuple[pd.DataFrame, AnswerKey, Path]:
    from hipaa_lab.studies import catalogue

    steps = tqdm(
        total=3 + 2 * len(modules) * len(LEARNERS), desc="demo", unit="step", disable=quiet
    )
    steps.set_postfix_str(f"building dataset {DATASET}")
    key = catalogue.build(DATASET, out / "dataset", progress=False)
    shutil.copytree(
        out / "dataset", catalogue.cache_dir(DATASET)
    )  # the same build, where load() looks
    steps.update()
    steps.set_postfix_str("building the course")
    course_dir = course.build(out / "course", notebooks, students=list(LEARNERS))
    steps.update()
    steps.set_postfix_str("releasing")
    course.release(course_dir, modules)
    steps.update()
    for module in modules:
        released = course.released_notebook(course_dir, module)
        source = course.source_notebook(course_dir, module)
        for learner, kind in LEARNERS.items():
            answers: Mapping[str, str] | Literal["correct", "blank"]
            answers = (
                partial[module]
                if kind == "partial"
                else "correct"
                if kind == "correct"
                else "blank"
            )
            signed = (
                "" if kind == "blank" else _NAMES[learner]
            )  # the blank one acknowledges nothing
            submission = course.simulate_submission(
                released, source, answers, acknowledged_by=signed
            )
            course.submit(course_dir, learner, module, submission)
        for learner in LEARNERS:
            steps.set_postfix_str(f"autograding {module} of {learner}")
            for outcome in course.autograde(course_dir, module, [learner]):
                if not outcome.graded:  # the demo's own learners: a bug, not a learner's fault
                    raise CourseError(f"{module} of {learner}: {outcome.reason}")
            steps.update()
        for learner, kind in LEARNERS.items():  # the trainer grades the written answers
            share = {"correct": 1.0, "partial": 0.5}.get(kind, 0.0)
            course.grade_by_hand(course_dir, module, learner, share)
        for learner in LEARNERS:
            steps.set_postfix_str(f"feedback on {module} to {learner}")
            course.feedback(course_dir, module, [learner])
            steps.update()
    steps.close()

    records = course.scores(course_dir)
    records = records[records.learner.isin(list(LEARNERS))][_CSV_COLUMNS].reset_index(drop=True)
    return records, key, course_dir


def _summary(out: Path, course_dir: Path, key: AnswerKey, records: pd.DataFrame) -> None:
    table = records.assign(
        score=[f"{s:g} / {m:g}" for s, m in zip(records.score, records.max_score, strict=True)],
        autograded=[
            f"{s:g} / {m:g}"
            for s, m in zip(records.auto_score, records.max_auto_score, strict=True)
        ],
        percent=[f"{p:.0f}%" for p in records.percent],
    )[["learner", "module", "autograded", "score", "percent"]]
    print(f"\nhipaa-lab demo: everything is in {out}")
    print(
        f"  dataset/         {DATASET}: {len(key.files())} files, {len(key.entries)} planted identifiers "
        "(dataset/answer-key.json is for trainers only)"
    )
    print(f"  course/          the nbgrader course: {', '.join(sorted(set(records.module)))}")
    print("  course/feedback/ feedback HTML for each learner")
    print("  cache/           the datasets the notebooks loaded while they were graded")
    print("  records/         roster, the signed training ledger, status.csv, checkpoint.json")
    print("  records/exports/ csv/, xlsx/, xapi/, pdf/ (a certificate per pass, with its")
    print("                   receipt: hipaa-lab records verify-receipt CERT.pdf), dashboard/")
    print("  completion.csv   one row per learner and module\n")
    print(table.to_string(index=False))
    print(
        "\nThe written answers were graded by a simulated trainer (full, half and no marks); in a"
        " course a trainer grades them in the formgrader (`make lab`)."
    )
