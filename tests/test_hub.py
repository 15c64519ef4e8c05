"""The course for a class on JupyterHub (``hipaa-lab hub``), started for real.

A hub is started on a free port of 127.0.0.1 with a roster of two learners and a trainer: real
Unix accounts (under a test-only prefix, removed afterwards with their homes and groups, even on
failure), real PAM passwords, configurable-http-proxy, the formgrader service, a PostgreSQL
gradebook of the hub's own. Learners log in over HTTP with the hub's login form; what one learner
may not read is checked by running code as the other learner's account (``runuser``), beside a
control that shows the same code reads what it may.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from test_browser import CHROMIUM, CHROMIUM_ARGS

from hipaa_lab.course import hub
from hipaa_lab.course.build import find_notebooks, gradebook_url
from hipaa_lab.errors import HubError
from hipaa_lab.postgres import free_port, server_binaries

ROOT = Path(__file__).resolve().parent.parent
HEADER = "employee_id,name,email,role,department,hire_date,status"
AVERY = "E1001,Avery Quinlan,avery.quinlan@example.org,technologist,Radiology,2026-10-01,active"
ZOE = "E1002,Zoë D'Arcy-Nakamura,zoe.darcy@example.org,front_desk,Imaging,2026-09-15,active"
CHIDI = "E1003,Chidi Okafor,chidi.okafor@example.org,radiologist,Radiology,2026-11-02,active"
MODULE = "m01-phi-in-images"


def _proxy() -> bool:
    try:
        hub._proxy_command()
    except HubError:
        return False
    return True


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub makes Unix accounts: run as root"),
    pytest.mark.skipif(server_binaries() is None, reason="no PostgreSQL server binaries"),
    pytest.mark.skipif(
        not _proxy(), reason="no configurable-http-proxy (`make test` installs it with npm)"
    ),
]


# --------------------------------------------------------------------------- set-up and clean-up


def _test_accounts(prefix: str) -> list[str]:
    return [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(prefix)]


def _purge(prefix: str, base: Path) -> None:
    """Stop the hub, end what runs as the test's accounts, remove them (homes and groups too)
    and the test's folder. Runs after every test that made something, whatever happened."""
    hub_dir = base / "hub"
    if (hub_dir / "state" / "hub.json").exists():
        with contextlib.suppress(Exception):
            hub.stop_hub(hub_dir)
    for account in _test_accounts(prefix):  # only processes of the accounts this test made
        hub._end_processes(account)
    for account in _test_accounts(prefix):
        subprocess.run(["userdel", "--remove", "--force", account], capture_output=True)
    groups = subprocess.run(["getent", "group"], capture_output=True, text=True).stdout
    for line in groups.splitlines():
        name = line.split(":", 1)[0]
        if name.startswith(prefix):
            subprocess.run(["groupdel", name], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
    assert not _test_accounts(prefix), "test accounts left behind"


@contextlib.contextmanager
def _scratch() -> Iterator[tuple[str, Path]]:
    """A test-only account prefix and a folder others may enter (learners reach the exchange)."""
    prefix = f"hlt{secrets.token_hex(2)}-"
    base = Path(tempfile.mkdtemp(prefix="hipaa-lab-hub-"))
    os.chmod(base, 0o711)  # noqa: S103 - learners enter, never list
    (base / "homes").mkdir(mode=0o711)
    os.chmod(base / "homes", 0o711)  # noqa: S103 - the same
    try:
        yield prefix, base
    finally:
        _purge(prefix, base)


@dataclass
class Site:
    server: hub.HubServer
    prefix: str
    base: Path
    roster: Path

    @property
    def layout(self) -> hub.HubLayout:
        return self.server.layout

    @property
    def url(self) -> str:
        return self.server.url

    def account(self, employee_id: str) -> str:
        return hub.account_name(employee_id, self.prefix)

    @property
    def trainer(self) -> str:
        return f"{self.prefix}trainer"

    def password(self, account: str) -> str:
        rows = csv.DictReader(self.layout.credentials.open(encoding="utf-8"))
        return next(r["password"] for r in rows if r["account"] == account)

    def python(self) -> str:
        shim = self.layout.root / "python" / "bin" / "python"
        return str(shim if shim.exists() else sys.executable)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with _scratch() as (prefix, base):
        roster = base / "roster.csv"
        roster.write_text("\n".join([HEADER, AVERY, ZOE]) + "\n", encoding="utf-8")
        server = hub.start_hub(
            base / "hub",
            roster,
            trainers=[f"{prefix}trainer"],
            port=free_port(),
            home_base=base / "homes",
            prefix=prefix,
        )
        try:
            yield Site(server, prefix, base, roster)
        finally:
            server.stop()


# --------------------------------------------------------------------------- HTTP helpers


def _login(site: Site, account: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page = session.get(site.url + "hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf, "the login page has no _xsrf field"
    response = session.post(
        site.url + "hub/login",
        data={"username": account, "password": password, "_xsrf": xsrf.group(1)},
        timeout=120,
    )
    return session, response


def _hub_xsrf(session: requests.Session) -> dict[str, str]:
    value = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/hub/")
    return {"X-XSRFToken": value}


def _token(site: Site, session: requests.Session, account: str) -> dict[str, str]:
    """An API token of the learner's own (made with their login), as a header."""
    made = session.post(
        site.url + f"hub/api/users/{account}/tokens",
        json={"note": "test", "expires_in": 3600},
        headers=_hub_xsrf(session),
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"token {made.json()['token']}"}


def _ready(site: Site, account: str, headers: dict[str, str], wait: float = 120) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        model = requests.get(site.url + f"hub/api/users/{account}", headers=headers, timeout=30)
        server = model.json().get("servers", {}).get("")
        if server and server.get("ready"):
            return
        if not server or not server.get("pending"):
            requests.post(site.url + f"hub/api/users/{account}/server", headers=headers, timeout=30)
        time.sleep(1)
    pytest.fail(f"{account}'s server was not ready within {wait:.0f} s")


def _server_uids(account: str) -> set[int]:
    """The uids of the processes serving ``account`` (their JUPYTERHUB_USER)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            env = (proc / "environ").read_bytes().split(b"\0")
            if f"JUPYTERHUB_USER={account}".encode() in env:
                found.add(proc.stat().st_uid)
    return found


def _owner(proc: Path) -> int | None:
    """The uid a process runs as; ``None`` when it is gone or a zombie (ended, not yet reaped:
    in a container whose first process reaps nobody, the ended kernels of a stopped server)."""
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return proc.stat().st_uid
    except (OSError, IndexError):
        return None


def _as(site: Site, account: str, code: str) -> dict[str, str]:
    """Run ``code`` as ``account`` (a fresh login environment); it prints a JSON object."""
    done = subprocess.run(
        [
            shutil.which("runuser") or "/usr/sbin/runuser",
            "-u",
            account,
            "--",
            site.python(),
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


READS = """
import json, os
targets = json.loads(os.environ["TARGETS"])
out = {}
for what, (kind, path) in targets.items():
    try:
        if kind == "list":
            os.listdir(path)
        elif kind == "read":
            with open(path, "rb") as f:
                f.read(1)
        elif kind == "db":
            import psycopg
            host, port = path.rsplit(":", 1)
            psycopg.connect(host=host, port=int(port), user="postgres", dbname="gradebook",
                            connect_timeout=10, password="").close()
        out[what] = "allowed"
    except PermissionError:
        out[what] = "denied"
    except Exception as exc:
        out[what] = "refused: " + type(exc).__name__ + ": " + str(exc).splitlines()[0][:120]
print(json.dumps(out))
"""


def _reads(site: Site, account: str, targets: dict[str, tuple[str, str]]) -> dict[str, str]:
    code = f"import os; os.environ['TARGETS'] = {json.dumps(targets)!r}\n" + READS
    return _as(site, account, code)


# --------------------------------------------------------------------------- the hub


def test_each_employee_gets_an_account_of_their_own(site: Site) -> None:
    avery, zoe = site.account("E1001"), site.account("E1002")
    credentials = site.layout.credentials
    assert credentials.stat().st_uid == 0 and credentials.stat().st_mode & 0o777 == 0o600
    passwords = {a: site.password(a) for a in (avery, zoe, site.trainer)}
    assert len(set(passwords.values())) == 3 and all(len(p) >= 16 for p in passwords.values())
    for account in (avery, zoe, site.trainer):
        entry = pwd.getpwnam(account)
        home = Path(entry.pw_dir)
        assert home.parent == site.base / "homes"
        assert home.stat().st_uid == entry.pw_uid and home.stat().st_mode & 0o777 == 0o700
    course = site.layout.course
    grader = pwd.getpwnam(f"{site.prefix}grader")
    assert course.stat().st_uid == grader.pw_uid and course.stat().st_mode & 0o777 == 0o700
    assert gradebook_url(course).startswith("postgresql+psycopg://")

    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course), "hipaa-lab") as gb:
        students = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
    assert students == {
        avery: ("Avery", "Quinlan", "avery.quinlan@example.org"),
        zoe: ("Zoë", "D'Arcy-Nakamura", "zoe.darcy@example.org"),
    }


def test_a_wrong_password_is_refused(site: Site) -> None:
    _, response = _login(site, site.account("E1001"), "not-the-password")
    assert response.status_code == 403
    assert "jupyterhub-session-id" not in response.cookies


def test_a_learner_works_as_their_own_account(site: Site) -> None:
    avery = site.account("E1001")
    session, response = _login(site, avery, site.password(avery))
    assert response.status_code == 200, response.text[-500:]
    token = _token(site, session, avery)
    _ready(site, avery, token)
    assert _server_uids(avery) == {pwd.getpwnam(avery).pw_uid}

    note = requests.put(
        site.url + f"user/{avery}/api/contents/private-note.txt",
        json={"type": "file", "format": "text", "content": "my own notes"},
        headers=token,
        timeout=30,
    )
    assert note.status_code == 201, note.text
    path = Path(pwd.getpwnam(avery).pw_dir) / "private-note.txt"
    assert path.stat().st_uid == pwd.getpwnam(avery).pw_uid

    own_formgrader = requests.get(site.url + f"user/{avery}/formgrader", headers=token, timeout=30)
    assert own_formgrader.status_code == 404, "a learner's server runs no formgrader of its own"

    form = {"course_id": "hipaa-lab", "assignment_id": MODULE}
    listed = requests.get(
        site.url + f"user/{avery}/assignments?course_id=hipaa-lab", headers=token, timeout=60
    ).json()
    assert listed["success"] and MODULE in {a["assignment_id"] for a in listed["value"]}
    for action in ("fetch", "submit"):
        done = requests.post(
            site.url + f"user/{avery}/assignments/{action}", data=form, headers=token, timeout=120
        ).json()
        assert done["success"], done
    fetched = Path(pwd.getpwnam(avery).pw_dir) / MODULE / f"{MODULE}.ipynb"
    assert fetched.stat().st_uid == pwd.getpwnam(avery).pw_uid
    inbound = site.layout.exchange / "hipaa-lab" / "inbound"
    mine = [p for p in inbound.iterdir() if p.name.startswith(f"{avery}+{MODULE}+")]
    assert len(mine) == 1 and mine[0].stat().st_uid == pwd.getpwnam(avery).pw_uid


def test_another_learner_cannot_read_the_course_or_a_learners_work(site: Site) -> None:
    avery, zoe = site.account("E1001"), site.account("E1002")
    course = site.layout.course
    home = Path(pwd.getpwnam(avery).pw_dir)
    assert (home / "private-note.txt").exists(), "runs after the learner wrote a note"
    port = (site.layout.postgres / "port").read_text().strip()
    targets = {
        "learner's home": ("list", str(home)),
        "learner's note": ("read", str(home / "private-note.txt")),
        "learner's notebook": ("read", str(home / MODULE / f"{MODULE}.ipynb")),
        "submissions": ("list", str(site.layout.exchange / "hipaa-lab" / "inbound")),
        "course": ("list", str(course)),
        "source": ("list", str(course / "source")),
        "solution": ("read", str(course / "source" / MODULE / f"{MODULE}.ipynb")),
        "course secret": ("read", str(course / ".hipaa-lab-secret")),
        "gradebook URL": ("read", str(course / ".gradebook-url")),
        # the package's own source notebooks (the course is built from them): model answers
        "package's source notebook": ("read", str(find_notebooks() / MODULE / f"{MODULE}.ipynb")),
        "gradebook over TCP": ("db", f"127.0.0.1:{port}"),
        "gradebook by socket": ("db", f"{site.layout.postgres / 'run'}:{port}"),
    }
    seen = _reads(site, zoe, targets)
    assert seen.pop("gradebook over TCP").startswith("refused: OperationalError")
    assert "password" in _reads(site, zoe, {"t": targets["gradebook over TCP"]})["t"]
    assert seen.pop("gradebook by socket").startswith("refused: OperationalError")
    assert seen == dict.fromkeys(seen, "denied")

    # the same probe reads what its account may: the owner their note, the course account its own
    own = _reads(site, avery, {k: targets[k] for k in ("learner's home", "learner's note")})
    assert own == dict.fromkeys(own, "allowed")
    grader = _reads(
        site,
        f"{site.prefix}grader",
        {
            k: targets[k]
            for k in ("source", "solution", "course secret", "package's source notebook")
        },
    )
    assert grader == dict.fromkeys(grader, "allowed")


def test_the_formgrader_answers_trainers_only(site: Site) -> None:
    trainer, _ = _login(site, site.trainer, site.password(site.trainer))
    page = trainer.get(site.url + f"services/{hub.SERVICE}/formgrader", timeout=120)
    assert page.status_code == 200
    assert "<title>nbgrader formgrade</title>" in page.text
    assert page.url.endswith("/formgrader/manage_assignments")

    zoe = site.account("E1002")
    learner, response = _login(site, zoe, site.password(zoe))
    assert response.status_code == 200
    refused = learner.get(site.url + f"services/{hub.SERVICE}/formgrader", timeout=120)
    assert refused.status_code == 403
    assert "nbgrader formgrade" not in refused.text
    assert refused.url.startswith(site.url + "hub/api/oauth2/authorize")


def test_the_trainer_grades_as_the_course_account(
    site: Site, capfd: pytest.CaptureFixture[str]
) -> None:
    """`hipaa-lab hub course autograde` and the formgrader's Autograde button both grade the
    submission sealed, as the course account; the formgrader knows the learners' names."""
    avery = site.account("E1001")
    assert hub.course_step(site.layout.root, "autograde", assignments=[MODULE]) == 0
    graded = site.layout.course / "autograded" / avery / MODULE / f"{MODULE}.ipynb"
    assert graded.stat().st_uid == pwd.getpwnam(f"{site.prefix}grader").pw_uid
    # the learner's (blank) code ran in the sandbox and was judged, not a crash of the sandbox
    assert "find_phi is not written yet" in graded.read_text(encoding="utf-8")
    capfd.readouterr()
    assert hub.course_step(site.layout.root, "scores") == 0
    assert f"\n{avery},{MODULE},0.0," in capfd.readouterr().out

    trainer, _ = _login(site, site.trainer, site.password(site.trainer))
    assert trainer.get(site.url + f"services/{hub.SERVICE}/formgrader", timeout=120).ok
    xsrf = next(
        c.value for c in trainer.cookies if c.name == "_xsrf" and c.path.startswith("/services/")
    )
    api = site.url + f"services/{hub.SERVICE}/formgrader/api/"
    students = trainer.get(api + "students", headers={"X-XSRFToken": xsrf}, timeout=60).json()
    names = {s["id"]: (s["first_name"], s["last_name"]) for s in students}
    assert names[site.account("E1002")] == ("Zoë", "D'Arcy-Nakamura")
    graded.unlink()
    done = trainer.post(
        api + f"submission/{MODULE}/{avery}/autograde",
        headers={"X-XSRFToken": xsrf},
        timeout=300,
    ).json()
    assert done["success"], done.get("log", done)[-2000:]
    assert "find_phi is not written yet" in graded.read_text(encoding="utf-8")


ARTIFACTS = ROOT / "test-artifacts"
#: Run in the second learner's notebook: each path the first learner's or the course's.
PEEK = """\
import os
for path in {paths!r}:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
        print("OPENED", path)
    except OSError as exc:
        print("REFUSED", type(exc).__name__, path)
"""


def _lab_login(browser, site: Site, account: str, requested: list[str]):
    """A browser context of its own (cookies apart), logged in, JupyterLab loaded."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    page.on("websocket", lambda ws: requested.append(ws.url))
    page.set_default_timeout(90_000)
    page.goto(site.url + "hub/login")
    page.fill("#username_input", account)
    page.fill("#password_input", site.password(account))
    page.click("#login_submit")
    page.wait_for_selector("#jp-main-dock-panel", timeout=180_000)
    page.wait_for_url(re.compile(f"/user/{account}/lab"))
    return page


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_in_the_browser_a_learner_submits_and_another_cannot_open_it(site: Site) -> None:
    """Chromium: one learner fetches module 1 from the assignment list, opens it and submits;
    the other cannot open the first's server, and code in the other's notebook cannot read the
    first's work or the course. Every request goes to 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    zoe, avery = site.account("E1002"), site.account("E1001")
    ARTIFACTS.mkdir(exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = _lab_login(browser, site, zoe, requested)
            page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
            items = [t for t in page.locator(".lm-Menu-itemLabel").all_inner_texts() if t]
            assert items == ["Assignment List"], "a learner's lab offers no formgrader"
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            released = page.locator("#released_assignments_list > .list_item", has_text=MODULE)
            released.get_by_role("button", name="Fetch").click()
            fetched = page.locator("#fetched_assignments_list > .list_item", has_text=MODULE)
            fetched.wait_for()
            page.screenshot(path=str(ARTIFACTS / "hub-learner-fetched.png"))
            fetched.locator("a.assignment-notebooks-link").click()
            fetched.locator(".nested_list_item a", has_text=MODULE).click()
            page.wait_for_function(  # the module's text rendered, its kernel started
                "() => document.querySelectorAll('.jp-NotebookPanel .jp-MarkdownCell').length > 3",
                timeout=120_000,
            )
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "hub-learner-notebook.png"))
            page.locator(".lm-TabBar-tab", has_text="Assignments").click()
            fetched.get_by_role("button", name="Submit").click()
            submitted = page.locator("#submitted_assignments_list > .list_item", has_text=MODULE)
            submitted.first.wait_for(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "hub-learner-submitted.png"))

            other = _lab_login(browser, site, avery, requested)
            refused = other.goto(site.url + f"user/{zoe}/lab")
            assert refused is not None and refused.status == 403
            other.screenshot(path=str(ARTIFACTS / "hub-other-learner-refused.png"))
            other.goto(site.url + f"user/{avery}/lab")
            other.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
            other.locator(".jp-LauncherCard", has_text="Python 3").first.click()
            cell = other.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
            cell.wait_for(timeout=120_000)
            other.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=120_000)
            home = Path(pwd.getpwnam(zoe).pw_dir)
            course = site.layout.course
            paths = [
                str(home),
                str(home / MODULE / f"{MODULE}.ipynb"),
                str(course / "source"),
                str(course / "source" / MODULE / f"{MODULE}.ipynb"),
                str(course / ".hipaa-lab-secret"),
            ]
            cell.click()
            other.keyboard.insert_text(PEEK.format(paths=paths))
            other.keyboard.press("Shift+Enter")
            output = other.locator(".jp-OutputArea-output").first
            try:
                output.wait_for(timeout=120_000)
            except Exception:
                other.screenshot(path=str(ARTIFACTS / "hub-other-learner-failure.png"))
                raise
            other.wait_for_function(
                f"() => document.querySelector('.jp-OutputArea-output')"
                f"?.innerText.split('\\n').filter(l => l.trim()).length >= {len(paths)}",
                timeout=60_000,
            )
            other.screenshot(path=str(ARTIFACTS / "hub-other-learner-notebook.png"))
            lines = [line for line in output.inner_text().splitlines() if line.strip()]
        finally:
            browser.close()
    assert lines == [f"REFUSED PermissionError {p}" for p in paths]
    (ARTIFACTS / "hub-requests.txt").write_text("".join(f"{url}\n" for url in requested))
    hosts = {urllib.parse.urlsplit(url).hostname for url in requested} - {None}
    assert hosts == {"127.0.0.1"}, f"requests left the machine: {hosts}"


def _formgrader_modal(page, expected: str) -> str:
    """Wait for the formgrader's result dialog, check it reports success, close it."""
    modal = page.locator(".modal.in, .modal.show").first
    modal.wait_for(timeout=300_000)
    text = modal.inner_text()
    assert expected in text, text[-2000:]
    modal.get_by_role("button", name=re.compile("close|ok", re.I)).first.click()
    modal.wait_for(state="hidden")
    return text


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_in_the_browser_the_trainer_grades_and_the_learner_sees_the_result(site: Site) -> None:
    """Chromium, after the learner's submission above: the trainer collects, autogrades,
    hand-grades the free-text answer and returns feedback in the formgrader's own pages; the
    learner fetches the feedback and finds score and verdict on *Course > My progress and
    feedback*, reached through the hub's /user-redirect, and opens the feedback from there."""
    from playwright.sync_api import sync_playwright

    zoe = site.account("E1002")
    requested: list[str] = []
    formgrader = site.url + f"services/{hub.SERVICE}/formgrader/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            context.on("request", lambda r: requested.append(r.url))
            trainer = context.new_page()
            trainer.set_default_timeout(90_000)
            trainer.goto(site.url + "hub/login")
            trainer.fill("#username_input", site.trainer)
            trainer.fill("#password_input", site.password(site.trainer))
            trainer.click("#login_submit")
            # logged in once the login page is left (to the hub's home, a spawn page or the
            # trainer's own lab, whichever the hub sends them to first): no need to wait for it
            trainer.wait_for_url(lambda url: "/hub/login" not in url, wait_until="commit")
            trainer.goto(formgrader + "manage_assignments")
            row = trainer.locator("#main-table tr", has_text=MODULE)
            row.locator("td.collect a").click()
            _formgrader_modal(trainer, "Successfully collected")

            trainer.goto(formgrader + f"manage_submissions/{MODULE}")
            row = trainer.locator("#main-table tr", has_text=zoe)
            row.locator("td.autograde a").click()
            _formgrader_modal(trainer, "Successfully autograded")
            # the free-text answer was left as released: nbgrader gives it 0 and asks no
            # trainer; the trainer reads it anyway and gives points below
            row.locator("td.status", has_text="graded").wait_for()
            trainer.screenshot(path=str(ARTIFACTS / "hub-trainer-autograded.png"))

            trainer.goto(formgrader + f"manage_students/{zoe}/{MODULE}")
            trainer.locator("#main-table a", has_text=MODULE).first.click()
            score = trainer.locator("input.score#residual_phi")
            score.wait_for()
            trainer.wait_for_load_state("networkidle")  # the page's grades loaded and bound
            with trainer.expect_response(
                lambda r: "/api/grade/" in r.url and r.request.method == "PUT" and r.ok
            ):
                score.fill("1.5")
                score.press("Tab")  # leaving the field saves it, as a trainer moves on
            trainer.screenshot(path=str(ARTIFACTS / "hub-trainer-hand-graded.png"))

            trainer.goto(formgrader + f"manage_submissions/{MODULE}")
            row = trainer.locator("#main-table tr", has_text=zoe)
            row.locator("td.score", has_text="1.5 / 15").wait_for()
            row.locator("td.generate-feedback a").click()
            _formgrader_modal(trainer, "Successfully generated feedback")
            row.locator("td.release-feedback a").click()
            _formgrader_modal(trainer, "Successfully released feedback")
            trainer.screenshot(path=str(ARTIFACTS / "hub-trainer-released.png"))
            context.close()

            page = _lab_login(browser, site, zoe, requested)
            page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            submitted = page.locator("#submitted_assignments_list > .list_item", has_text=MODULE)
            submitted.get_by_role("button", name="Fetch Feedback").first.click()
            page.get_by_text("view feedback").first.wait_for(timeout=120_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Course").click()
            with page.context.expect_page() as opened:
                page.locator(".lm-Menu-itemLabel", has_text="My progress and feedback").click()
            mine = opened.value
            mine.set_default_timeout(90_000)
            row = mine.locator(f'tr.module[data-module="{MODULE}"]')
            row.wait_for()
            landed, shown = mine.url, row.inner_text()
            mine.screenshot(path=str(ARTIFACTS / "hub-learner-progress.png"), full_page=True)
            row.locator("a.view-feedback").first.click()
            banner = mine.locator("#hipaa-lab-result")
            banner.wait_for()
            verdict, banner_text = banner.get_attribute("data-verdict"), banner.inner_text()
            mine.screenshot(path=str(ARTIFACTS / "hub-learner-feedback.png"))
        except Exception:
            for n, seen in enumerate(p for c in browser.contexts for p in c.pages):
                seen.screenshot(path=str(ARTIFACTS / f"hub-grading-failure-{n}.png"))
            shutil.copyfile(site.layout.log, ARTIFACTS / "hub-grading-failure-jupyterhub.log")
            raise
        finally:
            browser.close()
    assert landed.startswith(site.url + f"user/{zoe}/hipaa-lab/progress"), landed
    # blank answers, 1.5 of 2 points from the trainer: 1.5 of the module's 15, pass mark 12
    assert "feedback: not yet 1.5/15" in shown and "12 (80%)" in shown, shown
    assert verdict == "not_yet" and "What to retry" in banner_text
    (ARTIFACTS / "hub-grading-requests.txt").write_text("".join(f"{u}\n" for u in requested))
    hosts = {urllib.parse.urlsplit(url).hostname for url in requested} - {None}
    assert hosts == {"127.0.0.1"}, f"requests left the machine: {hosts}"


def test_a_roster_change_disables_a_learner_at_once(site: Site) -> None:
    avery, zoe, chidi = (site.account(e) for e in ("E1001", "E1002", "E1003"))
    password = site.password(zoe)
    session, response = _login(site, zoe, password)
    assert response.status_code == 200
    token = _token(site, session, zoe)
    _ready(site, zoe, token)
    assert _server_uids(zoe) == {pwd.getpwnam(zoe).pw_uid}

    stray = subprocess.Popen(  # a job left running from the learner's terminal
        [shutil.which("runuser") or "/usr/sbin/runuser", "-u", zoe, "--", "sleep", "600"]
    )
    deadline = time.monotonic() + 10
    while not any(_owner(p) == pwd.getpwnam(zoe).pw_uid for p in Path("/proc").iterdir()):
        assert time.monotonic() < deadline, "the learner's job did not start"
        time.sleep(0.1)
    changed = site.base / "roster-changed.csv"
    changed.write_text(
        "\n".join([HEADER, AVERY, ZOE.replace(",active", ",terminated"), CHIDI]) + "\n",
        encoding="utf-8",
    )
    changes = hub.sync_roster(site.layout.root, changed)
    assert (changes.added, changes.disabled, changes.unchanged) == ([chidi], [zoe], [avery])

    assert not _server_uids(zoe), "the disabled learner's server still runs"
    stray.wait(timeout=10)  # runuser returns once the job it ran as the learner has ended
    uid = pwd.getpwnam(zoe).pw_uid
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid]
    assert not left, f"the disabled learner still runs processes {left}"
    assert session.get(site.url + "hub/api/user", headers=_hub_xsrf(session)).status_code == 403
    assert requests.get(site.url + "hub/api/user", headers=token, timeout=30).status_code == 403
    _, again = _login(site, zoe, password)
    assert again.status_code == 403
    status = subprocess.run(["passwd", "--status", zoe], capture_output=True, text=True).stdout
    assert status.split()[1] == "L"
    assert (Path(pwd.getpwnam(zoe).pw_dir)).is_dir(), "a disabled learner's history is kept"

    _, avery_in = _login(site, avery, site.password(avery))
    assert avery_in.status_code == 200
    _, chidi_in = _login(site, chidi, site.password(chidi))
    assert chidi_in.status_code == 200, "a learner added to the running hub logs in"
    assert zoe not in {r["account"] for r in csv.DictReader(site.layout.credentials.open())}

    again_changes = hub.sync_roster(site.layout.root, changed)
    assert again_changes.added == again_changes.disabled == again_changes.enabled == []
    assert sorted(again_changes.unchanged) == sorted([avery, zoe, chidi])

    back = hub.sync_roster(site.layout.root, site.roster)  # rehired; Chidi gone from the roster
    assert (back.enabled, back.disabled) == ([zoe], [chidi])
    assert site.password(zoe) != password, "a learner enabled again gets a new password"
    _, rehired = _login(site, zoe, site.password(zoe))
    assert rehired.status_code == 200


#: Run as a learner: make itself non-dumpable (the files of its /proc folder are then root's).
HIDDEN = "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(600)"  # 4: PR_SET_DUMPABLE
#: Run as a learner: a new process at once, the old one gone, again and again (a new PID every
#: few microseconds: a PID found in /proc has often handed over to its child by its SIGKILL).
FORKING = "import os\nwhile True:\n    if os.fork():\n        os._exit(0)"
#: Run as root: the learner's real UID, root's effective one (as a set-user-ID program the
#: learner left running: its /proc folder is root's).
SETUID = "import os, sys, time; os.setresuid(int(sys.argv[1]), 0, 0); time.sleep(600)"
#: Run as root: start ``argv[3:]`` as the learner (``argv[1:3]``, UID and GID), print its PID,
#: and reap it and every orphan of its tree (a child subreaper: this machine's first process may
#: reap nobody, and a forking process's ended parents would stay zombies); end with the last.
REAPER = """\
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
uid, gid = int(sys.argv[1]), int(sys.argv[2])
print(subprocess.Popen(sys.argv[3:], user=uid, group=gid, extra_groups=[]).pid, flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def _status(pid: int) -> dict[str, str]:
    """The fields of /proc/PID/status; empty once the process has ended (or is a zombie)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}
    return {} if fields["State"].startswith("Z") else fields


def test_a_disabled_learner_s_hidden_and_forking_processes_all_end() -> None:
    """What `hub sync` ends for a disabled learner: a process that made itself non-dumpable,
    one that keeps forking, a set-user-ID one (root's effective UID) and a plain one."""
    python = "/usr/bin/python3"  # the system's: the learner may run it
    with _scratch() as (prefix, _base):
        account = f"{prefix}gone"
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", account],
                       check=True, capture_output=True)  # fmt: skip
        entry = pwd.getpwnam(account)
        learner = [str(entry.pw_uid), str(entry.pw_gid)]
        reapers = [
            subprocess.Popen(
                [python, "-I", "-c", REAPER, *learner, python, "-I", "-c", code],
                stdout=subprocess.PIPE,
                text=True,
            )
            for code in (HIDDEN, FORKING, "import time; time.sleep(600)")
        ]
        setuid = subprocess.Popen([python, "-I", "-c", SETUID, learner[0]])
        try:
            hidden, forking, _plain = (int(r.stdout.readline()) for r in reapers if r.stdout)
            deadline = time.monotonic() + 10
            while (
                Path(f"/proc/{hidden}/status").stat().st_uid != 0
                or _status(forking)  # its first process gone: it has forked
                or _status(setuid.pid).get("Uid", "").split()[:2] != [learner[0], "0"]
            ):
                assert time.monotonic() < deadline, "the learner's processes did not start"
                time.sleep(0.05)
            assert hub._end_processes(account) == []
            assert setuid.wait(timeout=10) == -signal.SIGKILL
            for reaper in reapers:  # each ends once no process of its tree is left
                reaper.wait(timeout=10)
            assert hub._processes_of(entry.pw_uid) == []
        finally:
            hub._end_processes(account)
            for process in [*reapers, setuid]:
                process.kill()
                process.wait()


def test_a_process_that_outlives_its_sigkill_is_reported(monkeypatch, capsys) -> None:
    monkeypatch.setattr(hub, "_end_processes", lambda account: [4242] if account == "b" else [])
    hub._end_disabled(["a", "b"])
    err = capsys.readouterr().err
    assert "the disabled account b still runs process(es) 4242 after SIGKILL" in err
    assert "account a " not in err


def test_the_hub_starts_again_as_it_was(site: Site) -> None:
    """Stopped and started again on the same folder (with a site's configuration file loaded
    last): same accounts, same passwords, same gradebook; nothing made twice."""
    avery = site.account("E1001")
    accounts = sorted(_test_accounts(site.prefix))
    passwords = site.layout.credentials.read_text()
    site.server.stop()
    assert not _server_uids(avery)
    site_config = site.base / "site_hub_config.py"  # how a site plugs in its own settings
    site_config.write_text(
        'c.JupyterHub.template_vars = {"announcement_login": "Imaging privacy course"}\n',
        encoding="utf-8",
    )
    site.server = hub.start_hub(
        site.layout.root, site.roster, port=free_port(), site_config=site_config
    )
    assert "Imaging privacy course" in requests.get(site.url + "hub/login", timeout=30).text
    assert sorted(_test_accounts(site.prefix)) == accounts
    assert site.layout.credentials.read_text() == passwords
    _, response = _login(site, avery, site.password(avery))
    assert response.status_code == 200
    with pytest.raises(HubError, match="already running"):
        hub.start_hub(site.layout.root, site.roster, port=free_port())


# --------------------------------------------------------------------------- bad input


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", "hub", "start", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )


def _start_args(prefix: str, base: Path, roster: Path, port: int) -> list[str]:
    return [
        f"--hub-dir={base / 'hub'}",
        f"--roster={roster}",
        f"--trainer={prefix}trainer",
        f"--port={port}",
        f"--home-base={base / 'homes'}",
        f"--prefix={prefix}",
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (AVERY.replace("technologist", "janitor"), "line 3: role 'janitor' is not one of"),
        (AVERY.replace("Avery Quinlan", "Avery Again"), "line 3: employee_id 'E1001'"),
    ],
    ids=["unknown role", "duplicate id"],
)
def test_a_bad_roster_row_changes_nothing(row: str, message: str) -> None:
    with _scratch() as (prefix, base):
        roster = base / "roster.csv"
        roster.write_text("\n".join([HEADER, AVERY, row, ZOE]) + "\n", encoding="utf-8")
        done = _cli(*_start_args(prefix, base, roster, free_port()))
        assert done.returncode == 1, done.stderr
        assert message in done.stderr
        assert not _test_accounts(prefix)
        assert not (base / "hub").exists()


def test_a_port_in_use_changes_nothing() -> None:
    with _scratch() as (prefix, base), socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        roster = base / "roster.csv"
        roster.write_text("\n".join([HEADER, AVERY]) + "\n", encoding="utf-8")
        done = _cli(*_start_args(prefix, base, roster, taken.getsockname()[1]))
        assert done.returncode == 1
        assert f"port {taken.getsockname()[1]} of 127.0.0.1 is in use" in done.stderr
        assert not _test_accounts(prefix)
        assert not (base / "hub").exists()


def test_a_postgresql_that_will_not_start_leaves_nothing_half_made() -> None:
    with _scratch() as (prefix, base), socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        roster = base / "roster.csv"
        roster.write_text("\n".join([HEADER, AVERY]) + "\n", encoding="utf-8")
        args = _start_args(prefix, base, roster, free_port())
        done = _cli(*args, f"--postgres-port={taken.getsockname()[1]}")
        assert done.returncode == 1
        assert "PostgreSQL" in done.stderr or "port" in done.stderr
        assert f"port {taken.getsockname()[1]}" in done.stderr
        assert not _test_accounts(prefix), "the course account made before was not removed"
        assert not (base / "hub").exists()
        assert not (base / "homes").exists() or not any((base / "homes").iterdir())


def test_a_system_python_the_packages_do_not_support_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub runs this environment's packages on the system's Python: a package that needs a
    later patch release (soupsieve 3+ and 3.11.2, which broke the formgrader's grading page) is
    named before anything starts, not found by a trainer as a 500."""
    import sysconfig

    for name, wanted in (("needs-future", ">=3.99"), ("fine", ">=3.8")):
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Python: {wanted}\n",
            encoding="utf-8",
        )
    paths = {**sysconfig.get_paths(), "purelib": str(tmp_path)}
    monkeypatch.setattr(sysconfig, "get_paths", lambda: paths)
    with pytest.raises(HubError, match=r"needs-future 1\.0 \(>=3\.99\)") as raised:
        hub._check_runs_on(Path(sys.executable))
    assert "fine" not in str(raised.value)
