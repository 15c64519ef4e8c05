"""Module 1 runs in a real JupyterLab, driven in Chromium: its image and study browser render.

The module starts its own JupyterLab (isolated HOME, Jupyter and cache folders, a random token and
a free port) on a copy of module 1's source notebook, runs all cells from the Run menu, checks the
DOM, then uses the study browser. Full-page screenshots and the server log are kept in
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
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "m01-phi-in-images" / "m01-phi-in-images.ipynb"
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
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
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
def page(lab: Lab, request: pytest.FixtureRequest) -> Iterator:
    from playwright.sync_api import sync_playwright

    failed_before = request.session.testsfailed
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.on("request", lambda r: REQUESTED.append(r.url))
            page = context.new_page()
            page.on("websocket", lambda ws: REQUESTED.append(ws.url))
            page.set_default_timeout(RENDER_SECONDS * 1000)
            messages: list[str] = []
            page.on("pageerror", lambda error: messages.append(f"page error: {error}"))
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=KERNEL_START_SECONDS * 1000)
            _wait_for_idle_kernel(page, lab, KERNEL_START_SECONDS)
            yield page
            if request.session.testsfailed > failed_before:
                _screenshot(page, "failure")
            for message in messages:
                print(message)
        finally:
            browser.close()


def _kernel_states(lab: Lab) -> list[str]:
    return [kernel["execution_state"] for kernel in lab.api("/api/kernels")]


def _wait_for_idle_kernel(page, lab: Lab, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = _kernel_states(lab)
        indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
        shown = indicator.get_attribute("data-status") if indicator.count() else None
        if states == ["idle"] and shown == "idle":
            return
        page.wait_for_timeout(250)
    pytest.fail(
        f"the kernel did not become idle in {seconds} s (server: {_kernel_states(lab)}):\n{lab.log_tail()}"
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


@pytest.fixture(scope="module")
def executed(page, lab: Lab):
    """The page once Run > Run All Cells has finished (or stopped at an error)."""
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
            _screenshot(page, "not-started")
            pytest.fail(f"Run All did not start a cell in 30 s; prompts: {prompts}")
        busy = any("*" in prompt for prompt in prompts) or _kernel_states(lab) != ["idle"]
        started = any(any(ch.isdigit() for ch in prompt) for prompt in prompts)
        if busy or not started:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            break
        if time.monotonic() > deadline:
            _screenshot(page, "timeout")
            pytest.fail(f"Run All did not finish in {RUN_ALL_SECONDS} s; prompts: {prompts}")
        page.wait_for_timeout(250)
    _scroll_to_top(_cell(page, SHOW_IMAGE_SOURCE, ran=False))
    _screenshot(page, "01-after-run-all")
    return page


def test_every_cell_runs_without_a_traceback(executed):
    tracebacks = _tracebacks(executed)
    assert not tracebacks, "outputs show tracebacks:\n\n" + "\n\n".join(
        t[-2000:] for t in tracebacks
    )
    prompts = _prompts(executed)
    unrun = [i for i, prompt in enumerate(prompts) if not any(ch.isdigit() for ch in prompt)]
    assert not unrun, f"code cells {unrun} have no execution count: {prompts}"


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
