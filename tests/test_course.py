"""The nbgrader course round trip: build, release, submit, autograde, feedback, scores.

Two kinds of module are exercised:

* a tiny fixture module made here (``m90-fixture``), for the course-directory rules (stale builds,
  refresh, the CLI) and the simulated-learner mechanics, independent of the real modules;
* every real module in ``notebooks/``: its source runs top to bottom, its solutions get full
  marks through nbgrader, its release leaks no solution or hidden test and scores zero blank,
  and the simulated learners of ``simulated-learners.json`` fall where they should.

One course is built and graded per module scope; every assertion reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import urllib.request
from pathlib import Path

import nbformat
import pytest
from _postgres import fresh_database, postgres_url  # noqa: F401  (a fixture)
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hipaa_lab import cli, course
from hipaa_lab.errors import OutputNotEmptyError, StaleCourseError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MODULES = course.assignments(NOTEBOOKS) if NOTEBOOKS.is_dir() else []
FIXTURE = "m90-fixture"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


# --------------------------------------------------------------------------- the fixture module


def _nbg(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _fixture_notebooks(root: Path) -> Path:
    """A notebooks/ folder with a header and one small module in nbgrader's source format."""
    nbs = root / "notebooks"
    (nbs / FIXTURE).mkdir(parents=True)
    header = new_notebook(cells=[new_markdown_cell("# Fixture course header")])
    nbformat.write(header, nbs / "header.ipynb")
    cells = [
        new_code_cell("import math", metadata=_nbg("setup", locked=True)),
        new_code_cell(
            'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION',
            metadata=_nbg("double", solution=True),
        ),
        new_code_cell(
            '"""double doubles."""\nassert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(21) == 42\n'
            "### END HIDDEN TESTS",
            metadata=_nbg("double_check", grade=True, locked=True, points=2),
        ),
        new_code_cell(
            '### BEGIN SOLUTION\nanswer_q1 = "b"\n### END SOLUTION',
            metadata=_nbg("q1", solution=True),
        ),
        new_code_cell(
            '"""Q1 is one of the options."""\nassert answer_q1 in "abcd"\n### BEGIN HIDDEN TESTS\n'
            'assert answer_q1 == "b"\n### END HIDDEN TESTS',
            metadata=_nbg("q1_check", grade=True, locked=True, points=1),
        ),
        new_markdown_cell(
            "Explain why sexes are not identifiers, in secret words.",
            metadata=_nbg("explain", solution=True, grade=True, points=1),
        ),
    ]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, nbs / FIXTURE / f"{FIXTURE}.ipynb")
    (nbs / FIXTURE / "simulated-learners.json").write_text(
        json.dumps(
            {
                "partial": {"double": "def double(x):\n    return x + x", "q1": 'answer_q1 = "a"'},
                "hardcoded": {"double": "def double(x):\n    return 4"},
            }
        )
    )
    (nbs / FIXTURE / "notes-for-trainers.txt").write_text("not part of the course")
    return nbs


def _checksums(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def fixture_course(tmp_path_factory):
    """The fixture module built, released, submitted by three learners, autograded, fed back."""
    root = tmp_path_factory.mktemp("fixture-course")
    nbs = _fixture_notebooks(root)
    course_dir = course.build(root / "course", nbs, students=["learner-roster-only"])
    course.release(course_dir)
    released = course.released_notebook(course_dir, FIXTURE)
    source = course.source_notebook(course_dir, FIXTURE)
    learners = json.loads((nbs / FIXTURE / "simulated-learners.json").read_text())
    submissions = {
        "correct": course.simulate_submission(released, source, "correct"),
        "blank": course.simulate_submission(released, source, "blank"),
        "partial": course.simulate_submission(released, source, learners["partial"]),
        "hardcoded": course.simulate_submission(
            released, source, learners["hardcoded"], base="correct"
        ),
    }
    for who, nb in submissions.items():
        course.submit(course_dir, who, FIXTURE, nb)
    graded = course.autograde(course_dir, FIXTURE)
    html = course.feedback(course_dir, FIXTURE)
    return {
        "dir": course_dir,
        "notebooks": nbs,
        "graded": graded,
        "html": html,
        "scores": course.scores(course_dir).set_index("learner"),
    }


def test_build_lays_out_the_course(fixture_course):
    d = fixture_course["dir"]
    assert (d / "source" / "header.ipynb").is_file()
    assert sorted(p.name for p in (d / "source" / FIXTURE).iterdir()) == [f"{FIXTURE}.ipynb"]
    config = (d / "nbgrader_config.py").read_text()
    assert f"c.Exchange.root = {str(d / 'exchange')!r}" in config
    assert "c.Execute.timeout = 180" in config
    from traitlets.config.loader import PyFileConfigLoader

    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(d)).load_config()
    assert loaded.CourseDirectory.db_url == f"sqlite:///{d / 'gradebook.db'}"  # no .gradebook-url
    assert not (d / ".gradebook-url").exists()
    stamp = json.loads((d / ".hipaa-lab-course.json").read_text())
    assert stamp["format"] == course.COURSE_FORMAT
    released = d / "exchange" / course.COURSE_ID / "outbound" / FIXTURE
    assert sorted(p.name for p in released.iterdir()) == [f"{FIXTURE}.ipynb"]


def test_release_includes_header_and_hides_solutions(fixture_course):
    d = fixture_course["dir"]
    released = course.released_notebook(d, FIXTURE)
    text = "\n".join(c.source for c in released.cells)
    assert released.cells[0].source == "# Fixture course header"
    for marker in MARKERS:
        assert marker not in text
    secret = course.solution_lines(course.source_notebook(d, FIXTURE))
    assert {"return x * 2", 'answer_q1 = "b"', "assert double(21) == 42"} <= secret
    assert "secret words" not in text
    assert not secret & {line.strip() for line in text.splitlines()}


def test_fixture_learners_scores(fixture_course):
    s = fixture_course["scores"]
    assert [o.learner for o in fixture_course["graded"]] == [
        "blank",
        "correct",
        "hardcoded",
        "partial",
    ]
    assert all(o.graded for o in fixture_course["graded"])
    assert s.loc["correct", "auto_score"] == s.loc["correct", "max_auto_score"] == 3
    assert s.loc["blank", "score"] == 0
    assert s.loc["partial", "auto_score"] == 2  # double right, Q1 wrong
    assert s.loc["hardcoded", "auto_score"] == 1  # the hidden test catches the hard-coded answer
    assert s.loc["correct", "max_score"] == 4 and bool(s.loc["correct", "needs_manual_grade"])
    assert "learner-roster-only" not in s.index
    assert s["autograded_at"].notna().all() and s["submitted_at"].notna().all()


def test_feedback_is_written_and_returned(fixture_course):
    d = fixture_course["dir"]
    assert len(fixture_course["html"]) == 4
    for who in ("correct", "blank"):
        html = d / "feedback" / who / FIXTURE / f"{FIXTURE}.html"
        assert html in fixture_course["html"]
        assert "double doubles" in html.read_text()
    returned = list((d / "exchange" / course.COURSE_ID / "feedback").glob("*.html"))
    assert len(returned) == 4


def test_simulated_learner_with_unknown_cell_is_refused(fixture_course):
    d = fixture_course["dir"]
    with pytest.raises(ValueError, match="double"):
        course.simulate_submission(
            course.released_notebook(d, FIXTURE),
            course.source_notebook(d, FIXTURE),
            {"no-such-cell": "x = 1"},
        )


def test_rebuild_refreshes_sources_and_keeps_work(fixture_course, tmp_path):
    d = tmp_path / "course"
    shutil.copytree(fixture_course["dir"], d)
    nbs = tmp_path / "notebooks"
    shutil.copytree(fixture_course["notebooks"], nbs)
    nb = nbformat.read(nbs / FIXTURE / f"{FIXTURE}.ipynb", as_version=4)
    nb.cells[0].source = "import math  # refreshed"
    nbformat.write(nb, nbs / FIXTURE / f"{FIXTURE}.ipynb")
    before = _checksums(d / "submitted")
    course.build(d, nbs)
    assert "# refreshed" in (d / "source" / FIXTURE / f"{FIXTURE}.ipynb").read_text()
    course.release(d)  # a second release replaces the first
    assert course.released_notebook(d, FIXTURE).cells[1].source == "import math  # refreshed"
    assert _checksums(d / "submitted") == before
    assert str(d / "exchange") in (d / "nbgrader_config.py").read_text()
    assert set(course.scores(d).learner) == {"blank", "correct", "hardcoded", "partial"}


@pytest.mark.parametrize("stale", ["older-format", "no-stamp"])
def test_stale_course_is_refused_and_untouched(fixture_course, tmp_path, stale, capsys):
    d = tmp_path / "course"
    shutil.copytree(fixture_course["dir"], d)
    stamp = d / ".hipaa-lab-course.json"
    if stale == "older-format":
        stamp.write_text(json.dumps({"format": 0, "hipaa_lab_version": "0.0.1"}))
    else:
        stamp.unlink()
    before = _checksums(d)
    with pytest.raises(StaleCourseError, match="Nothing in it was changed") as info:
        course.build(d, fixture_course["notebooks"])
    assert (
        ("format 0" in str(info.value))
        if stale == "older-format"
        else ("without a hipaa-lab stamp" in str(info.value))
    )
    status = cli.main(
        ["course", "build", "--course-dir", str(d), "--notebooks", str(fixture_course["notebooks"])]
    )
    assert status == 1
    assert "hipaa-lab course build --course-dir NEW_DIR" in capsys.readouterr().err
    with pytest.raises(StaleCourseError):
        course.autograde(d, FIXTURE)
    assert _checksums(d) == before


def test_non_course_folder_is_refused(fixture_course, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputNotEmptyError):
        course.build(tmp_path, fixture_course["notebooks"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_cli_scores_and_unknown_module(fixture_course, capsys):
    d = str(fixture_course["dir"])
    assert cli.main(["course", "scores", "--course-dir", d]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("learner,module,score,max_score,percent")
    assert len(out) == 5
    assert cli.main(["course", "autograde", "--course-dir", d, "--assignment", "m99-nothing"]) == 1
    assert "m90-fixture" in capsys.readouterr().err


def test_lab_command_prints_urls_and_stops_jupyterlab_when_terminated(fixture_course, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "course"
    shutil.copytree(fixture_course["dir"], d)
    course.build(d, fixture_course["notebooks"])  # the copy's config now names the copy
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hipaa_lab.cli", "lab", "--course-dir", str(d)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        url = re.search(r"(http://127\.0\.0\.1:\d+)/formgrader\?token=(\w+)", lines[2])
        assert url, lines
        assert "this lab is for one person on this computer, not for a class" in lines[3]
        with urllib.request.urlopen(
            f"{url[1]}/assignments?course_id={course.COURSE_ID}&token={url[2]}", timeout=30
        ) as r:
            assert json.load(r)["success"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url[1]}/api/status", timeout=1)
        except OSError:
            break
        time.sleep(0.3)
    else:
        pytest.fail("JupyterLab still answers after `hipaa-lab lab` was terminated")


class _Sleeper:
    """A stand-in server: a ``sleep`` process, and a record of :meth:`stop`."""

    def __init__(self, seconds: str) -> None:
        import subprocess

        self.process = subprocess.Popen(["sleep", seconds])
        self.stopped = False

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.stopped = True


def test_serve_until_signal_stops_the_server_on_sighup_and_restores_the_handlers():
    """The one wait of `hipaa-lab lab` and `hipaa-lab hub start`: a hang-up stops the server."""
    import os
    import signal
    import threading

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    server = _Sleeper("60")
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGHUP)).start()
    assert course.serve_until_signal(server) == 0
    assert server.stopped and server.process.returncode is not None
    assert {sig: signal.getsignal(sig) for sig in before} == before

    ended = _Sleeper("0")  # a server that ends by itself: its status, and stopped all the same
    assert course.serve_until_signal(ended) == 0 and ended.stopped


def test_lab_round_trip_fetch_submit_collect(fixture_course, tmp_path):
    """A learner fetches and submits in JupyterLab; the trainer's `course autograde` collects it."""
    import getpass

    d = tmp_path / "course"
    shutil.copytree(fixture_course["dir"], d)
    course.build(d, fixture_course["notebooks"])
    server = course.start_lab(d)
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor()
    )  # keeps the login cookie
    try:
        with browser.open(server.endpoint("formgrader"), timeout=30) as r:
            page = r.read().decode()
        assert r.url.endswith("/formgrader/manage_assignments"), r.url  # not the login page
        assert "Manage Assignments" in page
        url = server.endpoint("formgrader/api/assignments")
        with browser.open(url, timeout=30) as r:
            names = [a["name"] for a in json.load(r)]
        assert FIXTURE in names
        with urllib.request.urlopen(
            server.endpoint(f"assignments?course_id={course.COURSE_ID}"), timeout=30
        ) as r:
            listing = json.load(r)
        assert listing["success"], listing
        assert [a["assignment_id"] for a in listing["value"] if a["status"] == "released"] == [
            FIXTURE
        ]
        fetch = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/assignments/fetch",
            data=f"course_id={course.COURSE_ID}&assignment_id={FIXTURE}".encode(),
            headers={"Authorization": f"token {server.token}"},
            method="POST",
        )
        with urllib.request.urlopen(fetch, timeout=30) as r:
            assert json.load(r)["success"]
        fetched = d / "learner" / FIXTURE / f"{FIXTURE}.ipynb"
        assert "return x * 2" not in fetched.read_text()
        submit = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/assignments/submit",
            data=f"course_id={course.COURSE_ID}&assignment_id={FIXTURE}".encode(),
            headers={"Authorization": f"token {server.token}"},
            method="POST",
        )
        with urllib.request.urlopen(submit, timeout=30) as r:
            assert json.load(r)["success"]
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert cli.main(["course", "autograde", "--course-dir", str(d)]) == 0
    row = course.scores(d).set_index("learner").loc[getpass.getuser()]
    assert row.score == 0 and row.max_score == 4  # submitted as fetched: blank


# --------------------------------------------------------------------------- the real modules


@pytest.fixture(scope="module")
def module_course(tmp_path_factory, postgres_url):  # noqa: F811
    """Every real module built, released and graded once for four simulated learners, two at a
    time (parallel autograde, on a PostgreSQL gradebook: the hub's set-up)."""
    if not MODULES:
        pytest.skip("no modules in notebooks/ yet")
    root = tmp_path_factory.mktemp("modules-course")
    course_dir = course.build(root / "course", NOTEBOOKS, db_url=fresh_database(postgres_url))
    course.release(course_dir)
    for name in MODULES:
        released = course.released_notebook(course_dir, name)
        source = course.source_notebook(course_dir, name)
        learners = json.loads((NOTEBOOKS / name / "simulated-learners.json").read_text())
        course.submit(
            course_dir, "correct", name, course.simulate_submission(released, source, "correct")
        )
        course.submit(
            course_dir, "blank", name, course.simulate_submission(released, source, "blank")
        )
        course.submit(
            course_dir,
            "partial",
            name,
            course.simulate_submission(released, source, learners["partial"]),
        )
        if "hardcoded" in learners:
            course.submit(
                course_dir,
                "hardcoded",
                name,
                course.simulate_submission(released, source, learners["hardcoded"], base="correct"),
            )
        course.autograde(course_dir, name, jobs=2)
        course.feedback(course_dir, name)
    return course_dir, course.scores(course_dir)


def _score(scores, learner: str, module: str):
    row = scores[(scores.learner == learner) & (scores.module == module)]
    assert len(row) == 1, f"no score for {learner} in {module}"
    return row.iloc[0]


def _sliced(get_msg):
    """``get_msg`` of a kernel client's channel, polling one second at a time up to its timeout.

    The asyncio client can miss the wake-up of a reply already in its socket (seen in the full
    suite: the client and the kernel both idle, the reply found only when the 600 s poll ran
    out and pyzmq polled the socket one last time). Each slice ends with that last poll, so a
    lost wake-up costs a second instead of the cell's whole timeout.
    """
    import time
    from queue import Empty

    async def get(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                return await get_msg(timeout=1.0 if left is None else max(0.0, min(1.0, left)))
            except Empty:
                if left is not None and left <= 1.0:
                    raise

    return get


@pytest.mark.parametrize("module", MODULES)
def test_source_notebook_runs_top_to_bottom(module, tmp_path):
    from nbclient import NotebookClient

    class Client(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            kc.shell_channel.get_msg = _sliced(kc.shell_channel.get_msg)
            kc.iopub_channel.get_msg = _sliced(kc.iopub_channel.get_msg)
            return kc

    nb = nbformat.read(NOTEBOOKS / module / f"{module}.ipynb", as_version=4)
    Client(
        nb,
        timeout=600,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors


@pytest.mark.parametrize("module", MODULES)
def test_solutions_get_full_marks(module_course, module):
    row = _score(module_course[1], "correct", module)
    assert row.max_auto_score > 0
    assert row.auto_score == row.max_auto_score


@pytest.mark.parametrize("module", MODULES)
def test_release_leaks_no_solution(module_course, module):
    course_dir = module_course[0]
    released = course.released_notebook(course_dir, module)
    text = "\n".join(c.source for c in released.cells)
    for marker in MARKERS:
        assert marker not in text
    secret = course.solution_lines(course.source_notebook(course_dir, module))
    assert secret, "the source notebook has no solution lines: is it in nbgrader's source format?"
    leaked = secret & {line.strip() for line in text.splitlines()}
    assert not leaked
    shipped = course_dir / "exchange" / course.COURSE_ID / "outbound" / module
    assert sorted(p.name for p in shipped.rglob("*") if p.is_file()) == [f"{module}.ipynb"]


@pytest.mark.parametrize("module", MODULES)
def test_blank_release_scores_zero(module_course, module):
    assert _score(module_course[1], "blank", module).score == 0


@pytest.mark.parametrize("module", MODULES)
def test_partial_learner_gets_partial_marks(module_course, module):
    row = _score(module_course[1], "partial", module)
    assert 0 < row.auto_score < row.max_auto_score


@pytest.mark.parametrize("module", MODULES)
def test_hardcoded_learner_falls_short(module_course, module):
    learners = json.loads((NOTEBOOKS / module / "simulated-learners.json").read_text())
    assert "hardcoded" in learners, (
        f"{module}/simulated-learners.json has no 'hardcoded' learner: add answers that pass the visible "
        "tests on the sample study only, so this test can show the hidden checks catch them"
    )
    row = _score(module_course[1], "hardcoded", module)
    assert row.auto_score < row.max_auto_score


@pytest.mark.parametrize("module", MODULES)
def test_feedback_html_is_written(module_course, module):
    for who in ("correct", "blank", "partial"):
        html = module_course[0] / "feedback" / who / module / f"{module}.html"
        assert html.is_file() and re.search(r"<html", html.read_text(), re.I)


@pytest.mark.parametrize("action", ["release", "autograde", "feedback"])
def test_a_missing_course_dir_says_to_build_first(action, tmp_path, capsys):
    assert cli.main(["course", action, "--course-dir", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "hipaa-lab course build" in err and "missing" in err


@pytest.mark.parametrize("module", MODULES)
def test_the_release_keeps_the_policy_and_a_submission_its_version(module_course, module):
    from hipaa_lab.records.attest import (
        ACKNOWLEDGEMENT_TAG,
        POLICY_TAG,
        content_version,
        read_acknowledgement,
    )

    course_dir = module_course[0]
    release = course_dir / "release" / module
    nb = nbformat.read(release / f"{module}.ipynb", as_version=4)
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert tags.count(POLICY_TAG) == 1 and tags.count(ACKNOWLEDGEMENT_TAG) == 1
    submitted = course_dir / "submitted" / "correct" / module
    assert content_version(submitted) == content_version(release)
    assert read_acknowledgement(submitted) is None  # the simulated learner typed no name
