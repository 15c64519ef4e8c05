"""The course for a class: JupyterHub on this machine, an account per employee, trainers apart.

``hipaa-lab hub start`` (``make hub``) makes, from a staff roster and the trainers' names, a
JupyterHub on 127.0.0.1 (with configurable-http-proxy) where every employee logs in as themselves:

- **one Unix account per active employee** of the roster (:mod:`hipaa_lab.records.roster`), named
  from the employee id (``E1001`` gives ``hl-e1001``), its home folder mode 700; the gradebook
  knows each learner's first and last name and e-mail. An employee ``terminated`` or no longer on
  the roster has the account disabled at once: password locked, account expired (PAM refuses it),
  the running server stopped, the hub's user removed (cookies and tokens no longer work) and any
  process the account still runs ended; the
  home folder, submissions and grades are kept. ``hipaa-lab hub sync`` applies a changed roster to
  a running or stopped hub; applying the same roster again changes nothing.
- **trainers** are named on the command line (``--trainer NAME``, repeatable), never taken from
  the roster: a roster's ``manager`` is a learner too. A trainer is an ordinary hub user who may
  also use the formgrader. A missing trainer account is made like a learner's.
- **passwords**: the default authenticator is PAM (the accounts' own passwords). Each account this
  command makes gets a random password (``chpasswd``), written to ``state/credentials.csv``
  (mode 600, root's) for the trainer to hand out; none is empty or shared. A site plugs in LDAP
  or OAuth with ``--config FILE``: a JupyterHub configuration file loaded last, e.g.
  ``c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"`` (its user names
  must be the accounts' names). The roster still decides who is let in (the hub's allowed and
  blocked users, and the sync's removals).
- **the course** belongs to the course account (``hl-grader``), as nbgrader's "one class,
  multiple graders" set-up prescribes: its home (mode 700) holds the nbgrader course (``source/``,
  ``submitted/``, ``autograded/``, ``feedback/``, the course secret, the gradebook's URL), which no
  learner can enter. The formgrader is a JupyterHub service named after the course, run as that
  account; JupyterHub's RBAC lets only the group ``formgrade-hipaa-lab`` (the trainers) in.
  Trainers open it at ``/services/hipaa-lab/formgrader`` (JupyterHub 4.1 and later refuse to
  show it inside JupyterLab's frame). ``hipaa-lab hub course autograde`` (release, feedback,
  scores) runs a course step as that account too, so that what it writes stays the course's.
- **the exchange** is nbgrader's: ``exchange/`` (mode 1777: anyone may make their folder, nobody
  may rename another's), the course's folder the course account's (755), ``outbound/`` 755,
  ``inbound/`` 2733 (learners drop submissions there and cannot list it), ``feedback/`` 711.
- **the gradebook** is on PostgreSQL: a server of its own in ``postgres/``
  (:class:`hipaa_lab.postgres.LocalPostgres`, run as the course account, password only, its
  socket folder closed to others), or the site's server given by ``--db URL``.

The hub folder (``--hub-dir``, mode 711, root's)::

    hub/
    ├── state/            root's alone (700): hub.json (ports, the roster service's token, the
    │                     accounts), credentials.csv, jupyterhub_config.py, JupyterHub's own
    │                     database and cookie secret, jupyterhub.log
    ├── learner-config/   read by every learner's server: the course id, the exchange, no news
    ├── exchange/         nbgrader's exchange
    ├── grader/           the course account's home (700); grader/course/ is the nbgrader course
    └── postgres/         the gradebook's server, when no --db URL is given

A problem found before anything is made (a bad roster row, a port in use, a trainer name that is
a learner's account) changes nothing; a failure later on (PostgreSQL will not start, JupyterHub
exits) undoes what this run made: accounts, folders, servers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import io
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.course.build import COURSE_ID, _venv_on_path, serve_until_signal
from hipaa_lab.course.sandbox import processes_of as _processes_of
from hipaa_lab.errors import HubError
from hipaa_lab.postgres import LocalPostgres, free_port, port_in_use, url_argument
from hipaa_lab.records.roster import Employee, EmploymentStatus, read_roster

__all__ = [
    "COURSE_STEPS",
    "FORMGRADERS",
    "HubLayout",
    "HubServer",
    "PREFIX",
    "RosterChanges",
    "SERVICE",
    "account_name",
    "course_step",
    "main",
    "split_name",
    "start_hub",
    "stop_hub",
    "sync_roster",
]

#: Learner accounts are this prefix and the employee id (``hl-e1001``); the course account is
#: the prefix and ``grader``.
PREFIX = "hl-"
#: The formgrader's JupyterHub service: nbgrader wants it named after the course.
SERVICE = COURSE_ID
#: The hub group whose members may use the formgrader (nbgrader's ``formgrade-COURSE``).
FORMGRADERS = f"formgrade-{COURSE_ID}"
#: The hub service whose token ``hipaa-lab hub sync`` uses to add and remove users.
ROSTER_SERVICE = "hipaa-lab-roster"
GRADEBOOK_DB = "gradebook"
_ACCOUNT = re.compile(r"[a-z][a-z0-9-]{0,31}")
_CREDENTIAL_COLUMNS = ("account", "employee_id", "role", "password")


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _check_runs_on(python: Path) -> None:
    """Refuse a system Python that this environment's packages do not support.

    The hub runs this environment's packages with the system's interpreter of the same minor
    version, whose patch release can be older (Debian 12: 3.11.2); a package that requires a later
    one (soupsieve 3+ needs 3.11.5's ``re``) imports there and then fails, as the formgrader's
    grading page did. Raises :class:`HubError` naming every such package.
    """
    from importlib.metadata import distributions

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    purelib = sysconfig.get_paths()["purelib"]
    unsupported = []
    for dist in distributions(path=[purelib]):
        wanted = dist.metadata["Requires-Python"]
        try:
            if wanted and not SpecifierSet(wanted).contains(version, prereleases=True):
                unsupported.append(f"{dist.metadata['Name']} {dist.version} ({wanted})")
        except InvalidSpecifier:
            continue
    if unsupported:
        raise HubError(
            f"learners' servers would run on {python} (Python {version}), which these installed "
            f"packages do not support: {', '.join(sorted(unsupported))}; install versions that "
            f"support Python {version}, or hipaa-lab with a Python every user may run"
        )


def _shared_bin(layout: HubLayout) -> Path:
    """A ``bin`` folder whose Python and scripts other users may run, with this environment's
    packages: this environment's own when others can reach its interpreter, else
    ``HUB/python``, a virtual environment of a system Python of the same version whose
    ``site-packages`` adds this environment's (an interpreter under ``/root``, as pyenv puts it,
    is out of learners' reach)."""
    if _others_enter(Path(sys.executable).resolve()) is None:
        return _venv_bin()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next(
        (
            Path(c)
            for c in (f"/usr/bin/{version}", f"/usr/local/bin/{version}")
            if Path(c).is_file() and _others_enter(Path(c).resolve()) is None
        ),
        None,
    )
    if system is None:
        raise HubError(
            f"learners cannot run this Python ({Path(sys.executable).resolve()}: a folder on "
            f"its way is closed to other users) and there is no /usr/bin/{version}: install "
            "hipaa-lab with a Python every user may run"
        )
    _check_runs_on(system)
    shim = layout.root / "python"
    if not (shim / "bin" / "python").exists():
        subprocess.run(
            [str(system), "-m", "venv", "--without-pip", str(shim)], check=True, capture_output=True
        )
    purelib = Path(sysconfig.get_paths()["purelib"])
    site_packages = shim / "lib" / version / "site-packages"
    (site_packages / "hipaa-lab-env.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n", encoding="utf-8"
    )
    for name in ("share", "etc"):  # Jupyter's data and config under sys.prefix: the environment's
        link, target = shim / name, Path(sys.prefix) / name
        if target.is_dir() and not link.is_symlink():
            shutil.rmtree(link, ignore_errors=True)
            link.symlink_to(target)
    venv_python = f"#!{_venv_bin()}/python"
    for script in _venv_bin().iterdir():
        copy = shim / "bin" / script.name
        if not script.is_file() or (copy.exists() and not copy.is_file()):
            continue
        with open(script, "rb") as f:
            head = f.read(200)
        if not head.startswith(venv_python.encode()):
            continue
        body = script.read_text(encoding="utf-8").split("\n", 1)[1]
        copy.write_text(f"#!{shim}/bin/python\n{body}", encoding="utf-8")
        os.chmod(copy, 0o755)  # noqa: S103 - a script every user runs
    for folder, dirs, files in os.walk(shim):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                os.chmod(
                    path,
                    os.stat(path).st_mode
                    | stat.S_IROTH
                    | stat.S_IRGRP
                    | (
                        stat.S_IXOTH | stat.S_IXGRP
                        if path.is_dir() or os.stat(path).st_mode & stat.S_IXUSR
                        else 0
                    ),
                )
    os.chmod(shim, 0o755)  # noqa: S103 - every user runs it
    return shim / "bin"


# --------------------------------------------------------------------------- names


def account_name(employee_id: str, prefix: str = PREFIX) -> str:
    """The Unix (and hub) account of an employee: ``prefix`` and the id, lower-case, every run of
    other characters a ``-``. Raises :class:`HubError` when that is no valid account name.

    >>> account_name("E1001")
    'hl-e1001'
    >>> account_name("RAD/0042", prefix="rad-")
    'rad-rad-0042'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", employee_id.lower()).strip("-")
    name = prefix + slug
    if not slug or not _ACCOUNT.fullmatch(name):
        raise HubError(
            f"employee id {employee_id!r} gives no usable account name ({name!r}): an account "
            "name is a letter, then letters, digits and '-', 32 characters at most"
        )
    return name


def split_name(name: str) -> tuple[str, str]:
    """(first, last) for nbgrader's gradebook: the last word is the last name.

    >>> split_name("Avery Quinlan")
    ('Avery', 'Quinlan')
    >>> split_name("Zoë D'Arcy-Nakamura")
    ('Zoë', "D'Arcy-Nakamura")
    >>> split_name("Sol")
    ('Sol', '')
    """
    parts = name.strip().rsplit(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (name.strip(), "")


# --------------------------------------------------------------------------- layout and state


@dataclass(frozen=True)
class HubLayout:
    """Where a hub folder keeps what (see the module's docstring)."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def state_file(self) -> Path:
        return self.state / "hub.json"

    @property
    def credentials(self) -> Path:
        return self.state / "credentials.csv"

    @property
    def config_file(self) -> Path:
        return self.state / "jupyterhub_config.py"

    @property
    def log(self) -> Path:
        return self.state / "jupyterhub.log"

    @property
    def learner_config(self) -> Path:
        return self.root / "learner-config"

    @property
    def exchange(self) -> Path:
        return self.root / "exchange"

    @property
    def grader_home(self) -> Path:
        return self.root / "grader"

    @property
    def course(self) -> Path:
        return self.grader_home / "course"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"


@dataclass
class HubState:
    """What ``state/hub.json`` keeps between runs."""

    prefix: str
    course_account: str
    trainers: list[str]
    #: employee id -> {"account": name, "active": bool}
    learners: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: accounts this hub made (a trainer's may have been there before)
    made: list[str] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    port: int = 0
    own_postgres: bool = True
    site_config: str | None = None
    home_base: str | None = None
    pid: int | None = None

    def active(self) -> list[str]:
        return sorted(v["account"] for v in self.learners.values() if v["active"])

    def disabled(self) -> list[str]:
        return sorted(v["account"] for v in self.learners.values() if not v["active"])


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a rename), mode 600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_state(layout: HubLayout) -> HubState | None:
    if not layout.state_file.is_file():
        return None
    return HubState(**json.loads(layout.state_file.read_text(encoding="utf-8")))


def _save_state(layout: HubLayout, state: HubState) -> None:
    _write_private(layout.state_file, (json.dumps(asdict(state), indent=1) + "\n").encode())


def _running(state: HubState | None) -> int | None:
    """The pid of the hub ``state`` describes, when it still runs."""
    if state is None or not state.pid:
        return None
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except OSError:
        return None
    return state.pid if b"jupyterhub" in cmdline else None


# --------------------------------------------------------------------------- checks


def _require_root() -> None:
    if os.geteuid() != 0:
        raise HubError(
            "the hub makes a Unix account per learner and runs each learner's server as that "
            "account: run it as root (sudo make hub ...)"
        )


def _others_enter(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter, or ``None``."""
    for folder in [*reversed(path.parents), path]:
        if folder.exists() and not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def _proxy_command() -> str:
    """configurable-http-proxy: the repository's ``.node`` copy (``make hub`` installs it with
    npm), else one on PATH."""
    import hipaa_lab

    local = Path(hipaa_lab.__file__).resolve().parent.parent / ".node/node_modules/.bin"
    found = shutil.which(
        "configurable-http-proxy", path=f"{local}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if found is None:
        raise HubError(
            "configurable-http-proxy (JupyterHub's proxy, from npm) is not installed: "
            "`npm install --prefix .node configurable-http-proxy@5` in the repository "
            "(make hub does), or install it globally"
        )
    return found


def _check_places(layout: HubLayout, home_base: str | None) -> None:
    """Every learner's server must reach the exchange, the learner configuration and Python."""
    import hipaa_lab

    places = [layout.root, Path(hipaa_lab.__file__).resolve().parent]
    if home_base:
        places.append(Path(home_base))
    for place in places:
        closed = _others_enter(place.resolve())
        if closed is not None:
            raise HubError(
                f"learners' servers could not reach {place}: {closed} is closed to other users "
                f"(mode {stat.S_IMODE(os.stat(closed).st_mode):o}); put the hub, the Python "
                "environment and the learners' homes under folders others may enter (mode 711 "
                "or 755)"
            )


# --------------------------------------------------------------------------- Unix accounts


def _run(argv: Sequence[str], *, stdin: str | None = None) -> None:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode:
        raise HubError(f"`{argv[0]} ... {argv[-1]}` failed: {done.stderr.strip()[-400:]}")


def _exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def _make_account(
    account: str, *, home: Path | None, home_base: str | None, comment: str, login: bool
) -> None:
    argv = ["useradd", "--create-home", "--user-group", "--comment", comment]
    argv += ["--shell", "/bin/bash" if login else "/usr/sbin/nologin"]
    if home is not None:
        argv += ["--home-dir", str(home)]
    elif home_base:
        argv += ["--base-dir", home_base]
    _run([*argv, account])
    os.chmod(pwd.getpwnam(account).pw_dir, 0o700)


def _remove_account(account: str) -> None:
    with contextlib.suppress(HubError):
        _run(["userdel", "--remove", account])


def _new_password(account: str) -> str:
    password = secrets.token_urlsafe(15)
    _run(["chpasswd"], stdin=f"{account}:{password}\n")
    return password


def _read_credentials(layout: HubLayout) -> dict[str, dict[str, str]]:
    if not layout.credentials.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(layout.credentials.read_text(encoding="utf-8")))
    return {row["account"]: row for row in rows}


def _write_credentials(layout: HubLayout, rows: dict[str, dict[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CREDENTIAL_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for account in sorted(rows):
        writer.writerow({k: rows[account].get(k, "") for k in _CREDENTIAL_COLUMNS})
    _write_private(layout.credentials, out.getvalue().encode())


# --------------------------------------------------------------------------- the roster


@dataclass
class RosterChanges:
    """What applying a roster did (account names)."""

    added: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.enabled)} enabled again",
            f"{len(self.disabled)} disabled",
            f"{len(self.unchanged)} unchanged",
        ]
        return ", ".join(parts)


def _plan(
    employees: Sequence[Employee], state: HubState, trainers: Iterable[str]
) -> tuple[dict[str, Employee], RosterChanges]:
    """Which account each employee gets, and what changes; raises before anything is made."""
    accounts: dict[str, Employee] = {}
    problems: list[str] = []
    for e in employees:
        try:
            account = account_name(e.employee_id, state.prefix)
        except HubError as exc:
            problems.append(str(exc))
            continue
        known = state.learners.get(e.employee_id)
        if known is not None:
            account = known["account"]
        if account in accounts:
            problems.append(
                f"employee ids {accounts[account].employee_id!r} and {e.employee_id!r} give the "
                f"same account name {account!r}: make the ids differ in more than punctuation"
            )
        accounts[account] = e
    special = {state.course_account, *trainers}
    for account in sorted(special & set(accounts)):
        problems.append(f"{account!r} is both a learner's account and a trainer's or the course's")
    ours = {v["account"] for v in state.learners.values()}
    for account in sorted(set(accounts) - ours):
        if _exists(account):
            problems.append(
                f"a Unix account {account!r} (for employee {accounts[account].employee_id!r}) "
                "already exists and was not made by this hub: nothing was changed"
            )
    if problems:
        raise HubError("the roster cannot be applied:\n  " + "\n  ".join(problems))
    changes = RosterChanges()
    on_roster = set()
    for account, e in accounts.items():
        wanted = e.status is EmploymentStatus.ACTIVE
        known = state.learners.get(e.employee_id)
        on_roster.add(e.employee_id)
        if known is None:
            if wanted:
                changes.added.append(account)
            continue  # a terminated employee never seen before gets no account
        if wanted and not known["active"]:
            changes.enabled.append(account)
        elif not wanted and known["active"]:
            changes.disabled.append(account)
        else:
            changes.unchanged.append(account)
    for employee_id, known in state.learners.items():
        if employee_id not in on_roster and known["active"]:
            changes.disabled.append(known["account"])
    return accounts, changes


def _apply(
    layout: HubLayout,
    state: HubState,
    accounts: dict[str, Employee],
    changes: RosterChanges,
    undo: _Undo,
) -> None:
    """Make, enable and disable the Unix accounts; record them in ``state`` and passwords."""
    credentials = _read_credentials(layout)
    by_account = {v["account"]: k for k, v in state.learners.items()}
    for account in changes.added:
        e = accounts[account]
        _make_account(
            account, home=None, home_base=state.home_base, comment="hipaa-lab learner", login=True
        )
        undo.add(functools.partial(_remove_account, account))
        state.made.append(account)
        state.learners[e.employee_id] = {"account": account, "active": True}
        credentials[account] = {
            "account": account,
            "employee_id": e.employee_id,
            "role": "learner",
            "password": _new_password(account),
        }
    for account in changes.enabled:
        _run(["usermod", "--unlock", "--expiredate", "", account])
        state.learners[by_account[account]]["active"] = True
        credentials[account] = {
            "account": account,
            "employee_id": by_account[account],
            "role": "learner",
            "password": _new_password(account),
        }
    for account in changes.disabled:
        _run(["usermod", "--lock", "--expiredate", "1", account])
        state.learners[by_account[account]]["active"] = False
        credentials.pop(account, None)
    for trainer in state.trainers:
        if not _exists(trainer):
            _make_account(
                trainer,
                home=None,
                home_base=state.home_base,
                comment="hipaa-lab trainer",
                login=True,
            )
            undo.add(functools.partial(_remove_account, trainer))
            state.made.append(trainer)
            credentials[trainer] = {
                "account": trainer,
                "employee_id": "",
                "role": "trainer",
                "password": _new_password(trainer),
            }
    _write_credentials(layout, credentials)


def _gradebook_students(url: str, accounts: dict[str, Employee]) -> None:
    """Every learner in nbgrader's gradebook with first and last name and e-mail."""
    from nbgrader.api import Gradebook

    with _venv_on_path(), Gradebook(url, COURSE_ID) as gb:
        for account, e in sorted(accounts.items()):
            first, last = split_name(e.name)
            gb.update_or_create_student(account, first_name=first, last_name=last, email=e.email)


# --------------------------------------------------------------------------- undo


class _Undo:
    """What a run made, to take back in reverse order when a later step fails."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def run(self) -> None:
        for step in reversed(self.steps):
            try:
                step()
            except Exception as exc:  # undo all it can; say what it could not
                print(f"hipaa-lab hub: while undoing: {exc}", file=sys.stderr)
        self.steps.clear()


def _mkdir(path: Path, mode: int, undo: _Undo, owner: str | None = None) -> None:
    if not path.exists():
        path.mkdir(parents=True)
        undo.add(lambda: shutil.rmtree(path, ignore_errors=True))
    os.chmod(path, mode)
    if owner is not None:
        shutil.chown(path, owner, owner)


# --------------------------------------------------------------------------- the course


def _account_env(account: str, bindir: Path) -> dict[str, str]:
    return {
        "PATH": f"{bindir}{os.pathsep}/usr/bin:/bin",
        "HOME": pwd.getpwnam(account).pw_dir,
        "USER": account,
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }


def _as_account(
    account: str, argv: Sequence[str], *, cwd: Path, bindir: Path, stdin: str = ""
) -> None:
    entry = pwd.getpwnam(account)
    done = subprocess.run(
        list(argv),
        input=stdin,
        cwd=cwd,
        env=_account_env(account, bindir),
        user=entry.pw_uid,
        group=entry.pw_gid,
        extra_groups=[],
        umask=0o077,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise HubError(f"setting up the course as {account} failed:\n{done.stderr.strip()[-2000:]}")


_BUILD = """\
import sys
from pathlib import Path
from hipaa_lab.course.build import SITE_CONFIG, build, release
course, exchange = Path(sys.argv[1]), sys.argv[2]
build(course, db_url=sys.stdin.read().strip() or None)
site = [
    "# Written by hipaa-lab hub: the hub's exchange, shared with every learner's server.",
    f"c.Exchange.root = {exchange!r}",
]
(course / SITE_CONFIG).write_text(chr(10).join(site) + chr(10), encoding="utf-8")
release(course)
"""


def _close_sources(course_account: str) -> None:
    """The course's source notebooks (model answers, hidden tests) readable by the course account
    and root only: the package beside them must stay open to every learner's server, so the
    folder is closed to others and given the course account's group (owners unchanged)."""
    from hipaa_lab.course.build import find_notebooks

    gid = pwd.getpwnam(course_account).pw_gid
    folder = find_notebooks()
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        os.chown(path, -1, gid, follow_symlinks=False)
        group = 0o050 if stat.S_ISDIR(info.st_mode) else 0o040
        os.chmod(path, (stat.S_IMODE(info.st_mode) & ~0o007) | group)


def _build_course(
    layout: HubLayout, state: HubState, db_url: str, bindir: Path, undo: _Undo
) -> None:
    """Build and release the course as the course account (the URL goes by stdin: a command
    line is visible to every user of the machine)."""
    owner = state.course_account
    exchange = layout.exchange / COURSE_ID
    _mkdir(layout.exchange, 0o1777, undo)
    _mkdir(exchange, 0o755, undo, owner)
    _mkdir(exchange / "outbound", 0o755, undo, owner)
    _mkdir(exchange / "inbound", 0o2733, undo, owner)
    _mkdir(exchange / "feedback", 0o711, undo, owner)
    _mkdir(layout.course, 0o700, undo, owner)
    script = [str(bindir / "python"), "-c", _BUILD, str(layout.course), str(layout.exchange)]
    _as_account(owner, script, cwd=layout.grader_home, bindir=bindir, stdin=db_url)


def _learner_config(layout: HubLayout) -> None:
    """What every learner's server reads (``JUPYTER_CONFIG_PATH``): the course and the exchange,
    no formgrader, nothing fetched from outside."""
    folder = layout.learner_config
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    files = {
        "nbgrader_config.py": [
            "# Written by hipaa-lab hub: the learner's side of the course.",
            "c = get_config()  # noqa: F821",
            f"c.CourseDirectory.course_id = {COURSE_ID!r}",
            f"c.Exchange.root = {str(layout.exchange)!r}",
        ],
        "jupyter_server_config.py": [
            "# Written by hipaa-lab hub: a learner's JupyterLab fetches nothing from outside and",
            "# has no formgrader (the course's formgrader is the hub service, for trainers).",
            "c = get_config()  # noqa: F821",
            "from hipaa_lab.course.offline import configure_server",
            "configure_server(c)",
            "c.ServerApp.jpserver_extensions.update({",
            "    'nbgrader.server_extensions.formgrader': False,",
            "    'nbgrader.server_extensions.course_list': False,",
            "})",
        ],
        "labconfig/page_config.json": [
            json.dumps(
                {
                    "disabledExtensions": {
                        "@jupyter/nbgrader:formgrader": True,
                        "@jupyter/nbgrader:create-assignment": True,
                        "@jupyter/nbgrader:course-list": True,
                    }
                },
                indent=1,
            )
        ],
    }
    os.chmod(folder, 0o755)  # noqa: S103 - every learner's server reads it; it holds no secret
    os.chmod(folder / "labconfig", 0o755)  # noqa: S103 - the same
    for name, lines in files.items():
        path = folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(path, 0o644)


# --------------------------------------------------------------------------- JupyterHub


@dataclass(frozen=True)
class _Ports:
    hub: int
    hub_api: int
    proxy_api: int
    service: int


def _hub_config(layout: HubLayout, state: HubState, ports: _Ports, proxy: str, venv: Path) -> str:
    singleuser = str(venv / "jupyterhub-singleuser")
    path = f"{venv}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    pythonpath = os.environ.get("PYTHONPATH", "")
    learner_env = {
        "PATH": path,
        "PYTHONPATH": pythonpath,
        "JUPYTER_CONFIG_PATH": str(layout.learner_config),
        "LANG": "C.UTF-8",
    }
    service_env = {
        "PATH": path,
        "PYTHONPATH": pythonpath,
        "LANG": "C.UTF-8",
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",
    }
    service = {
        "name": SERVICE,
        "url": f"http://127.0.0.1:{ports.service}",
        "command": [
            singleuser,
            f"--ServerApp.root_dir={layout.grader_home}",
            f"--config={layout.course / 'jupyter_server_config.py'}",
        ],
        "user": state.course_account,
        "cwd": str(layout.course),
        "environment": service_env,
        "oauth_no_confirm": True,
    }
    roles = [
        {
            "name": FORMGRADERS,
            "description": "trainers: the course's formgrader",
            "groups": [FORMGRADERS],
            "scopes": [
                f"access:services!service={SERVICE}",
                "list:services",
                f"read:services!service={SERVICE}",
            ],
        },
        {
            "name": ROSTER_SERVICE,
            "description": "hipaa-lab hub sync: add learners, stop and remove disabled ones",
            "services": [ROSTER_SERVICE],
            "scopes": ["admin:users", "admin:servers", "list:users", "read:users", "read:servers"],
        },
    ]
    lines = [
        "# Written by `hipaa-lab hub start` (hipaa_lab/course/hub.py); rewritten on every start",
        "# and sync. Site settings (an LDAP or OAuth authenticator...) go in a file given with",
        "# --config, loaded last.",
        "c = get_config()  # noqa: F821",
        f"c.JupyterHub.bind_url = {f'http://127.0.0.1:{ports.hub}'!r}",
        f"c.JupyterHub.hub_bind_url = {f'http://127.0.0.1:{ports.hub_api}'!r}",
        f"c.ConfigurableHTTPProxy.api_url = {f'http://127.0.0.1:{ports.proxy_api}'!r}",
        f"c.ConfigurableHTTPProxy.command = [{proxy!r}]",
        f"c.JupyterHub.db_url = {'sqlite:///' + str(layout.state / 'jupyterhub.sqlite')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(layout.state / 'jupyterhub_cookie_secret')!r}",
        f"c.JupyterHub.pid_file = {str(layout.state / 'jupyterhub.pid')!r}",
        "c.JupyterHub.cleanup_servers = True",
        "# who may log in: the roster's active learners and the trainers; nobody else",
        'c.JupyterHub.authenticator_class = "pam"',
        "c.PAMAuthenticator.check_account = True  # a locked or expired account is refused",
        f"c.Authenticator.allowed_users = {set(state.active()) | set(state.trainers)!r}",
        f"c.Authenticator.blocked_users = {set(state.disabled())!r}",
        "c.Authenticator.allow_existing_users = True  # `hub sync` adds and removes through the API",
        "c.Authenticator.admin_users = set()",
        'c.JupyterHub.spawner_class = "localprocess"',
        f"c.Spawner.cmd = [{singleuser!r}]",
        'c.Spawner.default_url = "/lab"',
        f"c.Spawner.environment = {learner_env!r}",
        f"c.JupyterHub.load_groups = {{{FORMGRADERS!r}: {{'users': {sorted(state.trainers)!r}}}}}",
        f"c.JupyterHub.load_roles = {roles!r}",
        f"c.JupyterHub.services = [{service!r}, {{'name': {ROSTER_SERVICE!r}, 'api_token': {state.token!r}}}]",
    ]
    if state.site_config:
        lines.append(f"load_subconfig({state.site_config!r})  # noqa: F821")
    return "\n".join(lines) + "\n"


@dataclass
class HubServer:
    """A running hub; :meth:`stop` ends it (JupyterHub, its proxy, servers and services, and the
    gradebook's PostgreSQL when the hub started it)."""

    process: subprocess.Popen[bytes]
    port: int
    layout: HubLayout
    token: str
    postgres: LocalPostgres | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the hub's REST API (``/hub/api/PATH``) with the roster service's token."""
        return _api(self.port, self.token, method, path, body)

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.postgres is not None:
            self.postgres.stop()
        state = _load_state(self.layout)
        if state is not None and state.pid == self.process.pid:
            state.pid = None
            _save_state(self.layout, state)


def _api(port: int, token: str, method: str, path: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hub/api/{path.lstrip('/')}",
        data=data,
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    try:
        # the hub this module started, on 127.0.0.1
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            text = response.read().decode() or "null"
            return response.status, json.loads(text)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _wait_for(process: subprocess.Popen[bytes], ports: _Ports, log: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            raise HubError(
                f"JupyterHub exited with status {process.returncode} before it answered; "
                f"its log ({log}) ends:\n{_tail(log)}"
            )
        ready = True
        for port in (ports.hub, ports.service):
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    ready = False
        if ready:
            try:
                # the hub this module started, on 127.0.0.1
                with urllib.request.urlopen(f"http://127.0.0.1:{ports.hub}/hub/api/", timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
        if time.monotonic() > deadline:
            raise HubError(f"JupyterHub did not answer within {wait:.0f} s:\n{_tail(log)}")
        time.sleep(0.5)


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- start, sync, stop


def _new_state(layout: HubLayout, prefix: str, home_base: str | None) -> HubState:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", prefix):
        raise HubError(
            f"account prefix {prefix!r}: a letter, then letters, digits or '-', 16 at most"
        )
    return HubState(
        prefix=prefix,
        course_account=f"{prefix}grader",
        trainers=[],
        home_base=str(Path(home_base).resolve()) if home_base else None,
    )


def _check_trainers(trainers: Sequence[str], state: HubState) -> None:
    if not trainers:
        raise HubError("name at least one trainer: --trainer NAME (a Unix account name)")
    for trainer in trainers:
        if not _ACCOUNT.fullmatch(trainer) and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", trainer):
            raise HubError(f"trainer {trainer!r} is not a usable account name")
        if trainer == state.course_account:
            raise HubError(f"{trainer!r} is the course account, not a trainer")
        with contextlib.suppress(KeyError):
            if pwd.getpwnam(trainer).pw_uid < 1000:
                raise HubError(
                    f"{trainer!r} is a system account: a trainer's server runs as their account, "
                    "so name an ordinary one (it is made when missing)"
                )
        if trainer in {v["account"] for v in state.learners.values()}:
            raise HubError(f"{trainer!r} is a learner's account; a trainer's must be apart")


def start_hub(
    hub_dir: str | os.PathLike[str],
    roster: str | os.PathLike[str] | None,
    *,
    trainers: Sequence[str] = (),
    port: int = 8000,
    db_url: str | None = None,
    site_config: str | os.PathLike[str] | None = None,
    home_base: str | os.PathLike[str] | None = None,
    prefix: str = PREFIX,
    postgres_port: int | None = None,
    wait: float = 300,
) -> HubServer:
    """Set up (or bring up to date) the hub in ``hub_dir`` and start it on 127.0.0.1:``port``.

    Parameters
    ----------
    hub_dir
        The hub's folder (made when missing; see the module's docstring).
    roster
        The staff roster (CSV or XLSX): accounts are added and disabled to match it. ``None``
        on a later start: the accounts as they are.
    trainers
        Trainers' account names (at least one on the first start; later starts keep the list
        when none is given).
    db_url
        The gradebook's PostgreSQL (a site's server); default: a server of the hub's own in
        ``hub_dir/postgres``, started here.
    site_config
        A JupyterHub configuration file loaded after the hub's own (another authenticator...).
    home_base
        Where learners' home folders are made (default: the system's, ``/home``); first start
        only.
    prefix
        Account names' prefix; first start only.
    postgres_port
        The port of the hub's own PostgreSQL on 127.0.0.1 (default: the one it had, else a
        free one).

    Raises
    ------
    RosterError
        A bad roster row (each named by line): nothing was changed.
    HubError
        Not root, a port in use, a hub already running from ``hub_dir``, an account name taken,
        JupyterHub failing to start: what this run made is undone.
    PostgresError
        The gradebook's server would not start: what this run made is undone.
    """
    _require_root()
    layout = HubLayout(Path(hub_dir).resolve())
    state = _load_state(layout)
    running = _running(state)
    if running:
        raise HubError(
            f"a hub is already running from {layout.root} (pid {running}): stop it first "
            "(`hipaa-lab hub stop`), or apply a roster to it with `hipaa-lab hub sync`"
        )
    fresh = state is None
    if state is None:
        state = _new_state(layout, prefix, str(home_base) if home_base else None)
    elif prefix != PREFIX and prefix != state.prefix:
        raise HubError(f"this hub's accounts start with {state.prefix!r}; the prefix is fixed")
    trainers = list(trainers) or list(state.trainers)
    _check_trainers(trainers, state)
    if roster is None and fresh:
        raise HubError("give the staff roster (--roster FILE) on the first start")
    employees = read_roster(roster) if roster is not None else None
    if port_in_use(port):
        raise HubError(
            f"port {port} of 127.0.0.1 is in use: stop what listens there or choose another "
            "with --port (nothing was changed)"
        )
    proxy = _proxy_command()
    _check_places(layout, state.home_base)
    state.trainers = trainers
    if site_config is not None:
        state.site_config = str(Path(site_config).resolve())
        if not Path(state.site_config).is_file():
            raise HubError(f"no JupyterHub configuration file {state.site_config}")
    accounts, changes = (
        _plan(employees, state, trainers) if employees is not None else ({}, RosterChanges())
    )
    ports = _Ports(port, free_port(), free_port(), free_port())
    if len({*ports.__dict__.values()}) < 4:
        raise HubError("could not find four free ports on 127.0.0.1")

    undo = _Undo()
    postgres: LocalPostgres | None = None
    try:
        if not layout.root.exists():
            layout.root.mkdir(parents=True)
            undo.add(lambda: shutil.rmtree(layout.root, ignore_errors=True))
        os.chmod(layout.root, 0o711)  # noqa: S103 - enter, not list: learners reach the exchange
        _mkdir(layout.state, 0o700, undo)
        if not _exists(state.course_account):
            _make_account(
                state.course_account,
                home=layout.grader_home,
                home_base=None,
                comment="hipaa-lab course",
                login=False,
            )
            undo.add(lambda: _remove_account(state.course_account))
            state.made.append(state.course_account)
        os.chmod(layout.grader_home, 0o700)
        if db_url is not None:
            state.own_postgres = False
            url = db_url
        else:
            postgres = LocalPostgres(
                layout.postgres, port=postgres_port, run_as=state.course_account
            )
            was_running = postgres.running() if postgres.data.exists() else False
            postgres_folder_new = not layout.postgres.exists()
            if postgres_folder_new:
                undo.add(lambda: shutil.rmtree(layout.postgres, ignore_errors=True))
            postgres.start()
            if not was_running:
                undo.add(postgres.stop)
            url = postgres.create_database(GRADEBOOK_DB)
        _apply(layout, state, accounts, changes, undo)
        _end_disabled(changes.disabled)
        bindir = _shared_bin(layout)
        _close_sources(state.course_account)
        _build_course(layout, state, url, bindir, undo)
        if accounts:
            _gradebook_students(url, accounts)
        _learner_config(layout)
        state.port = port
        _write_private(
            layout.config_file, _hub_config(layout, state, ports, proxy, bindir).encode()
        )
        _save_state(layout, state)
        server = _launch(layout, state, ports, postgres, wait)
    except BaseException:
        undo.run()
        raise
    return server


def _launch(
    layout: HubLayout,
    state: HubState,
    ports: _Ports,
    postgres: LocalPostgres | None,
    wait: float,
) -> HubServer:
    env = {
        "PATH": f"{_venv_bin()}{os.pathsep}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "LANG": "C.UTF-8",
        "HOME": str(layout.state),
    }
    log = open(layout.log, "ab")  # noqa: SIM115 - the hub writes to it as long as it runs
    try:
        process = subprocess.Popen(
            [str(_venv_bin() / "jupyterhub"), "-f", str(layout.config_file)],
            cwd=layout.state,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    server = HubServer(process, ports.hub, layout, state.token, postgres)
    try:
        _wait_for(process, ports, layout.log, wait)
    except BaseException:
        server.postgres = None  # the caller's undo stops it when this run started it
        server.stop()
        raise
    state.pid = process.pid
    _save_state(layout, state)
    return server


def sync_roster(hub_dir: str | os.PathLike[str], roster: str | os.PathLike[str]) -> RosterChanges:
    """Apply a (changed) roster to the hub in ``hub_dir``, running or not: accounts added,
    enabled again or disabled; a disabled learner's server is stopped and their hub user removed
    at once. Applying the same roster again changes nothing.

    Raises :class:`RosterError` (bad rows) or :class:`HubError` before anything is changed.
    """
    _require_root()
    layout = HubLayout(Path(hub_dir).resolve())
    state = _load_state(layout)
    if state is None:
        raise HubError(f"no hub in {layout.root}: start one with `hipaa-lab hub start`")
    employees = read_roster(roster)
    accounts, changes = _plan(employees, state, state.trainers)
    running = _running(state)
    postgres: LocalPostgres | None = None
    stop_postgres = False
    if state.own_postgres:
        postgres = LocalPostgres(layout.postgres, run_as=state.course_account)
        stop_postgres = not postgres.running()
        postgres.start()
    try:
        undo = _Undo()
        _apply(layout, state, accounts, changes, undo)  # accounts made now stay: a sync commits
        _gradebook_students(_gradebook_url(layout), accounts)
        _save_state(layout, state)
        text = layout.config_file.read_text(encoding="utf-8")
        text = re.sub(
            r"^c\.Authenticator\.allowed_users = .*$",
            f"c.Authenticator.allowed_users = {set(state.active()) | set(state.trainers)!r}",
            text,
            flags=re.M,
        )
        text = re.sub(
            r"^c\.Authenticator\.blocked_users = .*$",
            f"c.Authenticator.blocked_users = {set(state.disabled())!r}",
            text,
            flags=re.M,
        )
        _write_private(layout.config_file, text.encode())
        if running:
            for account in changes.added + changes.enabled:
                _api(state.port, state.token, "POST", f"users/{account}")
            for account in changes.disabled:
                _remove_hub_user(state, account)
        _end_disabled(changes.disabled)  # what the server left (a terminal's background job)
    finally:
        if postgres is not None and stop_postgres:
            postgres.stop()
    return changes


def _gradebook_url(layout: HubLayout) -> str:
    from hipaa_lab.course.build import gradebook_url

    return gradebook_url(layout.course)


def _remove_hub_user(state: HubState, account: str, wait: float = 90) -> None:
    """Stop a disabled learner's server (waiting out a spawn in progress) and remove their hub
    user (their cookies and tokens die with it); the Unix account, its home and grades stay."""
    deadline = time.monotonic() + wait
    last: object = None
    while time.monotonic() < deadline:
        status, model = _api(state.port, state.token, "GET", f"users/{account}")
        if status == 404:
            return
        servers = model.get("servers") or {} if isinstance(model, dict) else {}
        if any(s.get("pending") for s in servers.values()):
            pass  # a spawn or a stop in progress: wait for it to end
        elif servers:
            _api(state.port, state.token, "DELETE", f"users/{account}/server")
        else:
            status, last = _api(state.port, state.token, "DELETE", f"users/{account}")
            if status in (204, 404):
                return
        time.sleep(0.5)
    raise HubError(f"the hub did not remove {account} within {wait:.0f} s: {last}")


#: The course steps ``hipaa-lab hub course`` runs as the course account.
COURSE_STEPS = ("release", "autograde", "feedback", "scores")


def course_step(
    hub_dir: str | os.PathLike[str],
    step: str,
    *,
    assignments: Sequence[str] = (),
    students: Sequence[str] = (),
) -> int:
    """Run ``hipaa-lab course STEP`` on the hub's course as the course account (so that what it
    writes stays the course's and the formgrader can go on with it), the gradebook's server up.
    Output goes to this process's; returns the step's exit status."""
    _require_root()
    if step not in COURSE_STEPS:
        raise HubError(f"no course step {step!r}: one of {', '.join(COURSE_STEPS)}")
    layout = HubLayout(Path(hub_dir).resolve())
    state = _load_state(layout)
    if state is None:
        raise HubError(f"no hub in {layout.root}: start one with `hipaa-lab hub start`")
    bindir = _shared_bin(layout)
    argv = [str(bindir / "python"), "-m", "hipaa_lab.cli", "course", step]
    argv += ["--course-dir", str(layout.course)]
    for name in assignments:
        argv += ["--assignment", name]
    for name in students if step in ("autograde", "feedback") else ():
        argv += ["--student", name]
    postgres = None
    if state.own_postgres:
        postgres = LocalPostgres(layout.postgres, run_as=state.course_account)
        if postgres.running():
            postgres = None  # the hub's: leave it running
        else:
            postgres.start()
    entry = pwd.getpwnam(state.course_account)
    try:
        done = subprocess.run(
            argv,
            cwd=layout.course,
            env=_account_env(state.course_account, bindir),
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            umask=0o077,
            check=False,
        )
    finally:
        if postgres is not None:
            postgres.stop()
    return done.returncode


#: How long :func:`_end_processes` keeps ending a disabled account's processes, in seconds.
END_WITHIN = 5.0


def _kill_all_as(uid: int, gid: int) -> None:
    """``kill(-1, SIGKILL)`` as the user ``uid``: the kernel signals every process of that user
    in one step, with forking held off, so a process that keeps forking leaves no child behind
    (a list read from /proc is outrun by it). From a child process of this one: no program of the
    system is needed, nor one the user may run."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # every process the user may signal but this one
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _end_processes(account: str, within: float = END_WITHIN) -> list[int]:
    """End every process a disabled account still runs (``SIGKILL``); return those still
    running after ``within`` seconds (none, but for a process stuck in the kernel).

    Each round has the account send ``SIGKILL`` to all its processes at once
    (:func:`_kill_all_as`), then looks for any left by real UID (:func:`_processes_of`) and kills
    each, until none is left."""
    entry = pwd.getpwnam(account)
    deadline = time.monotonic() + within
    while True:
        _kill_all_as(entry.pw_uid, entry.pw_gid)
        time.sleep(0.02)
        found = _processes_of(entry.pw_uid)
        if not found or time.monotonic() > deadline:
            return found
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _end_disabled(accounts: Iterable[str]) -> None:
    """:func:`_end_processes` for each of ``accounts``, a warning for any process left."""
    for account in accounts:
        left = _end_processes(account)
        if left:
            print(
                f"hipaa-lab hub: the disabled account {account} still runs process(es) "
                f"{', '.join(map(str, left))} after SIGKILL for {END_WITHIN:.0f} s (stuck in "
                f"the kernel?): check with `ps -u {account}`",
                file=sys.stderr,
            )


def stop_hub(hub_dir: str | os.PathLike[str], wait: float = 30) -> bool:
    """Stop the hub running from ``hub_dir`` (and its PostgreSQL); ``False`` when none ran."""
    layout = HubLayout(Path(hub_dir).resolve())
    state = _load_state(layout)
    pid = _running(state)
    if state is None:
        return False
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        while _running(state) and time.monotonic() < deadline:
            time.sleep(0.3)
        if _running(state):
            os.kill(pid, signal.SIGKILL)
        state.pid = None
        _save_state(layout, state)
    if state.own_postgres and (layout.postgres / "data").exists():
        LocalPostgres(layout.postgres, run_as=state.course_account).stop()
    return bool(pid)


# --------------------------------------------------------------------------- CLI


def main(args: argparse.Namespace) -> int:
    if args.action == "sync":
        changes = sync_roster(args.hub_dir, args.roster)
        print(f"roster applied: {changes}")
        return 0
    if args.action == "course":
        return course_step(
            args.hub_dir,
            args.step,
            assignments=args.assignment or (),
            students=args.student or (),
        )
    if args.action == "stop":
        print("hub stopped" if stop_hub(args.hub_dir) else "no hub was running")
        return 0
    server = start_hub(
        args.hub_dir,
        args.roster,
        trainers=args.trainer,
        port=args.port,
        db_url=url_argument(args.db),
        site_config=args.config,
        home_base=args.home_base,
        prefix=args.prefix,
        postgres_port=args.postgres_port,
    )
    layout = server.layout
    print(f"hub ready: {server.url}")
    print(f"  learners log in with their account and password: {layout.credentials} (root only)")
    print(f"  trainers' formgrader: {server.url}services/{SERVICE}/formgrader")
    print(f"  log: {layout.log}; stop with Ctrl-C", flush=True)
    return serve_until_signal(server)
