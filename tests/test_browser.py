"""Modules 1, 3 and 4 run in a real JupyterLab, driven in Chromium: what a learner must see renders.

The module starts one JupyterLab (isolated HOME, Jupyter and cache folders, a random token and a
free port) on copies of the modules' source notebooks; for each module it opens the notebook in
its own browser context, runs all cells from the Run menu and checks the DOM: module 1's image and
study browser (which it then uses), module 3's decisions and audit-trail tables, module 4's plot of
accesses per user per hour and its filterable audit table (which it then filters). Full-page screenshots and the server log are kept in
``test-artifacts/`` at the repository root. Playwright drives Debian's Chromium
(``/usr/bin/chromium``); ``playwright install`` is not needed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "m01-phi-in-images" / "m01-phi-in-images.ipynb"
M03 = ROOT / "notebooks" / "m03-who-may-see-this-study" / "m03-who-may-see-this-study.ipynb"
M04 = ROOT / "notebooks" / "m04-reading-the-audit-log" / "m04-reading-the-audit-log.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Source line of the cell that shows the CT slice, and of the cell that shows the study browser.
SHOW_IMAGE_SOURCE = "hl.widgets.show_image(ct, ct_key)"
BROWSER_SOURCE = "hl.widgets.StudyBrowser(folder, key)"
SAFE_HARBOR_SOURCE = "hl.widgets.safe_harbor_table()"

SERVER_START_SECONDS = 60
KERNEL_START_SECONDS = 60
RUN_ALL_SECONDS = 240
RENDER_SECONDS = 30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing (`make test` installs Debian's chromium)",
    ),
]

# Settings for the isolated JupyterLab: no news toast over the screenshots, and every cell kept in
# the DOM (no windowing) so that the checks below see the whole notebook.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class Lab:
    """A running JupyterLab server of this test module."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def api(self, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _isolated_env(tmp: Path) -> dict[str, str]:
    venv_bin = Path(sys.prefix) / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "MPL"))}
    # MPLBACKEND=Agg (as set by some test runners) would make plt.show() display nothing.
    env.pop("MPLBACKEND", None)
    dirs = {
        "HOME": tmp / "home",
        "JUPYTER_CONFIG_DIR": tmp / "jupyter" / "config",
        "JUPYTER_DATA_DIR": tmp / "jupyter" / "data",
        "JUPYTER_RUNTIME_DIR": tmp / "jupyter" / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": tmp / "jupyter" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": tmp / "jupyter" / "lab" / "workspaces",
        "IPYTHONDIR": tmp / "ipython",
        "MPLCONFIGDIR": tmp / "matplotlib",
        "XDG_CACHE_HOME": tmp / "xdg-cache",
        "XDG_CONFIG_HOME": tmp / "xdg-config",
        "HIPAA_LAB_CACHE": tmp / "hipaa-lab-cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({k: str(v) for k, v in dirs.items()})
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(lab: Lab) -> None:
    """Stop the server and its kernels: ask through the API, then signal the process group it leads."""
    process = lab.process
    if process.poll() is None:
        try:
            request = urllib.request.Request(
                f"{lab.url}/api/shutdown",
                method="POST",
                headers={"Authorization": f"token {lab.token}"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            process.wait(15)
        except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
            pass
    # Kernels share the server's process group: signal the group so that none outlives the test.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            continue
    process.wait(5)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    env = _isolated_env(tmp)
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    root = tmp / "root"
    root.mkdir()
    for notebook in (NOTEBOOK, M03, M04):
        shutil.copy(notebook, root / notebook.name)
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("browser-*"):
        old.unlink()
    log = ARTIFACTS / "browser-jupyter.log"
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        str(Path(sys.prefix) / "bin" / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.token={token}",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not answer in {SERVER_START_SECONDS} s:\n{server.log_tail()}"
                    )
                time.sleep(0.25)
        yield server
    finally:
        _stop(server)


#: Every URL the browser asked for while module 1 ran (requests and websockets).
REQUESTED: list[str] = []


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium for the modules; each opens its notebook in a context of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _notebook_page(
    browser, lab: Lab, name: str, request: pytest.FixtureRequest, requested: list[str]
) -> Iterator:
    """``name`` open in a new browser context, its kernel idle; URLs asked for go to
    ``requested``. A screenshot is kept when a test using it failed."""
    failed_before = request.session.testsfailed
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        context.on("request", lambda r: requested.append(r.url))
        page = context.new_page()
        page.on("websocket", lambda ws: requested.append(ws.url))
        page.set_default_timeout(RENDER_SECONDS * 1000)
        messages: list[str] = []
        page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
        # a workspace of its own, reset: another module's notebook is not restored beside it
        page.goto(f"{lab.url}/lab/workspaces/{name[:3]}/tree/{name}?reset&token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=KERNEL_START_SECONDS * 1000)
        _wait_for_idle_kernel(page, lab, name, KERNEL_START_SECONDS)
        yield page
        if request.session.testsfailed > failed_before:
            _screenshot(page, f"failure-{name[:3]}")
        for message in messages:
            print(message)
    finally:
        context.close()


@pytest.fixture(scope="module")
def page(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator:
    with _notebook_page(browser, lab, NOTEBOOK.name, request, REQUESTED) as page:
        yield page


def _kernel_states(lab: Lab, name: str) -> list[str]:
    """The execution states of the kernels of notebook ``name``'s sessions."""
    sessions = lab.api("/api/sessions")
    return [s["kernel"]["execution_state"] for s in sessions if s["path"] == name]


def _wait_for_idle_kernel(page, lab: Lab, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = _kernel_states(lab, name)
        indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
        shown = indicator.get_attribute("data-status") if indicator.count() else None
        if states == ["idle"] and shown == "idle":
            return
        page.wait_for_timeout(250)
    pytest.fail(
        f"the kernel of {name} did not become idle in {seconds} s "
        f"(server: {_kernel_states(lab, name)}):\n{lab.log_tail()}"
    )


def _prompts(page) -> list[str]:
    """The input prompts of the notebook's code cells: '[3]:', '[*]:' or '[ ]:'."""
    return page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()


def _cell(page, source: str, *, ran: bool = True):
    """The code cell whose source contains ``source``; with ``ran``, fail at once if it was not run."""
    cells = page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=source)
    )
    assert cells.count() == 1, f"expected one code cell with {source!r}, found {cells.count()}"
    prompt = cells.first.locator(".jp-InputPrompt").inner_text()
    if ran and not any(ch.isdigit() for ch in prompt):
        pytest.fail(
            f"the cell with {source!r} was not run (prompt {prompt!r}): an earlier cell failed"
        )
    return cells.first


def _scroll_to_top(locator) -> None:
    """Scroll the notebook so that ``locator`` sits at the top of the view."""
    locator.evaluate("el => el.scrollIntoView({block: 'start'})")
    locator.page.wait_for_timeout(300)


def _screenshot(page, name: str) -> Path:
    path = ARTIFACTS / f"browser-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _tracebacks(scope) -> list[str]:
    """Texts of the Python tracebacks shown in ``scope`` (a page or a locator)."""
    stderr = scope.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
    return [text for text in stderr.all_inner_texts() if "Traceback" in text]


def _run_all(page, lab: Lab, name: str) -> None:
    """Run > Run All Cells, until every cell has run (or the run stopped at an error)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    # The Run menu's item is the generic runmenu:run-all, which runs notebook:run-all-cells here.
    page.locator(
        '.lm-Menu-item[data-command="runmenu:run-all"], .lm-Menu-item[data-command="notebook:run-all-cells"]'
    ).first.click()
    start = time.monotonic()
    deadline = start + RUN_ALL_SECONDS
    quiet_since = None
    while True:
        prompts = _prompts(page)
        if (
            not any("*" in p or any(ch.isdigit() for ch in p) for p in prompts)
            and time.monotonic() - start > 30
        ):
            _screenshot(page, f"not-started-{name[:3]}")
            pytest.fail(f"Run All did not start a cell of {name} in 30 s; prompts: {prompts}")
        busy = any("*" in prompt for prompt in prompts) or _kernel_states(lab, name) != ["idle"]
        started = any(any(ch.isdigit() for ch in prompt) for prompt in prompts)
        if busy or not started:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            break
        if time.monotonic() > deadline:
            _screenshot(page, f"timeout-{name[:3]}")
            pytest.fail(f"Run All did not finish {name} in {RUN_ALL_SECONDS} s; prompts: {prompts}")
        page.wait_for_timeout(250)


@pytest.fixture(scope="module")
def executed(page, lab: Lab):
    """Module 1's page once Run > Run All Cells has finished (or stopped at an error)."""
    _run_all(page, lab, NOTEBOOK.name)
    _scroll_to_top(_cell(page, SHOW_IMAGE_SOURCE, ran=False))
    _screenshot(page, "01-after-run-all")
    return page


def _assert_no_traceback_and_all_run(page) -> None:
    tracebacks = _tracebacks(page)
    assert not tracebacks, "outputs show tracebacks:\n\n" + "\n\n".join(
        t[-2000:] for t in tracebacks
    )
    prompts = _prompts(page)
    unrun = [i for i, prompt in enumerate(prompts) if not any(ch.isdigit() for ch in prompt)]
    assert not unrun, f"code cells {unrun} have no execution count: {prompts}"


def test_every_cell_runs_without_a_traceback(executed):
    _assert_no_traceback_and_all_run(executed)


def _natural_sizes(images) -> list[tuple[int, int]]:
    return images.evaluate_all(
        "els => els.map(e => [e.complete ? e.naturalWidth : 0, e.naturalHeight])"
    )


def test_study_image_renders(executed):
    cell = _cell(executed, SHOW_IMAGE_SOURCE)
    images = cell.locator(".jp-OutputArea-output img")
    images.first.wait_for(state="visible")
    sizes = _natural_sizes(images)
    assert sizes and sizes[0][0] > 0 and sizes[0][1] > 0, (
        f"the CT image did not load: natural sizes {sizes}"
    )
    box = images.first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, (
        f"the CT image is drawn too small: {box}"
    )
    # The PHI table below it fits the output area, so that its value and PHI columns are in sight.
    table, area = cell.locator(".jp-OutputArea-output table").first.evaluate(
        "t => [t.getBoundingClientRect().width, t.closest('.jp-OutputArea-output').clientWidth]"
    )
    assert table <= area + 1, (
        f"the PHI table ({table:.0f} px) overflows its output area ({area} px)"
    )


def test_safe_harbor_table_shows_whole_definitions(executed):
    """Module 1's table of the 18 identifiers: every definition whole, none cut with an ellipsis."""
    from hipaa_lab.phi import SafeHarborCategory

    table = _cell(executed, SAFE_HARBOR_SOURCE).locator(".jp-OutputArea-output table").first
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    shown = {row[0]: row[1] for row in rows}
    assert sorted(shown) == list("ABCDEFGHIJKLMNOPQR"), rows
    for category in SafeHarborCategory:
        assert " ".join(shown[category.paragraph].split()) == category.description, category
    width, area = table.evaluate(
        "t => [t.getBoundingClientRect().width, t.closest('.jp-OutputArea-output').clientWidth]"
    )
    assert width <= area + 1, f"the table ({width:.0f} px) overflows its output area ({area} px)"
    _scroll_to_top(_cell(executed, SAFE_HARBOR_SOURCE))
    _screenshot(executed, "safe-harbor-table")


def _browser_widget(page):
    cell = _cell(page, BROWSER_SOURCE)
    return cell.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").first


def test_study_browser_renders(executed):
    widget = _browser_widget(executed)
    widget.wait_for(state="visible")
    dropdown = widget.locator(".widget-dropdown")
    assert dropdown.locator("label").inner_text().strip() == "Series"
    assert dropdown.locator("select option").count() >= 2, (
        "the sample study should hold several series"
    )
    labels = dropdown.locator("select option").all_inner_texts()
    alike = sorted({label for label in labels if labels.count(label) > 1})
    assert not alike, f"series the menu cannot tell apart: {alike}"
    assert widget.locator(".widget-slider").count() == 1
    assert widget.locator(".widget-toggle-buttons button").all_inner_texts() == [
        "image",
        "header",
        "PHI only",
    ]
    image = widget.locator(".widget-output img").first
    image.wait_for(state="visible")
    assert _natural_sizes(widget.locator(".widget-output img"))[0][0] > 0
    _scroll_to_top(_cell(executed, BROWSER_SOURCE))
    _screenshot(executed, "02-study-browser")


def test_choosing_another_series_redraws_the_image(executed):
    widget = _browser_widget(executed)
    select = widget.locator(".widget-dropdown select")
    output = widget.locator(".widget-output")
    before_src = output.locator("img").first.get_attribute("src")
    before_text = output.inner_text()
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.options[s.selectedIndex].text")
    modality = current.split()[0]
    # Prefer a series of another modality, so the image surely looks different.
    choice = next(
        (o for o in options if o.split()[0] != modality), next(o for o in options if o != current)
    )
    select.select_option(label=choice)
    executed.wait_for_function(
        """([el, src]) => {
            const img = el.querySelector('img');
            return img && img.getAttribute('src') !== src && img.complete && img.naturalWidth > 0;
        }""",
        arg=[output.element_handle(), before_src],
        timeout=RENDER_SECONDS * 1000,
    )
    assert output.inner_text() != before_text, "the file name above the image did not change"
    assert not _tracebacks(widget), (
        f"the study browser shows a traceback:\n{_tracebacks(widget)[0][-2000:]}"
    )
    _scroll_to_top(_cell(executed, BROWSER_SOURCE))
    _screenshot(executed, "03-study-browser-other-series")


def test_module_1_loads_nothing_from_outside_the_machine(executed):
    """Run after the others: module 1's cells, images, widgets and kernel stay on 127.0.0.1."""
    assert any(url.startswith("ws://127.0.0.1") for url in REQUESTED), "no kernel websocket seen"
    outside = sorted(
        {
            url
            for url in REQUESTED
            if urllib.parse.urlsplit(url).scheme not in ("data", "blob", "about")
            and urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost")
        }
    )
    assert not outside, "requests that leave the machine:\n" + "\n".join(outside)


# --------------------------------------------------------------------------- modules 3 and 4

#: Sources that pick out module 3's decisions table, its audit-trail table, module 4's plots and
#: its filterable audit table.
DECISIONS_SOURCE = "for d in pacs.decisions])[columns]"
AUDIT_TRAIL_SOURCE = "outcome 0: success"
PLOTS_SOURCE = "hl.widgets.plot_accesses_per_hour(frame, top=25)"
AUDIT_TABLE_SOURCE = "hl.widgets.AuditTable(frame)"


def _shut_down_kernels(lab: Lab, name: str) -> None:
    """End notebook ``name``'s sessions and their kernels, through the server's API."""
    for session in lab.api("/api/sessions"):
        if session["path"] == name:
            request = urllib.request.Request(
                f"{lab.url}/api/sessions/{session['id']}",
                method="DELETE",
                headers={"Authorization": f"token {lab.token}"},
            )
            urllib.request.urlopen(request, timeout=10).close()


def _executed_module(browser, lab: Lab, notebook: Path, request) -> Iterator:
    requested: list[str] = []
    with _notebook_page(browser, lab, notebook.name, request, requested) as page:
        _run_all(page, lab, notebook.name)
        page.requested = requested  # for the test of what it loads
        yield page
    _shut_down_kernels(lab, notebook.name)


@pytest.fixture(scope="module")
def m03(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator:
    """Module 3's page once Run All has finished."""
    yield from _executed_module(browser, lab, M03, request)


@pytest.fixture(scope="module")
def m04(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator:
    """Module 4's page once Run All has finished."""
    yield from _executed_module(browser, lab, M04, request)


def _table(cell):
    """The first table in ``cell``'s outputs: its header texts and its rows' cell texts."""
    table = cell.locator(".jp-OutputArea-output table").first
    table.wait_for(state="visible")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    return table, headers, rows


def _assert_fits(table) -> None:
    """A person sees every column without scrolling sideways: the table fits its output area."""
    width, area = table.evaluate(
        "t => [t.getBoundingClientRect().width, t.closest('.jp-OutputArea-output').clientWidth]"
    )
    assert width <= area + 1, f"the table ({width:.0f} px) overflows its output area ({area} px)"


def _column(headers: list[str], rows: list[list[str]], name: str) -> list[str]:
    at = headers.index(name)
    return [row[at] for row in rows]


@pytest.mark.parametrize("module", ["m03", "m04"])
def test_modules_3_and_4_run_every_cell_without_a_traceback(module, request):
    page = request.getfixturevalue(module)
    _assert_no_traceback_and_all_run(page)
    outside = sorted(
        {
            url
            for url in page.requested
            if urllib.parse.urlsplit(url).scheme not in ("data", "blob", "about")
            and urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost")
        }
    )
    assert not outside, "requests that leave the machine:\n" + "\n".join(outside)


def test_module_3_shows_each_decision_and_its_audit_trail(m03):
    cell = _cell(m03, DECISIONS_SOURCE)
    table, headers, rows = _table(cell)
    columns = ["user", "role", "operation", "purpose", "facts", "allowed", "rule", "reason"]
    assert headers == columns, headers
    assert len(rows) == 8, rows  # six reads and two queries, each decided
    assert set(_column(headers, rows, "allowed")) == {"True", "False"}, rows
    reasons = _column(headers, rows, "reason")
    assert all(reasons) and not any(r.endswith("...") for r in reasons), reasons  # whole
    _assert_fits(table)
    _scroll_to_top(cell)
    _screenshot(m03, "m03-decisions")

    cell = _cell(m03, AUDIT_TRAIL_SOURCE)
    table, headers, rows = _table(cell)
    assert {"event_meaning", "outcome", "user", "role", "patient_id", "reason"} <= set(headers)
    _assert_fits(table)
    meanings = set(_column(headers, rows, "event_meaning"))
    assert {"DICOM Instances Accessed", "Query", "User Authentication"} <= meanings, meanings
    assert {"0", "4"} <= set(_column(headers, rows, "outcome")), "allowed and refused both shown"
    _scroll_to_top(cell)
    _screenshot(m03, "m03-audit-trail")


def test_module_4_shows_the_accesses_per_user_per_hour(m04):
    cell = _cell(m04, PLOTS_SOURCE)
    images = cell.locator(".jp-OutputArea-output img")
    images.first.wait_for(state="visible")
    sizes = _natural_sizes(images)
    assert len(sizes) == 2 and all(w > 0 and h > 0 for w, h in sizes), sizes
    box = images.first.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300, f"the heat map is too small: {box}"
    _scroll_to_top(cell)
    _screenshot(m04, "m04-accesses-per-hour")


def test_module_4_audit_table_filters_by_user(m04):
    cell = _cell(m04, AUDIT_TABLE_SOURCE)
    widget = cell.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").first
    widget.wait_for(state="visible")
    assert widget.locator(".widget-text input").count() == 2  # user, patient
    selects = widget.locator(".widget-dropdown select")  # role, event, outcome
    shown = selects.evaluate_all(
        "ss => ss.map(s => s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text)"
    )
    assert shown == ["(any)"] * 3, f"a filter shows no choice: {shown}"
    count = widget.locator(".widget-html").first
    total = int(re.fullmatch(r"(\d+) of (\d+) events match", count.inner_text().strip())[2])
    table, headers, rows = _table(widget)
    assert len(rows) == 50 and total > 50, (len(rows), total)
    assert {"user", "patient_id", "patient_name", "reason"} <= set(headers), headers
    _assert_fits(table)
    _scroll_to_top(cell)
    _screenshot(m04, "m04-audit-table")

    user = _column(headers, rows, "user")[0]
    widget.locator(".widget-text input").first.fill(user)
    m04.wait_for_function(
        "([el, total]) => !el.innerText.trim().endsWith(`${total} of ${total} events match`)",
        arg=[count.element_handle(), total],
    )
    shown = int(count.inner_text().split()[0])
    assert 0 < shown < total, count.inner_text()
    m04.wait_for_timeout(300)  # the table is redrawn after the count
    _table_el, headers, rows = _table(widget)
    assert len(rows) == min(shown, 50) and set(_column(headers, rows, "user")) == {user}, rows
    _screenshot(m04, "m04-audit-table-filtered")
