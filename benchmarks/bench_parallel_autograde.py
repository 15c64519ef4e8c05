"""Parallel autograde against nbgrader's sequential autograde, on one PostgreSQL gradebook.

    .venv/bin/python benchmarks/bench_parallel_autograde.py                    # 40 learners x 2 modules
    .venv/bin/python benchmarks/bench_parallel_autograde.py --learners 4 --rounds 1

One course (``--modules``, default the first two), built on a database of a PostgreSQL server this
script starts in a temporary folder (or ``--db-url``, an empty database), ``--learners`` simulated
learners submitting every module: in turn right, partly wrong (the module's
``simulated-learners.json``), blank, hard-coded (the same file's ``hardcoded`` learner). Each
round, both contenders grade every submission of every module, each starting from a gradebook
with no submission rows (the previous contender's rows are removed, untimed), in the same process:

* **nbgrader sequential**: nbgrader's own autograde of the whole module (``NbGraderAPI.autograde``
  with student ``*``, as ``nbgrader autograde MODULE --force`` runs it, without the command's
  start-up), one submission after another, with the course's configuration (the sealed steps);
* **hipaa-lab --jobs N**: ``hipaa_lab.course.autograde(course, module, jobs=N)``: the gradebook
  rows made first, then ``N`` worker processes (their start-up included).

The contenders alternate which goes first from one round to the next. Before the rounds, one
submission of each module is graded untimed (the datasets the sandbox reads are built then).
Prints each run's seconds, the ratio sequential / parallel per round and of the totals, and
whether every grade of every cell (auto score, manual score, max score, needs manual grade)
matched between every run; with the load average at the start and the end. Wall-clock time: on
a 2-core machine anything else running changes the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hipaa_lab import course
from hipaa_lab.course.build import _api, _check, _venv_on_path
from hipaa_lab.errors import PostgresError


def _grades(db_url: str, modules: list[str]) -> dict[tuple[str, ...], tuple[Any, ...]]:
    from nbgrader.api import Gradebook

    out: dict[tuple[str, ...], tuple[Any, ...]] = {}
    with Gradebook(db_url, course.COURSE_ID) as gb:
        for module in modules:
            for sub in gb.assignment_submissions(module):
                for nb in sub.notebooks:
                    for g in nb.grades:
                        out[(module, sub.student.id, nb.name, g.name)] = (
                            g.auto_score,
                            g.manual_score,
                            g.max_score,
                            g.needs_manual_grade,
                        )
    return out


def _clear(db_url: str, modules: list[str], learners: list[str]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course.COURSE_ID) as gb:
        for module in modules:
            for who in learners:
                with contextlib.suppress(MissingEntry):  # the warm-up graded only one
                    gb.remove_submission(module, who)


def _submit(course_dir: Path, notebooks: Path, modules: list[str], learners: list[str]) -> None:
    for module in modules:
        released = course.released_notebook(course_dir, module)
        source = course.source_notebook(course_dir, module)
        simulated = json.loads((notebooks / module / "simulated-learners.json").read_text())
        kinds: list[tuple[Any, str]] = [
            ("correct", "blank"),
            (simulated["partial"], "blank"),
            ("blank", "blank"),
            (simulated.get("hardcoded", simulated["partial"]), "correct"),
        ]
        for i, who in enumerate(learners):
            kind, base = kinds[i % len(kinds)]
            nb = course.simulate_submission(released, source, kind, base=base)  # type: ignore[arg-type]
            course.submit(course_dir, who, module, nb)


def _sequential(course_dir: Path, modules: list[str], learners: list[str]) -> float:
    start = time.perf_counter()
    with _venv_on_path():
        api = _api(course_dir)
        for module in modules:
            _check(api.autograde(module, "*", force=True, create=True), f"autograding {module}")
    return time.perf_counter() - start


def _parallel(course_dir: Path, modules: list[str], jobs: int) -> float:
    start = time.perf_counter()
    for module in modules:
        failed = [o for o in course.autograde(course_dir, module, jobs=jobs) if not o.graded]
        if failed:
            raise SystemExit(f"{module}: not graded: {failed}")
    return time.perf_counter() - start


def _server(folder: Path) -> tuple[Any, str]:
    from hipaa_lab.postgres import LocalPostgres

    server = LocalPostgres(folder)  # its own folder: the server's user enters it, not the rest
    server.start()
    return server, server.create_database("bench_gradebook")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--learners", type=int, default=40)
    parser.add_argument("--modules", nargs="+", default=None, help="default: the first two")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both contenders")
    parser.add_argument("--db-url", default=None, help="an empty PostgreSQL database to use")
    args = parser.parse_args(argv)
    # a terminated run still stops its PostgreSQL server and removes its folders (finally: below)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    notebooks = course.find_notebooks()
    modules = args.modules or course.assignments(notebooks)[:2]
    learners = [f"learner-{i:03d}" for i in range(args.learners)]
    load = os.getloadavg()
    print(
        f"{args.learners} learners x {len(modules)} modules ({', '.join(modules)}), "
        f"{os.cpu_count()} CPUs, load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-parallel-autograde-") as tmp,
        tempfile.TemporaryDirectory(prefix="bench-parallel-autograde-pg-") as pg,
    ):
        server = None
        if args.db_url:
            db_url = args.db_url
        else:
            try:
                server, db_url = _server(Path(pg))
            except PostgresError as exc:
                print(f"no PostgreSQL server: {exc}; give --db-url", file=sys.stderr)
                return 2
        try:
            course_dir = course.build(Path(tmp) / "course", notebooks, db_url=db_url)
            course.release(course_dir, modules)
            _submit(course_dir, notebooks, modules, learners)
            for module in modules:  # warm: the sandbox's datasets, the imports
                course.autograde(course_dir, module, learners[:1])
            runs: list[tuple[str, float]] = []
            reference = None
            matched = True
            for r in range(args.rounds):
                order = ["sequential", "parallel"] if r % 2 == 0 else ["parallel", "sequential"]
                times = {}
                for who in order:
                    _clear(db_url, modules, learners)
                    if who == "sequential":
                        seconds = _sequential(course_dir, modules, learners)
                    else:
                        seconds = _parallel(course_dir, modules, args.jobs)
                    grades = _grades(db_url, modules)
                    complete = len({k[:2] for k in grades}) == len(modules) * len(learners)
                    if reference is None:
                        reference = grades
                    same = complete and grades == reference
                    for key in sorted(set(grades) | set(reference)):
                        if grades.get(key) != reference.get(key):  # say which, and how
                            print(f"  differs: {key}: {reference.get(key)} then {grades.get(key)}")
                    matched = matched and same
                    times[who] = seconds
                    runs.append((who, seconds))
                    name = (
                        "nbgrader sequential"
                        if who == "sequential"
                        else f"hipaa-lab --jobs {args.jobs}"
                    )
                    n = len(modules) * len(learners)
                    print(
                        f"round {r + 1} {name:22s} {seconds:8.1f} s  ({seconds / n:.2f} s per "
                        f"submission)  grades {'match' if same else 'DIFFER'}  "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                print(
                    f"round {r + 1} ratio sequential / parallel {times['sequential'] / times['parallel']:.2f}x"
                )
            seq = sum(s for who, s in runs if who == "sequential")
            par = sum(s for who, s in runs if who == "parallel")
            print(
                f"ratio sequential / parallel, all rounds: {seq / par:.2f}x   (aim: at least 1.7x)"
            )
            print(f"every cell's grade the same in every run: {matched}")
        finally:
            if server is not None:
                server.stop()
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main())
