"""Parallel autograde (issue 8, section 2): worker processes on one PostgreSQL gradebook give the
same grades as one at a time, lose and double nothing, and go on past a broken submission.

One small course (the fixture module of ``test_course``: two autograded cells and a written
answer) on its own database of the session's PostgreSQL server, five learners: right, partly
wrong, blank, a hard-coded answer from a learner whose gradebook name has quotes and non-ASCII
letters, and a notebook that is not JSON. It is graded in parallel first on a gradebook with no
submission rows at all (so nothing can be left over from another run), then, with those
submissions removed, one at a time, then in parallel again through the CLI on top.
"""

from __future__ import annotations

import os
from typing import Any

import nbformat
import pytest
import sqlalchemy as sa
from _postgres import fresh_database, postgres_url  # noqa: F401  (a fixture)
from test_course import FIXTURE, _fixture_notebooks

from hipaa_lab import cli, course
from hipaa_lab.errors import UsageError

pytestmark = pytest.mark.slow

GOOD = ["correct", "partial", "blank", "zoe-obrien"]
BROKEN = "broken"
FIRST, LAST = 'Zoë "Zo"', "O'Brien-Ångström"
TABLES = ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")


def _grades(db_url: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """Every grade of the module in the gradebook, by (learner, notebook, cell)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, course.COURSE_ID) as gb:
        for sub in gb.assignment_submissions(FIXTURE):
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student.id, nb.name, g.name)] = (
                        g.auto_score,
                        g.manual_score,
                        g.max_score,
                        g.needs_manual_grade,
                    )
    return out


def _counts(db_url: str) -> dict[str, int]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        # table names from TABLES, never from input
        counts = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one() for t in TABLES}  # noqa: S608
        # a grade or comment twice for one cell of one submitted notebook would be a doubled grade
        for t in ("grade", "comment"):
            twice = conn.exec_driver_sql(
                f"SELECT count(*) FROM (SELECT notebook_id, cell_id FROM {t} "  # noqa: S608
                "GROUP BY notebook_id, cell_id HAVING count(*) > 1) AS d"
            ).scalar_one()
            counts[f"{t} twice"] = twice
    engine.dispose()
    return counts


def _remove_submissions(db_url: str) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course.COURSE_ID) as gb:
        for learner in [*GOOD, BROKEN]:
            gb.remove_submission(FIXTURE, learner)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, postgres_url):  # noqa: F811
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("parallel-course")
    db_url = fresh_database(postgres_url)
    d = course.build(root / "course", _fixture_notebooks(root), db_url=db_url)
    with Gradebook(db_url, course.COURSE_ID) as gb:
        gb.update_or_create_student("zoe-obrien", first_name=FIRST, last_name=LAST)
    course.release(d)
    released = course.released_notebook(d, FIXTURE)
    source = course.source_notebook(d, FIXTURE)
    answers = {
        "correct": "correct",
        "blank": "blank",
        "partial": {"double": "def double(x):\n    return x + x", "q1": 'answer_q1 = "a"'},
        "zoe-obrien": {"double": "def double(x):\n    return 4"},
        BROKEN: "correct",
    }
    for who, kind in answers.items():
        base = "correct" if who == "zoe-obrien" else "blank"
        course.submit(
            d, who, FIXTURE, course.simulate_submission(released, source, kind, base=base)
        )
    (d / "submitted" / BROKEN / FIXTURE / f"{FIXTURE}.ipynb").write_text('{"cells": [', "utf-8")

    assert _counts(db_url)["submitted_assignment"] == 0  # nothing graded before the parallel run
    parallel = course.autograde(d, FIXTURE, jobs=2)
    parallel_grades, parallel_counts = _grades(db_url), _counts(db_url)
    _remove_submissions(db_url)
    sequential = course.autograde(d, FIXTURE)
    sequential_grades, sequential_counts = _grades(db_url), _counts(db_url)
    return {
        "dir": d,
        "db_url": db_url,
        "parallel": parallel,
        "sequential": sequential,
        "grades": (parallel_grades, sequential_grades),
        "counts": (parallel_counts, sequential_counts),
    }


def test_parallel_gives_the_sequential_grades_cell_by_cell(graded):
    parallel, sequential = graded["grades"]
    learners = {key[0] for key in parallel}
    assert learners == {*GOOD, BROKEN}
    cells = {key[2] for key in parallel}
    assert {"double_check", "q1_check", "explain"} <= cells
    assert parallel == sequential
    auto = {k: v for k, v in parallel.items() if k[0] in GOOD and k[2] != "explain"}
    assert len(auto) == 2 * len(GOOD) and all(v[0] is not None for v in auto.values())  # none lost
    assert parallel[("correct", FIXTURE, "double_check")][0] == 2
    assert parallel[("partial", FIXTURE, "q1_check")][0] == 0
    assert parallel[("blank", FIXTURE, "double_check")][0] == 0
    assert parallel[("zoe-obrien", FIXTURE, "double_check")][0] == 0  # the hidden test


def test_a_broken_submission_is_reported_and_the_others_graded(graded):
    for run in ("parallel", "sequential"):
        outcomes = {o.learner: o for o in graded[run]}
        assert list(outcomes) == sorted([*GOOD, BROKEN])  # one outcome each, in order
        assert all(outcomes[who].graded for who in GOOD), run
        assert not outcomes[BROKEN].graded and outcomes[BROKEN].reason, run
        assert BROKEN in outcomes[BROKEN].reason
    assert graded["counts"][0] == graded["counts"][1]


def test_a_name_with_quotes_and_accents_is_kept(graded):
    from nbgrader.api import Gradebook

    with Gradebook(graded["db_url"], course.COURSE_ID) as gb:
        student = gb.find_student("zoe-obrien")
        assert (student.first_name, student.last_name) == (FIRST, LAST)
        assert gb.find_submission(FIXTURE, "zoe-obrien").code_score == 1


def test_running_again_in_parallel_changes_no_grade_and_doubles_no_row(graded, capsys):
    d, db_url = graded["dir"], graded["db_url"]
    before = _counts(db_url)
    assert before["grade twice"] == 0 and before["comment twice"] == 0
    status = cli.main(["course", "autograde", "--course-dir", str(d), "--jobs", "2"])
    captured = capsys.readouterr()
    assert status == 0
    assert f"autograded {len(GOOD)} submission(s)" in captured.out
    assert f"could not grade {BROKEN}" in captured.err
    assert "autograde m90-fixture" in captured.err and "100%" in captured.err  # the progress bar
    assert _grades(db_url) == graded["grades"][1]
    assert _counts(db_url) == before


def test_a_worker_that_dies_loses_only_the_learner_who_killed_it(graded, monkeypatch, tmp_path):
    """A worker process that dies mid-grading (out of memory, killed): what it held is graded
    again, each learner alone; the one who kills a worker twice is reported. Grading is replaced
    by a stand-in here (the workers are forked, so they run the patched function)."""
    from hipaa_lab.course import parallel
    from hipaa_lab.course.build import AutogradeOutcome

    died = tmp_path / "died-once"

    def dies_once(api, assignment, learner):
        if learner == "partial" and not died.exists():
            died.write_text("")
            os._exit(1)
        return AutogradeOutcome(learner, True, "stand-in")

    monkeypatch.setattr(parallel, "_grade_one", dies_once)
    out = parallel.autograde_parallel(graded["dir"], FIXTURE, GOOD, 2)
    assert died.exists()
    assert [o.learner for o in out] == GOOD and all(o.graded for o in out)

    def always_dies(api, assignment, learner):
        if learner == "partial":
            os._exit(1)
        return AutogradeOutcome(learner, True, "stand-in")

    monkeypatch.setattr(parallel, "_grade_one", always_dies)
    out = parallel.autograde_parallel(graded["dir"], FIXTURE, GOOD, 2)
    assert [o.learner for o in out] == GOOD
    assert [o.learner for o in out if not o.graded] == ["partial"]
    assert "stopped twice" in out[GOOD.index("partial")].reason


def test_sqlite_refuses_more_than_one_job_before_grading(tmp_path, capsys):
    d = course.build(tmp_path / "course", _fixture_notebooks(tmp_path))
    nb = nbformat.v4.new_notebook()
    course.submit(d, "someone", FIXTURE, nb)
    with pytest.raises(UsageError, match="PostgreSQL gradebook"):
        course.autograde(d, FIXTURE, jobs=2)
    assert cli.main(["course", "autograde", "--course-dir", str(d), "--jobs", "2"]) == 2
    assert "--jobs 1" in capsys.readouterr().err
    assert not (d / "autograded").exists()
    with pytest.raises(UsageError, match="jobs must be"):
        course.autograde(d, FIXTURE, jobs=0)


def test_a_rebuild_keeps_the_postgresql_gradebook(graded):
    d = graded["dir"]
    course.build(d, d.parent / "notebooks")
    from hipaa_lab.course.build import gradebook_url

    assert gradebook_url(d) == graded["db_url"]
    assert (d / ".gradebook-url").stat().st_mode & 0o077 == 0  # it holds the password
    assert graded["db_url"] not in (d / "nbgrader_config.py").read_text()
