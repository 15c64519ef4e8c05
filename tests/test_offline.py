"""No page of the lab, the formgrader or the feedback loads anything from outside the machine.

A small course (one module with formulas in its text) is built, released, submitted by one
learner, autograded and fed back; ``hipaa-lab lab``'s JupyterLab (``course.start_lab``) serves it.
Chromium opens JupyterLab, the formgrader, the submission's grading page and the feedback HTML,
while every request it makes (and every websocket it opens) is recorded: each must go to
127.0.0.1 or localhost, or be a data:/blob: URL. Formulas are typeset by MathJax served by the
Jupyter server itself. Screenshots are kept in ``test-artifacts/offline-*.png``.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS, nbgrader_meta, write_module
from nbformat.v4 import new_code_cell, new_markdown_cell
from test_browser import CHROMIUM, CHROMIUM_ARGS

from hipaa_lab import course

MODULE = "m91-formulas"
LEARNER = "alice"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
MATH_SECONDS = 30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing (`make test` installs Debian's chromium)",
    ),
]


def _notebooks(root: Path) -> Path:
    """A header and one module whose text and grade cell hold formulas."""
    cells = [
        new_markdown_cell(
            "A 5-digit ZIP code area of $n$ people: Safe Harbor keeps 3 digits only when"
            " $\\sum_{z \\in Z} n_z > 20\\,000$, that is\n\n"
            "$$\\frac{k}{N} = \\int_0^1 x^2\\,dx = \\tfrac{1}{3}$$",
            metadata=nbgrader_meta("text", locked=True),
        ),
        new_code_cell(
            '### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION',
            metadata=nbgrader_meta("answer", solution=True),
        ),
        new_code_cell(
            '"""The answer is $b$."""\nassert answer == "b"',
            metadata=nbgrader_meta("answer_check", grade=True, locked=True, points=1),
        ),
    ]
    return write_module(root, MODULE, "Formulas", cells)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory, make_graded_course) -> Path:
    root = tmp_path_factory.mktemp("offline-course")
    return make_graded_course(
        root,
        _notebooks(root),
        LEARNER,
        MODULE,
        lambda released, source: course.simulate_submission(released, source, "correct"),
    )


@pytest.fixture(scope="module")
def lab(graded_course: Path, serve_lab) -> Iterator[course.LabServer]:
    with serve_lab(graded_course, "offline") as server:
        yield server


def _api(lab: course.LabServer, path: str) -> object:
    request = urllib.request.Request(
        lab.endpoint(path).split("?token=")[0], headers={"Authorization": f"token {lab.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def visits(lab: course.LabServer, graded_course: Path) -> Iterator[dict]:
    """Chromium through the lab, the formgrader, a grading page and a feedback page; every
    request recorded."""
    from playwright.sync_api import sync_playwright

    requests: list[tuple[str, str]] = []  # (page, URL)
    where = {"page": "lab"}
    found: dict = {"requests": requests}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            context.on("request", lambda r: requests.append((where["page"], r.url)))
            page = context.new_page()
            page.on("websocket", lambda ws: requests.append((where["page"], ws.url)))
            page.set_default_timeout(60_000)

            page.goto(lab.url)
            page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
            page.wait_for_selector(".jp-Launcher", timeout=90_000)
            page.wait_for_timeout(5_000)  # the news and update checks run shortly after start
            found["toasts"] = page.locator(".Toastify__toast").all_inner_texts()
            found["page_config"] = page.evaluate(
                "() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
            )
            page.screenshot(path=str(ARTIFACTS / "offline-lab.png"))

            where["page"] = "formgrader"
            page.goto(lab.endpoint("formgrader"))
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(ARTIFACTS / "offline-formgrader.png"), full_page=True)

            where["page"] = "grading"
            submissions = _api(lab, f"formgrader/api/submitted_notebooks/{MODULE}/{MODULE}")
            assert isinstance(submissions, list) and submissions, submissions
            page.goto(lab.endpoint(f"formgrader/submissions/{submissions[0]['id']}/"))
            found["grading_math"] = _wait_for_math(page)
            page.screenshot(path=str(ARTIFACTS / "offline-grading.png"), full_page=True)

            where["page"] = "feedback"
            html = graded_course / "feedback" / LEARNER / MODULE / f"{MODULE}.html"
            found["feedback_html"] = html.read_text()
            page.goto(lab.endpoint(f"files/feedback/{LEARNER}/{MODULE}/{MODULE}.html"))
            found["feedback_math"] = _wait_for_math(page)
            page.screenshot(path=str(ARTIFACTS / "offline-feedback.png"), full_page=True)
            (ARTIFACTS / "offline-requests.txt").write_text(
                "".join(f"{page_name}\t{url}\n" for page_name, url in requests)
            )
            yield found
        finally:
            browser.close()


def _wait_for_math(page) -> int:
    """Wait until MathJax has typeset the page; return how many formulas it drew (0: it never
    loaded, as when it is asked of a CDN this machine cannot reach)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.Hub && MathJax.isReady"
            " && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running",
            timeout=MATH_SECONDS * 1000,
        )
    except PlaywrightTimeout:
        return 0
    deadline = time.monotonic() + 10
    count = 0
    while time.monotonic() < deadline:
        count = page.locator(".MathJax, .MathJax_Display, .MathJax_SVG").count()
        if count:
            break
        page.wait_for_timeout(250)
    return count


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


def test_every_request_stays_on_this_machine(visits):
    requests = visits["requests"]
    pages = {page for page, _ in requests}
    assert {"lab", "formgrader", "grading", "feedback"} <= pages, pages
    outside = sorted({f"{page}: {url}" for page, url in requests if not _is_local(url)})
    assert not outside, "requests that leave the machine:\n" + "\n".join(outside)


def test_formulas_are_typeset_from_the_local_server(visits):
    assert visits["grading_math"] >= 2
    assert visits["feedback_math"] >= 2
    mathjax = [url for _, url in visits["requests"] if "MathJax.js" in url]
    assert mathjax and all("/static/jupyter_server_mathjax/" in url for url in mathjax)


def test_feedback_html_names_no_cdn(visits):
    html = visits["feedback_html"]
    assert "cdnjs" not in html and "cdn.jsdelivr" not in html
    assert "static/jupyter_server_mathjax/MathJax.js" in html


def test_lab_fetches_no_news_and_checks_no_updates(visits, lab):
    assert not [t for t in visits["toasts"] if "news" in t.lower()], visits["toasts"]
    assert visits["page_config"]["news"] == {"disabled": True}
    assert _api(lab, "lab/api/news") == {"news": []}
    assert _api(lab, "lab/api/update") == {"notification": None}
