"""A learner whose work was graded and returned sees it in the lab, in Chromium.

A small course of two modules (``test_progress``'s module and a copy) is built and released;
``hipaa-lab lab``'s JupyterLab (``course.start_lab``) serves it to one learner (nbgrader's id for
the account the tests run as). Through the
lab's own nbgrader endpoints (those its assignment list calls) the learner fetches the first module, works
(one wrong answer, a script as her written answer) and submits; the trainer collects, autogrades,
grades the written answer and returns feedback; the learner fetches it. In Chromium they choose
*Course > My progress and feedback* (a browser tab): the first module reads "feedback: not yet 2/4" with the pass
mark, the second "not fetched"; "view feedback" opens the feedback, whose banner says not yet and
what to retry, and nothing the learner wrote runs as a script. Every request stays on this machine.
Screenshots: ``test-artifacts/progress-*.png``.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import ARTIFACTS
from nbgrader.utils import get_username
from test_browser import CHROMIUM, CHROMIUM_ARGS
from test_offline import _is_local
from test_progress import MODULE, learner_answers, module_notebooks

from hipaa_lab import course
from hipaa_lab.course.build import COURSE_ID

OTHER = "m94-progress-later"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing (`make test` installs Debian's chromium)",
    ),
]


def _post(lab: course.LabServer, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        lab.endpoint(path).split("?token=")[0],
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict = json.load(response)
    return answer


@pytest.fixture(scope="module")
def returned(tmp_path_factory: pytest.TempPathFactory, serve_lab) -> Iterator[course.LabServer]:
    """The lab, once the learner's first module was graded and its feedback fetched."""
    root = tmp_path_factory.mktemp("progress-lab")
    notebooks = module_notebooks(root)
    (notebooks / OTHER).mkdir()
    shutil.copy(notebooks / MODULE / f"{MODULE}.ipynb", notebooks / OTHER / f"{OTHER}.ipynb")
    course_dir = course.build(root / "course", notebooks)
    course.release(course_dir)
    # nbgrader's cache of fetched and submitted work lives in JUPYTER_DATA_DIR: this course's
    # alone, not the other test courses' of the session (an "m90-fixture" row otherwise)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("JUPYTER_DATA_DIR", str(root / "jupyter-data"))
        with serve_lab(course_dir, "progress") as lab:
            _grade_and_return(course_dir, lab)
            yield lab


def _grade_and_return(course_dir: Path, lab: course.LabServer) -> None:
    """Through the lab the learner fetches, works and submits; the trainer collects,
    autogrades, grades the written answer and returns the feedback; the learner fetches it."""
    learner = get_username()  # nbgrader's learner id: the account the lab runs as
    ids = {"course_id": COURSE_ID, "assignment_id": MODULE}
    assert _post(lab, "assignments/fetch", ids)["success"]
    fetched = course_dir / "learner" / MODULE / f"{MODULE}.ipynb"
    work = learner_answers(
        nbformat.read(fetched, as_version=4), course.source_notebook(course_dir, MODULE)
    )
    nbformat.write(work, fetched)
    assert _post(lab, "assignments/submit", ids)["success"]
    course.collect(course_dir, MODULE)
    assert [o.learner for o in course.autograde(course_dir, MODULE) if o.graded] == [learner]
    assert course.grade_by_hand(course_dir, MODULE, learner, 1.0) == 1
    assert course.feedback(course_dir, MODULE)
    assert _post(lab, "assignments/fetch_feedback", ids)["success"]


@pytest.fixture(scope="module")
def seen(returned: course.LabServer) -> Iterator[dict]:
    from playwright.sync_api import sync_playwright

    lab = returned
    found: dict = {"requests": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 850})
            context.on("request", lambda r: found["requests"].append(r.url))
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(lab.url)
            page.wait_for_selector(".jp-Launcher", timeout=90_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Course").click()
            with context.expect_page() as opened:
                page.locator(".lm-Menu-itemLabel", has_text="My progress and feedback").click()
            mine = opened.value
            rows = mine.locator("tr.module")
            rows.first.wait_for()
            found["rows"] = {r.get_attribute("data-module"): r.inner_text() for r in rows.all()}
            mine.screenshot(path=str(ARTIFACTS / "progress-list.png"), full_page=True)
            mine.locator(f'tr[data-module="{MODULE}"] a.view-feedback').click()
            banner = mine.locator("#hipaa-lab-result")
            banner.wait_for()
            found["banner"] = banner.inner_text()
            found["verdict"] = banner.get_attribute("data-verdict")
            found["pwned"] = [
                f.evaluate("() => window.__pwned === undefined ? null : window.__pwned")
                for f in mine.frames
            ]
            mine.screenshot(path=str(ARTIFACTS / "progress-feedback.png"))
            yield found
        finally:
            browser.close()


def test_the_lab_shows_each_module_status_and_score(seen):
    rows = seen["rows"]
    assert set(rows) == {MODULE, OTHER}
    assert "feedback: not yet 2/4" in rows[MODULE]
    assert "2 / 4" in rows[MODULE] and "3.2 (80%)" in rows[MODULE]  # score and pass mark
    assert "view feedback" in rows[MODULE]
    assert "not fetched" in rows[OTHER]


def test_view_feedback_opens_it_with_the_verdict_and_what_to_retry(seen):
    assert seen["verdict"] == "not_yet"
    text = seen["banner"]
    assert "Not yet passed" in text and "What to retry" in text
    assert "answer_check" in text and 'the answer is "b"' in text and "<b>not</b>" in text
    assert "count_check" not in text  # full points


def test_the_progress_api_says_the_same(returned):
    request = urllib.request.Request(
        returned.endpoint("hipaa-lab/api/progress").split("?token=")[0],
        headers={"Authorization": f"token {returned.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        modules = {m["module"]: m for m in json.load(response)}
    assert modules[MODULE]["verdict"] == "not yet" and modules[MODULE]["label"] == (
        "feedback: not yet 2/4"
    )
    assert modules[MODULE]["result"]["threshold"] == 0.8
    assert modules[OTHER]["status"] == "not fetched" and modules[OTHER]["result"] is None


def test_nothing_the_learner_wrote_runs_and_nothing_leaves_the_machine(seen):
    assert not any(seen["pwned"]), seen["pwned"]
    outside = sorted({u for u in seen["requests"] if not _is_local(u)})
    assert not outside, outside
