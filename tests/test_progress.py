"""What the learner sees: the pass mark, the result atop the feedback, the progress listing."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import nbgrader_meta, write_module
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hipaa_lab import course
from hipaa_lab.course import progress
from hipaa_lab.course.progress import Part, Result, Verdict, judge

MODULE = "m93-progress"
LEARNER = "bea"
#: a check's message carrying quotes and markup, as learner-influenced text can
QUOTED = "the answer is \"b\" ('b' & <b>not</b> a)"
SCRIPT = "<script>window.__pwned = 1</script>"


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("score", "most", "threshold", "pending", "verdict"),
    [
        (16, 20, 0.8, False, Verdict.PASSED),  # exactly the pass mark passes, as in the records
        (15.99, 20, 0.8, False, Verdict.NOT_YET),
        (20, 20, 0.8, False, Verdict.PASSED),
        (0, 20, 0.8, False, Verdict.NOT_YET),
        (0, 0, 0.8, False, Verdict.NOT_YET),  # nothing gradable is not a pass
        (20, 20, 0.8, True, Verdict.AWAITING_TRAINER),  # never judged while a trainer grades
        (3, 20, 0.8, True, Verdict.AWAITING_TRAINER),
    ],
)
def test_judge(score, most, threshold, pending, verdict):
    assert judge(score, most, threshold, pending=pending) is verdict


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_judge_refuses_a_threshold_that_is_not_a_share(threshold):
    with pytest.raises(ValueError, match="share"):
        judge(1, 2, threshold, pending=False)


def test_judge_agrees_with_the_records_rule():
    # records.sync: PASSED if score >= threshold * most
    for score in (0, 7.9, 8, 8.0001, 10):
        expected = score >= 0.8 * 10
        assert (judge(score, 10, 0.8, pending=False) is Verdict.PASSED) is expected


def test_pass_mark_comes_from_the_curricula(tmp_path):
    text = (Path(progress.__file__).parent.parent / "data" / "curricula.toml").read_text()
    text = text.replace("pass_threshold = 0.80", "pass_threshold = 0.70")
    text = text.replace(
        'title = "De-identifying images"', 'title = "De-identifying images"\npass_threshold = 0.9'
    )
    site = tmp_path / "curricula.toml"
    site.write_text(text)
    assert progress.pass_threshold("m01-phi-in-images") == 0.8
    assert progress.pass_threshold("m01-phi-in-images", site) == 0.7
    assert progress.pass_threshold("m02-deidentifying-images", site) == 0.9


def test_the_module_notebooks_state_their_pass_mark_from_the_one_source():
    from hipaa_lab.course.build import find_notebooks

    for module in course.assignments():
        nb = nbformat.read(find_notebooks() / module / f"{module}.ipynb", as_version=4)
        opening = [c for c in nb.cells[:3] if c.cell_type == "code"]
        assert any(f'hl.widgets.pass_mark("{module}")' in c.source for c in opening), module
        # no second copy of the number in the notebook's text
        assert not re.search(r"pass mark[^.\n]*\d+\s*%", "\n".join(c.source for c in nb.cells))
    mark = progress.pass_mark_note("m01-phi-in-images")
    assert mark.threshold == 0.8 and mark.points and mark.pass_points == round(0.8 * mark.points, 2)
    assert "80%" in str(mark) and "80%" in mark._repr_html_()


def test_the_pass_mark_reads_the_points_from_the_release(tmp_path, monkeypatch):
    """On a hub the package's notebooks are closed to learners: the points come from the module
    as released to them (nbgrader's exchange), found by the learner's nbgrader configuration,
    read as text and never run: a hub's (JUPYTER_CONFIG_PATH), or hipaa-lab lab's learner/
    folder above the fetched notebook's."""
    import importlib
    import shutil

    build = importlib.import_module("hipaa_lab.course.build")  # the module, not course.build
    module = "m01-phi-in-images"
    exchange = tmp_path / "exchange"
    (exchange / "hipaa-lab" / "outbound" / module).mkdir(parents=True)
    checks = [nbgrader_meta(f"q{n}", grade=True, locked=True, points=n) for n in (2, 3)]
    nb = new_notebook(cells=[new_code_cell("assert True", metadata=m) for m in checks])
    nbformat.write(nb, exchange / "hipaa-lab" / "outbound" / module / f"{module}.ipynb")
    config = tmp_path / "learner-config"
    config.mkdir()
    (config / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        "c.CourseDirectory.course_id = 'hipaa-lab'\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "raise SystemExit('a configuration file is read, never run')\n"
    )

    def closed():
        raise AssertionError("the package's notebooks are not read when a release is at hand")

    monkeypatch.setattr(build, "find_notebooks", closed)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    monkeypatch.chdir(tmp_path)
    assert progress._module_points(module) == 5

    monkeypatch.delenv("JUPYTER_CONFIG_PATH")
    learner = tmp_path / "course" / "learner"
    (learner / module).mkdir(parents=True)
    shutil.move(config / "nbgrader_config.py", learner / "nbgrader_config.py")
    monkeypatch.chdir(learner / module)  # a kernel runs in its notebook's folder
    assert progress._module_points(module) == 5


# --------------------------------------------------------------------------- the banner


def _result(**kw) -> Result:
    parts = (
        Part("q1_check", 0, 1, about="Q1 is answered with one of the options.", message=QUOTED),
        Part("find_names", 1.5, 2, about="Credit for names <found>", message=SCRIPT),
        Part("q2_check", 1, 1),
        Part("essay", 0, 2, written=True, about="written answer"),
    )
    values = {"module": "m01-x", "score": 2.5, "max_score": 6, "threshold": 0.8, "parts": parts}
    values.update(kw)
    return Result(**values)


def test_banner_says_not_yet_and_what_to_retry_escaped():
    page = progress.banner_html(_result())
    assert "Not yet passed" in page
    assert "Score <strong>2.5 / 6</strong>" in page and "pass mark <strong>4.8 / 6</strong>" in page
    assert "What to retry" in page
    assert html.escape(QUOTED) in page and QUOTED not in page
    assert "<script>" not in page and html.escape(SCRIPT) in page
    assert "&lt;found&gt;" in page
    visible = re.sub(r'data-result="[^"]*"', "", page)
    assert "q2_check" not in visible  # full points: nothing to retry
    assert "essay" in visible  # a graded written answer with no points is retried too


def test_banner_states_answers_waiting_for_a_trainer_not_as_failed():
    parts = (Part("q1_check", 1, 1), Part("essay", 0, 2, written=True, pending=True))
    result = _result(score=1, max_score=3, parts=parts)
    assert result.verdict is Verdict.AWAITING_TRAINER and result.to_retry == []
    page = progress.banner_html(result)
    assert "Not graded yet by a trainer, and not counted as failed" in page
    assert "<strong>essay</strong> (2 points)" in page
    assert "(1 point)" in progress.banner_html(_result(parts=(Part("e", 0, 1, pending=True),)))
    assert "Not yet passed" not in page and "What to retry" not in page
    assert result.label == "waiting for a trainer 1/3 so far"


def test_banner_says_passed():
    result = _result(score=5, parts=(Part("q1_check", 1, 1),))
    page = progress.banner_html(result)
    assert result.label == "passed 5/6"
    assert "Passed" in page and "You passed this module." in page and "retry" not in page


def test_result_reads_back_from_the_banner_and_a_forged_one_does_not():
    result = _result()
    page = "<html><body>" + progress.banner_html(result) + "</body></html>"
    assert progress.read_result(page) == result
    assert progress.read_result("<p>no result</p>") is None
    forged = progress.banner_html(result).replace('"score": 2.5', '"score": "lots"')
    forged = forged.replace("&quot;score&quot;: 2.5", "&quot;score&quot;: &quot;lots&quot;")
    assert progress.read_result(forged) is None
    broken = re.sub(r'data-result="[^"]*"', 'data-result="{not json"', progress.banner_html(result))
    assert progress.read_result(broken) is None


def test_parts_from_a_feedback_notebook():
    check = new_code_cell('"""Q1 is answered."""\nhl.grading.check_choice(answer, "abcd")')
    check.metadata = {"nbgrader": {"grade": True, "grade_id": "q1", "points": 2, "score": 0}}
    check.outputs = [
        nbformat.v4.new_output("error", ename="GradingError", evalue=QUOTED, traceback=[])
    ]
    essay = new_markdown_cell("my answer")
    essay.metadata = {
        "nbgrader": {"grade": True, "solution": True, "grade_id": "essay", "points": 2, "score": 0}
    }
    plain = new_markdown_cell("text")
    parts = progress.parts_from_notebook(new_notebook(cells=[check, essay, plain]), ["essay"])
    assert parts == (
        Part("q1", 0, 2, about="Q1 is answered.", message=QUOTED),
        Part("essay", 0, 2, written=True, pending=True, about="written answer"),
    )


def test_progress_page_escapes_what_it_shows():
    evil = _result(module=f'm01"{SCRIPT}')
    page = progress.progress_html(
        [
            progress.ModuleProgress("m01-a", "not fetched"),
            progress.ModuleProgress(
                "m02-b", "feedback", "t", evil, ("learner/m02 b/feedback/x.html",)
            ),
        ],
        "/user/x/",
    )
    assert "<script>" not in page
    assert 'href="/user/x/files/learner/m02%20b/feedback/x.html"' in page
    assert "feedback: not yet 2.5/6" in page and "Fetch it in" in page


# --------------------------------------------------------------------------- nbgrader's feedback


def module_notebooks(root: Path) -> Path:
    """A header and one small module: two checks and a written answer."""
    cells = [
        new_code_cell(
            '### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION',
            metadata=nbgrader_meta("answer", solution=True),
        ),
        new_code_cell(
            f'"""The answer is one letter."""\nassert len(answer) == 1, {QUOTED!r}',
            metadata=nbgrader_meta("answer_check", grade=True, locked=True, points=2),
        ),
        new_code_cell(
            "### BEGIN SOLUTION\ncount = 3\n### END SOLUTION",
            metadata=nbgrader_meta("count", solution=True),
        ),
        new_code_cell(
            '"""count is 3."""\nassert count == 3, "count the files again"',
            metadata=nbgrader_meta("count_check", grade=True, locked=True, points=1),
        ),
        new_markdown_cell(
            "YOUR ANSWER HERE",
            metadata=nbgrader_meta("essay", grade=True, solution=True, points=1),
        ),
    ]
    return write_module(root, MODULE, "Progress", cells)


def learner_answers(released, source):
    """A learner who gets the letter wrong (with markup in it) and writes a script as the essay."""
    nb = course.simulate_submission(
        released, source, {"answer": f"answer = {SCRIPT!r}"}, base="correct"
    )
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "essay":
            cell.source = f'My answer {SCRIPT} and "quotes"'
    return nb


@pytest.fixture(scope="module")
def fed_back(tmp_path_factory: pytest.TempPathFactory, make_graded_course) -> Path:
    root = tmp_path_factory.mktemp("progress-course")
    return make_graded_course(root, module_notebooks(root), LEARNER, MODULE, learner_answers)


def _feedback(course_dir: Path) -> str:
    return (course_dir / "feedback" / LEARNER / MODULE / f"{MODULE}.html").read_text()


@pytest.mark.slow
def test_feedback_starts_with_the_result(fed_back):
    page = _feedback(fed_back)
    result = progress.read_result(page)
    assert result is not None
    assert (result.score, result.max_score, result.threshold) == (1, 4, 0.8)
    assert result.verdict is Verdict.AWAITING_TRAINER  # the essay waits for a trainer
    assert [p.grade_id for p in result.to_retry] == ["answer_check"]
    assert [p.grade_id for p in result.pending] == ["essay"]
    assert result.to_retry[0].message == QUOTED
    body = page[page.index("<body") :]
    assert body.index(progress.RESULT_ID) < body.index("(Score: 1.0 / 4.0)")  # before nbgrader's
    assert "Not graded yet by a trainer, and not counted as failed" in body
    # the check's message, quotes and markup, shows as text (the page may be re-serialised)
    assert "&lt;b&gt;not&lt;/b&gt;" in body and "<b>not</b>" not in body
    # nothing the learner wrote becomes a script: no <script> in the body but the page's own
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", body, flags=re.S)
    assert not any("__pwned" in s for s in scripts)


@pytest.mark.slow
def test_feedback_after_the_trainer_grades_says_not_yet(fed_back):
    course.grade_by_hand(fed_back, MODULE, LEARNER, 1.0)
    course.feedback(fed_back, MODULE)
    result = progress.read_result(_feedback(fed_back))
    assert result is not None and result.verdict is Verdict.NOT_YET
    assert result.label == "not yet 2/4" and not result.pending
    page = _feedback(fed_back)
    assert "Not yet passed" in page and "What to retry" in page
    assert json.loads(html.unescape(re.search(r'data-result="([^"]*)"', page)[1]))["score"] == 2


def test_listing_gives_each_status_and_reads_the_fetched_feedback(tmp_path):
    """nbgrader's assignment-list listing, as its handler returns it, to statuses."""
    fetched = tmp_path / "learner" / "m03-c" / "feedback" / "t2" / "m03-c.html"
    fetched.parent.mkdir(parents=True)
    fetched.write_text("<html><body>" + progress.banner_html(_result(module="m03-c")) + "</body>")
    plain = tmp_path / "learner" / "m05-e" / "feedback" / "t1" / "m05-e.html"
    plain.parent.mkdir(parents=True)
    plain.write_text("<html><body>nbgrader's page, made before the result existed</body>")

    def submitted(name: str, *subs: dict) -> dict:
        return {"assignment_id": name, "status": "submitted", "submissions": list(subs)}

    listing = [
        {"assignment_id": "m01-a", "status": "released"},
        {"assignment_id": "m02-b", "status": "fetched"},
        {"assignment_id": "m03-c", "status": "fetched"},
        submitted(
            "m03-c",
            {
                "timestamp": "t2",
                "has_local_feedback": True,
                "notebooks": [{"local_feedback_path": str(fetched)}],
            },
            {"timestamp": "t1", "has_local_feedback": False},
        ),
        submitted("m04-d", {"timestamp": "t1", "has_exchange_feedback": True}),
        submitted(
            "m05-e",
            {
                "timestamp": "t1",
                "has_local_feedback": True,
                "notebooks": [{"local_feedback_path": str(plain)}],
            },
        ),
        submitted("m06-f", {"timestamp": "t1"}),
    ]
    got = {m.module: m for m in progress._from_listing(listing, tmp_path)}
    assert {k: m.label for k, m in got.items()} == {
        "m01-a": "not fetched",
        "m02-b": "in progress",
        "m03-c": "feedback: not yet 2.5/6",
        "m04-d": "feedback ready to fetch",
        "m05-e": "feedback: no result in it",
        "m06-f": "submitted",
    }
    assert got["m03-c"].feedback == ("learner/m03-c/feedback/t2/m03-c.html",)
    assert got["m03-c"].submitted_at == "t2"  # the latest submission
