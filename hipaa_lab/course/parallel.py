"""Autograde many submissions at once: worker processes on one PostgreSQL gradebook.

Each worker grades whole submissions with nbgrader's own autograde (the course's sealed steps,
:mod:`hipaa_lab.course.sealed`), one learner at a time, and writes that learner's grades into the
gradebook itself. The grades are the ones a sequential autograde gives because the code that makes
them is the same; what a parallel run has to add is that no two writers ever race for the same row.

Where nbgrader's autograde writes, and why workers never collide there:

- **rows of one submission** (its submitted notebooks, grades, comments, late penalty): one
  learner's submission is graded by exactly one worker (the learner list is de-duplicated), so
  two workers never touch the same submission's rows;
- **rows that several submissions share** are made *before* the workers start, in the parent,
  one writer: the student rows of every learner (``update_or_create_student`` with no names: a
  learner's stored name is kept), each learner's submission row and the rows under it
  (``update_or_create_submission``, as nbgrader's autograde would make them), and the course row
  ``default_course`` that nbgrader's own preprocessors create on first use (they open the
  gradebook without a course id: two workers doing it at once on a new gradebook both insert it,
  and one fails). After that, a worker's autograde only reads shared rows and updates its own;
- **the schema**: nbgrader creates the tables when it opens an empty database; the course build
  already did, so a worker never runs DDL;
- **files**: each submission's ``autograded/LEARNER/MODULE`` folder is its own; the datasets the
  sandbox reads are built once in the parent, so workers never build them at the same time;
- **the sandbox's account**: each sandbox running at once claims an account of its own
  (:func:`hipaa_lab.course.sandbox._claim_account`, under a lock), because the kernel counts the
  process limit per account: one learner holding every process must not stop another's grading.

SQLite stays a single writer: :func:`hipaa_lab.course.autograde` refuses ``jobs`` above 1 on a
SQLite gradebook before anything is graded.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

from hipaa_lab.course.build import (
    COURSE_ID,
    AutogradeOutcome,
    _api,
    _bar,
    _grade_one,
    _load_config,
    _venv_on_path,
)

__all__ = ["autograde_parallel", "prepare_gradebook"]

_API: NbGraderAPI | None = None  # the worker's own nbgrader API (one a process)


def prepare_gradebook(course_dir: Path, assignment: str, learners: Sequence[str]) -> None:
    """Make every gradebook row that parallel autogrades would otherwise race to create.

    The course rows (``hipaa-lab`` and nbgrader's ``default_course``), each learner's student row
    (an existing learner keeps their name) and each learner's submission of ``assignment`` with
    the rows under it. Idempotent: a second call changes nothing.
    """
    from nbgrader.api import Gradebook

    config = _load_config(course_dir)
    db_url = str(config.CourseDirectory.db_url)
    with Gradebook(db_url):  # nbgrader's preprocessors open it so: the row `default_course`
        pass
    with Gradebook(db_url, COURSE_ID) as gb:
        gb.find_assignment(assignment)  # MissingEntry: the module was never released
        for learner in learners:
            gb.update_or_create_student(learner)
        for learner in learners:
            gb.update_or_create_submission(assignment, learner)


def _prepare_files(course_dir: Path, assignment: str, jobs: int) -> None:
    """Build the datasets the module's sandbox reads and the ``jobs`` sandbox accounts the
    workers will claim, once, here; import what grading imports, so that forked workers start
    with it."""
    import nbformat

    from hipaa_lab.course import grading  # noqa: F401 - the grade cells' checks, imported once
    from hipaa_lab.course.sandbox import _sandbox_user
    from hipaa_lab.course.sealed import _datasets_for

    for slot in range(jobs):
        _sandbox_user(slot)
    for path in sorted((course_dir / "release" / assignment).glob("*.ipynb")):
        _datasets_for(nbformat.read(path, as_version=4), course_dir / ".sandbox-datasets")


def _start_worker(course_dir: str) -> None:
    global _API
    _API = _api(Path(course_dir))


def _grade(assignment: str, learner: str) -> AutogradeOutcome:
    if _API is None:  # pragma: no cover - the pool's initializer sets it
        raise RuntimeError("the autograde worker was not started")
    try:
        return _grade_one(_API, assignment, learner)
    except Exception as exc:  # a backstop: one learner's failure is theirs alone
        return AutogradeOutcome(learner, False, f"{type(exc).__name__}: {exc}"[-2000:])


def _context() -> multiprocessing.context.BaseContext:
    # fork: the workers start with nbgrader and hipaa_lab already imported (spawn re-imports them,
    # seconds per worker); the parent holds no open database connection when it forks
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def autograde_parallel(
    course_dir: Path,
    assignment: str,
    learners: Sequence[str],
    jobs: int,
    *,
    progress: bool = False,
) -> list[AutogradeOutcome]:
    """Autograde ``learners``' submissions of ``assignment`` in ``jobs`` worker processes.

    Called by :func:`hipaa_lab.course.autograde` (which checks the arguments and the gradebook
    first). Returns one outcome per learner, in the order of ``learners``. A learner whose
    submission cannot be graded is reported with the reason and the others are graded. A worker
    process that dies (out of memory, killed) breaks the pool: every learner it had not finished
    is graded again, each in a worker of its own, so the learner who kills a worker twice is
    reported and the others are graded.
    """
    course_dir = Path(course_dir).resolve()
    learners = list(dict.fromkeys(learners))
    outcomes: dict[str, AutogradeOutcome] = {}
    bar = _bar(len(learners), assignment, progress)
    try:
        with _venv_on_path():  # the workers inherit PATH (nbgrader runs alembic)
            prepare_gradebook(course_dir, assignment, learners)
            _prepare_files(course_dir, assignment, jobs)
            lost = _run_pool(course_dir, assignment, learners, jobs, outcomes, bar)
            for learner in lost:  # alone this time: whoever breaks a worker again is known
                if _run_pool(course_dir, assignment, [learner], 1, outcomes, bar):
                    outcomes[learner] = AutogradeOutcome(
                        learner,
                        False,
                        "the worker process grading it stopped twice (out of memory, killed, or "
                        "it could not start); grade this learner with jobs=1 to see why",
                    )
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [outcomes[learner] for learner in learners]


def _run_pool(
    course_dir: Path,
    assignment: str,
    learners: Sequence[str],
    jobs: int,
    outcomes: dict[str, AutogradeOutcome],
    bar: Any,
) -> list[str]:
    """Grade ``learners`` in one pool, filling ``outcomes``; return those a dead worker lost."""
    lost: set[str] = set()
    pool = ProcessPoolExecutor(
        min(jobs, len(learners)),
        mp_context=_context(),
        initializer=_start_worker,
        initargs=(str(course_dir),),
    )
    try:
        futures: dict[Future[AutogradeOutcome], str] = {
            pool.submit(_grade, assignment, learner): learner for learner in learners
        }
        pending = set(futures)
        while pending:
            done, pending = wait_for(pending, return_when="FIRST_COMPLETED")
            for future in done:
                learner = futures[future]
                try:
                    outcomes[learner] = future.result()
                except BrokenProcessPool:
                    lost.add(learner)
                    continue
                if bar is not None:
                    bar.update(1)
    finally:  # on an interrupt too: what has not started never will
        pool.shutdown(wait=True, cancel_futures=True)
    return [learner for learner in learners if learner in lost]
