"""Run a learner's notebook apart from the grader, and talk to it in plain data only.

A :class:`Sandbox` runs :mod:`hipaa_lab.course.harness` under bubblewrap (``bwrap``):

- as its own unprivileged user (:data:`SANDBOX_USER`, or ``hipaa-sandbox-N`` when other sandboxes
  run at once; made on first use when the grader runs as root), with every capability dropped.
  The kernel counts the process limit per account, so two sandboxes sharing one would let one
  learner who holds every process stop the other's notebook from starting a thread;
- with no network, its own process, IPC and host-name namespaces, and a new session;
- seeing only what a notebook needs, read-only: the system (``/usr``), a few files of ``/etc``,
  Python, the virtual environment and the ``hipaa_lab`` package, and the datasets the grader built
  for it. The course folder, the gradebook, the configuration, the model solutions, the dataset
  cache and other learners' work are not in its file system at all; nor are the package's answers
  to the assignment being graded: :mod:`hipaa_lab.course.withheld` is bound over their modules'
  source and ``__pycache__`` copies (:func:`bwrap_command`, :mod:`hipaa_lab.course.rules`). It
  writes only to its own ``/tmp`` and to the exchange folder ``/io``;
- within :class:`Limits` of memory, CPU time, processes, file size and wall-clock time, for the
  whole notebook and every question asked of it; at the end its process group and its PID
  namespace are killed.

The grader writes DICOM files into ``/io/in``, asks the harness to run one learner function over
them, and reads back JSON (tag paths) or DICOM files (``/io/out``) that it parses again: nothing the
learner's code returns is used as an object.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import pwd
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from hipaa_lab.errors import CourseError

__all__ = [
    "Limits",
    "SANDBOX_USER",
    "Sandbox",
    "SandboxBroken",
    "SandboxFunction",
    "SandboxUnavailable",
    "available",
    "processes_of",
    "withheld_files",
]

#: The unprivileged account learner code runs as, when the grader runs as root; a sandbox that
#: runs while others do gets ``hipaa-sandbox-1``, ``-2``... (see :func:`_claim_account`).
SANDBOX_USER = "hipaa-sandbox"
#: How many sandboxes may run at once on one machine, each as an account of its own.
SANDBOX_ACCOUNTS = 16
#: Where the lock of each account in use is held (root's: :func:`_lock_dir`).
LOCK_DIR = Path("/run/hipaa-lab-sandbox")
#: The most a learner's answer to one question may hold, in bytes. Parsed JSON takes up to ~25
#: times its size in the grader's memory (``[{},{},...]``): 16 MiB of reply stays under ~400 MiB.
REPLY_LIMIT = 16 * 2**20
#: The most of a learner's error message the grader keeps (the harness sends at most 400
#: characters; the learner's code can send its own answer of up to :data:`REPLY_LIMIT`).
ERROR_TEXT = 400
#: The most a data set the learner's function saved in ``/io/out`` may hold, in bytes.
OUTPUT_LIMIT = 64 * 2**20
#: Files of /etc a Python process and its libraries read; the rest of /etc is not visible.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "mime.types",
    "fonts",
)


@dataclass(frozen=True)
class Limits:
    """What one learner's notebook may use, in all: run, then every question asked of it."""

    wall_seconds: float = 900.0
    cpu_seconds: int = 900
    memory_bytes: int = 6 * 2**30
    processes: int = 256
    file_bytes: int = 1 * 2**30
    files: int = 1024
    #: the sandbox's own ``/tmp`` is in memory (not counted in ``memory_bytes``): its size
    tmp_bytes: int = 1 * 2**30
    #: ``/io/out``, where the learner's functions save data sets, is in memory too: its size
    out_bytes: int = 1 * 2**30


class SandboxUnavailable(CourseError):
    """This machine cannot run learner code apart (no bubblewrap): grading refuses to start."""


class SandboxBroken(CourseError):
    """The learner's notebook ended, hung or answered nonsense: the reason is for the trainer."""


def available() -> str | None:
    """``None`` when learner code can be sandboxed here, else what is missing."""
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap (bwrap) is not installed: learner code is graded only inside it. "
            "Install Debian's `bubblewrap` (scripts/install-system-packages.sh does)"
        )
    return None


def _account_name(slot: int) -> str:
    return SANDBOX_USER if slot == 0 else f"{SANDBOX_USER}-{slot}"


def _sandbox_user(slot: int = 0) -> tuple[int, int] | None:
    """The (uid, gid) of sandbox account ``slot``, made when missing; ``None`` when not running
    as root."""
    if os.geteuid() != 0:
        return None
    name = _account_name(slot)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
        )
        if made.returncode not in (0, 9):  # 9: made meanwhile by another grader
            raise SandboxUnavailable(
                f"could not make the sandbox account {name}: "
                f"{made.stderr.decode(errors='replace').strip()}"
            ) from None
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _lock_dir() -> Path:
    """:data:`LOCK_DIR`, made root's own (mode 700); refused if anyone else could have made it."""
    with contextlib.suppress(FileExistsError):
        LOCK_DIR.mkdir(mode=0o700)
    info = LOCK_DIR.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxUnavailable(f"{LOCK_DIR} is not root's own folder: remove it")
    return LOCK_DIR


def _claim_account(wait_seconds: float) -> tuple[tuple[int, int] | None, int | None]:
    """An account no running sandbox holds, and the open lock file that holds it until closed
    (the lock goes with the process, however it ends). ``(None, None)`` when not running as
    root: bubblewrap then maps the grader's own user.

    Any process the account still has is a leftover of a grader that died: it is killed first.
    Waits up to ``wait_seconds`` when all :data:`SANDBOX_ACCOUNTS` are in use.
    """
    if os.geteuid() != 0:
        return None, None
    folder, deadline = _lock_dir(), time.monotonic() + wait_seconds
    while True:
        for slot in range(SANDBOX_ACCOUNTS):
            fd = os.open(
                folder / f"{slot}.lock",
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                account = _sandbox_user(slot)
                assert account is not None
                _kill_processes_of(account[0])
            except BaseException:
                os.close(fd)
                raise
            return account, fd
        if time.monotonic() > deadline:
            raise SandboxUnavailable(
                f"all {SANDBOX_ACCOUNTS} sandbox accounts are in use by other gradings"
            )
        time.sleep(0.25)


def processes_of(uid: int) -> list[int]:
    """The live processes whose real UID is ``uid``, by the ``Uid:`` line of their
    ``/proc/PID/status`` (a process that made itself non-dumpable has its ``/proc`` entries owned
    by root; its status still names its user). Zombies are left out: they run nothing."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text(encoding="utf-8", errors="replace")
        except OSError:  # ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uids, state = fields.get("Uid", "").split(), fields.get("State", "").strip()
        if uids and int(uids[0]) == uid and not state.startswith(("Z", "X")):
            found.append(int(proc.name))
    return found


def _kill_processes_of(uid: int) -> None:
    """SIGKILL every process whose real user is ``uid`` (:func:`processes_of`)."""
    for pid in processes_of(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _package_dirs() -> list[Path]:
    """What the sandbox must see read-only to import ``hipaa_lab`` as the grader does."""
    import hipaa_lab

    package = Path(hipaa_lab.__file__).resolve().parent
    dirs = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package]
    catalogue = package.parent / "datasets"  # a source checkout's catalogue (the wheel's is inside)
    if (package.parent / "pyproject.toml").is_file() and catalogue.is_dir():
        dirs.append(catalogue)
    # site-packages another environment adds (the Python a hub shares with learners and its course
    # account: hipaa_lab.course.hub): those packages too; never other folders on sys.path
    for entry in sys.path:
        path = Path(entry)
        if path.name in ("site-packages", "dist-packages") and path.is_dir():
            path = path.resolve()
            if not any(path.is_relative_to(d) for d in dirs):
                dirs.append(path)
    return dirs


def _hidden_dirs(visible: Iterable[Path]) -> list[Path]:
    """Model solutions a wheel or an editable install ships beside the package: never visible."""
    import site

    roots = [Path(p) for p in site.getsitepackages()] + [Path(p) for p in sys.path if p]
    candidates = {(r / "hipaa_lab" / "_resources" / "notebooks").resolve() for r in roots}
    visible = list(visible)
    return sorted(c for c in candidates if c.is_dir() and any(c.is_relative_to(v) for v in visible))


def withheld_files(modules: Iterable[str], visible: Iterable[Path]) -> list[Path]:
    """Every copy of ``modules``' source and bytecode that a sandbox seeing ``visible`` could read.

    A module ``hipaa_lab.x.y`` is looked for as ``hipaa_lab/x/y.py`` and
    ``hipaa_lab/x/__pycache__/y.*.pyc`` under the package's own folder's parent, under every
    ``site-packages`` and ``sys.path`` entry, and under the ``site-packages`` and
    ``dist-packages`` of every Python inside a visible folder (a second installed copy of
    ``hipaa_lab``: a wheel's beside a checkout's, the system's): whichever exist inside a visible
    folder.
    """
    import site

    import hipaa_lab

    visible = list(visible)
    roots = {Path(hipaa_lab.__file__).resolve().parent.parent}
    roots |= {Path(p) for p in site.getsitepackages()} | {Path(p) for p in sys.path if p}
    for folder in visible:
        for pattern in ("lib/python3*/*-packages", "local/lib/python3*/*-packages"):
            with contextlib.suppress(OSError):
                roots |= set(folder.glob(pattern))
    found: set[Path] = set()
    for module in modules:
        *folders, stem = module.split(".")
        for root in roots:
            folder = root.joinpath(*folders)
            try:
                candidates = [
                    folder / f"{stem}.py",
                    *(folder / "__pycache__").glob(f"{stem}.*.pyc"),
                ]
            except OSError:
                continue
            for path in candidates:
                with contextlib.suppress(OSError):
                    real = path.resolve()
                    if real.is_file() and any(real.is_relative_to(v) for v in visible):
                        found.add(real)
    return sorted(found)


def bwrap_command(
    io_dir: Path,
    cache_dir: Path | None,
    account: tuple[int, int] | None,
    tmp_bytes: int = Limits.tmp_bytes,
    out_bytes: int = Limits.out_bytes,
    withheld: Sequence[str] = (),
) -> list[str]:
    """The ``bwrap`` command line that runs the harness on ``io_dir`` (mounted at ``/io``).

    ``withheld`` names the modules that hold the graded assignment's answers
    (:func:`hipaa_lab.course.rules.withheld_modules`): :mod:`hipaa_lab.course.withheld` is bound
    over each copy of their source and bytecode (:func:`withheld_files`), so that inside, the
    answers are neither in memory nor on disk.

    ``/io`` is read-only inside: the grader writes into ``io_dir`` as root, so the learner must
    not be able to rename or replace anything there (a symlink planted as ``/io/in/00001.dcm``
    would make the grader overwrite the file it points to). ``/io/out`` is a tmpfs of
    ``out_bytes`` (a folder of the host's would let the learner fill the grader's disk); the
    grader reads it through ``/proc/PID/root`` (:meth:`Sandbox.map`).
    """
    cmd = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]
    if account is None:
        cmd.append("--unshare-user")
    made: set[Path] = set()

    def parents(path: Path) -> None:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made:
                made.add(parent)
                cmd.extend(["--perms", "0755", "--dir", str(parent)])

    cmd += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            cmd += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            cmd += ["--ro-bind", str(top), str(top)]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            cmd += ["--ro-bind", str(path), str(path)]
    # /tmp before the package: a checkout or a venv under /tmp (a CI clone) is bound over it, not
    # hidden by it
    cmd += ["--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    made.add(Path("/tmp"))
    visible = _package_dirs()
    for path in visible:
        parents(path)
        cmd += ["--ro-bind", str(path), str(path)]
    for path in _hidden_dirs(visible):
        cmd += ["--tmpfs", str(path)]
    if withheld:
        stub = str(Path(__file__).resolve().with_name("withheld.py"))
        for path in withheld_files(withheld, [*visible, Path("/usr")]):
            cmd += ["--ro-bind", stub, str(path)]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--ro-bind", str(io_dir), "/io"]
    cmd += ["--perms", "0777", "--size", str(out_bytes), "--tmpfs", "/io/out"]
    env = {
        "HOME": "/tmp/home",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(visible[2].parent),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "HIPAA_LAB_SANDBOX": "1",
    }
    if cache_dir is not None:
        cmd += ["--ro-bind", str(cache_dir), "/cache"]
        env["HIPAA_LAB_CACHE"] = "/cache"
    cmd += ["--perms", "0777", "--dir", "/tmp/home", "--chdir", "/tmp/home"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    if account is not None:
        uid, gid = account
        cmd += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return cmd


#: Per architecture: the audit arch; clone, unshare, clone3; then the calls refused outright:
#: add_key, request_key, keyctl, memfd_create, shmget.
_SYSCALLS = {
    "x86_64": (0xC000003E, 56, 272, 435, (248, 249, 250, 319, 29)),
    "aarch64": (0xC00000B7, 220, 97, 435, (217, 218, 219, 279, 194)),
}


def seccomp_filter() -> bytes | None:
    """A seccomp filter (classic BPF, for ``bwrap --seccomp``) for what no notebook needs.

    - new user namespaces: inside one the learner is "root" and can mount a tmpfs of any size
      (memory outside every limit) and reach the kernel's large namespaced attack surface;
    - the kernel's keyrings: they belong to the sandbox user, not to one sandbox; a key one
      learner's notebook put in the persistent keyring, the next one read (tested), for days;
    - ``memfd_create`` and System V ``shmget``: memory no ``RLIMIT_AS`` counts (a memfd is
      written, not mapped; a segment is detached and kept), without end.

    ``clone``/``unshare`` with ``CLONE_NEWUSER`` and the others fail with EPERM; ``clone3``, whose
    flags a filter cannot read, with ENOSYS, so the C library falls back to ``clone``; other ABIs
    (x32, i386) are refused. ``None`` on an architecture this does not know (no filter then).
    """
    import platform
    import struct

    known = _SYSCALLS.get(platform.machine())
    if known is None:
        return None
    arch, clone, unshare, clone3, refused = known
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, errno = 0x7FFF0000, 0x00050000
    n = len(refused)
    program = [
        (ld, 0, 0, 4),  # the architecture
        (jeq, 1, 0, arch),
        (ret, 0, 0, errno | 38),  # another ABI: ENOSYS
        (ld, 0, 0, 0),  # the system call number
        (jge, 0, 1, 0x40000000),
        (ret, 0, 0, errno | 1),  # x32: EPERM
        (jeq, 0, 1, clone3),
        (ret, 0, 0, errno | 38),  # clone3: ENOSYS
        *[(jeq, n + 4 - k, 0, nr) for k, nr in enumerate(refused)],  # to EPERM, the last
        (jeq, 1, 0, unshare),  # to the flags
        (jeq, 0, 2, clone),  # none of these: to allow
        (ld, 0, 0, 16),  # the flags (first argument, low half)
        (jset, 1, 0, 0x10000000),  # CLONE_NEWUSER: to EPERM
        (ret, 0, 0, allow),
        (ret, 0, 0, errno | 1),  # EPERM
    ]
    return b"".join(struct.pack("=HBBI", *op) for op in program)


def _limit(limits: Limits) -> None:
    """Applied in the child before ``bwrap`` starts: inherited by everything the learner runs."""
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # socket buffers are memory outside RLIMIT_AS too: the usual 1024 descriptors, not 20000s
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.files, limits.files))


@dataclass
class CellOutcome:
    """What one of the learner's cells printed and showed, as the harness reported it."""

    index: int
    stdout: str
    stderr: str
    error: str | None
    images: list[str]


class Sandbox:
    """One learner notebook running apart; use as a context manager.

    Parameters
    ----------
    cells
        ``(index, source)`` of the code cells to run, in order (grade cells left out).
    cache_dir
        Datasets built by the grader, mounted read-only where ``hl.datasets.load`` looks.
    withheld
        Modules that hold the graded assignment's answers: not readable inside
        (:func:`bwrap_command`).
    """

    def __init__(
        self,
        cells: Sequence[tuple[int, str]],
        *,
        cache_dir: Path | None = None,
        limits: Limits | None = None,
        withheld: Sequence[str] = (),
    ) -> None:
        self.cells = list(cells)
        self.withheld = tuple(withheld)
        self.cache_dir = cache_dir
        self.limits = limits or Limits()
        self.outcomes: list[CellOutcome] = []
        self.broken: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._reply: int | None = None
        self._lock: int | None = None
        self.account: tuple[int, int] | None = None
        self._buffer = b""
        self._deadline = 0.0
        self._count = 0

    # -------------------------------------------------------------- life cycle

    def __enter__(self) -> Sandbox:
        missing = available()
        if missing:
            raise SandboxUnavailable(missing)
        self.account, self._lock = _claim_account(self.limits.wall_seconds)
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="hipaa-lab-sandbox-")
            self.io_dir = Path(self._tmp.name) / "io"  # the standard error log stays out of reach
            self.io_dir.mkdir(mode=0o755)
            (self.io_dir / "in").mkdir(mode=0o755)
            (self.io_dir / "out").mkdir()
            (self.io_dir / "cells.json").write_text(
                json.dumps([{"index": i, "source": s} for i, s in self.cells]), encoding="utf-8"
            )
            self._start(self.account)
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, account: tuple[int, int] | None) -> None:
        read_end, write_end = os.pipe()
        cmd = bwrap_command(
            self.io_dir,
            self.cache_dir,
            account,
            self.limits.tmp_bytes,
            self.limits.out_bytes,
            self.withheld,
        )
        keep = [write_end]
        seccomp = seccomp_filter()
        if seccomp is not None:
            # bwrap applies it to the harness and everything after, not to its own setup
            filter_fd = os.memfd_create("hipaa-lab-seccomp")
            os.write(filter_fd, seccomp)
            os.lseek(filter_fd, 0, os.SEEK_SET)
            keep.append(filter_fd)
            cmd[1:1] = ["--seccomp", str(filter_fd)]
        cmd += [sys.executable, "-P", "-m", "hipaa_lab.course.harness", "/io", str(write_end)]
        self._deadline = time.monotonic() + self.limits.wall_seconds
        self._log_path = self.io_dir.parent / "stderr.log"
        self._log = open(self._log_path, "wb")  # noqa: SIM115 - held for the session; close() shuts it
        limits = self.limits
        self._process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pass_fds=keep,
            start_new_session=True,
            preexec_fn=lambda: _limit(limits),
        )
        for fd in keep:
            os.close(fd)
        self._reply = read_end
        assert self._process.stdin is not None
        os.set_blocking(self._process.stdin.fileno(), False)  # see _write
        first = self._read()
        if "ready" not in first:
            why = _printable(str(first.get("broken", "")))[-300:]
            self._fail(f"the notebook could not be run: {why}")
        # the outputs come on the reply pipe (bounded), never from a file the learner could swap
        outputs = first.get("outputs")
        if not isinstance(outputs, list):
            self._fail("the notebook answered something that is not data")
        self.outcomes = [_outcome(o) for o in outputs if isinstance(o, dict)]

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the notebook: ask it to exit, then kill its process group and namespace."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                assert process.stdin is not None
                os.write(process.stdin.fileno(), b'{"op": "exit"}\n')  # non-blocking: may not fit
                process.wait(2)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        if self._reply is not None:
            os.close(self._reply)
            self._reply = None
        if process is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._process = None
        if self._lock is not None:  # the account is free for the next sandbox
            os.close(self._lock)
            self._lock = None

    # -------------------------------------------------------------- questions

    def _fail(self, reason: str) -> NoReturn:
        self.broken = self.broken or reason
        self.close()
        raise SandboxBroken(self.broken)

    def _time_left(self) -> float:
        """Seconds left of the whole session's wall clock; none left ends the session."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._fail(
                f"the notebook ran out of time ({self.limits.wall_seconds:.0f} s for the "
                "whole notebook and its graded runs)"
            )
        return left

    def _read(self) -> dict[str, Any]:
        """One reply line, within the time left; anything else ends the session."""
        assert self._reply is not None and self._process is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._reply, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = self._time_left()
                if not selector.select(timeout=left):
                    continue
                chunk = os.read(self._reply, 1 << 20)
                if not chunk:
                    self._process.wait()
                    code = self._process.returncode
                    self._fail(_ended(code))
                self._buffer += chunk
                if len(self._buffer) > REPLY_LIMIT:
                    self._fail("the notebook's answer was larger than the grader accepts")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line, parse_constant=_not_a_number, parse_float=_finite)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the stack
            self._fail("the notebook answered something that is not data")
        if not isinstance(reply, dict):
            self._fail("the notebook answered something that is not data")
        return reply

    def ask(self, request: dict[str, Any]) -> Any:
        if self.broken:
            raise SandboxBroken(self.broken)
        process = self._process
        if process is None or process.stdin is None:
            raise SandboxBroken("the notebook is not running")
        self._write((json.dumps(request) + "\n").encode())
        return self._read().get("answer")

    def _write(self, data: bytes) -> None:
        """Send ``data`` within the time left. The learner's code can open ``/proc/self/fd/0``
        for writing and fill the request pipe: a blocking write would hang the grader."""
        assert self._process is not None and self._process.stdin is not None
        fd = self._process.stdin.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_WRITE)
            while data:
                left = self._time_left()
                if not selector.select(timeout=left):
                    continue
                try:
                    data = data[os.write(fd, data) :]
                except BlockingIOError:
                    continue
                except OSError:
                    self._fail(_ended(self._process.poll()))

    def values(self, names: Iterable[str]) -> dict[str, Any]:
        """What each name holds in the learner's notebook (see :mod:`~hipaa_lab.course.harness`)."""
        names = list(names)
        answer = self.ask({"op": "values", "names": names})
        if not isinstance(answer, dict) or not all(
            isinstance(answer.get(name, {}), dict) for name in names
        ):
            self._fail("the notebook answered something that is not data")
        return {name: answer.get(name, {"missing": True}) for name in names}

    def map(self, name: str, kind: str, inputs: Sequence[bytes]) -> list[dict[str, Any]]:
        """Run the learner's ``name`` once on each DICOM file in ``inputs``; one reply each.

        For ``kind="dataset"`` a kept output's bytes are in the reply as ``"output"``.
        """
        files = []
        for data in inputs:
            self._count += 1
            file = f"{self._count:05d}.dcm"
            (self.io_dir / "in" / file).write_bytes(data)
            (self.io_dir / "in" / file).chmod(0o644)
            files.append(file)
        answer = self.ask({"op": "map", "name": name, "kind": kind, "inputs": files})
        if not isinstance(answer, list) or len(answer) != len(files):
            self._fail("the notebook answered something that is not data")
        replies: list[dict[str, Any]] = []
        for file, raw in zip(files, answer, strict=True):
            reply: dict[str, Any] = raw if isinstance(raw, dict) else {"error": "not data"}
            if "error" in reply:  # into messages, the notebook and the feedback: a sentence
                reply["error"] = _short(reply["error"])
            out = self._out_dir() / file
            if kind == "dataset" and reply.get("kept") is True:
                saved = _read_output(out)
                if saved is not None:
                    reply["output"] = saved
                else:
                    reply = {"error": "the changed data set could not be read back"}
            replies.append(reply)
            (self.io_dir / "in" / file).unlink()
            with contextlib.suppress(OSError):
                out.unlink()
        return replies

    def _out_dir(self) -> Path:
        """``/io/out`` as the grader reaches it: through the root of the sandbox's first process
        (bwrap's child, its PID 1), whose mounts are the sandbox's."""
        assert self._process is not None
        bwrap = self._process.pid
        try:
            init = Path(f"/proc/{bwrap}/task/{bwrap}/children").read_text().split()
        except OSError:  # a kernel without CONFIG_PROC_CHILDREN: look for the child
            init = [p.name for p in Path("/proc").iterdir() if _parent(p) == bwrap]
        if not init:
            self._fail(_ended(self._process.poll()))
        return Path(f"/proc/{init[0]}/root/io/out")

    def stderr(self) -> str:
        """The end of what the notebook wrote to its standard error (for the trainer)."""
        try:
            with open(self._log_path, "rb") as log:
                log.seek(max(0, os.fstat(log.fileno()).st_size - 2000))
                return log.read(2000).decode(errors="replace")
        except (OSError, AttributeError):
            return ""


def _parent(proc: Path) -> int | None:
    """The parent's PID of the process ``/proc/PID``, if it is one."""
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _read_output(path: Path) -> bytes | None:
    """A regular file the learner's code saved, not followed through a link, not too large.

    The grader reads as root what the sandbox's user wrote: a symlink (even one swapped in after a
    check) would read back a grader file, a FIFO would block and a huge file would fill memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > OUTPUT_LIMIT:
            return None
        data = file.read(OUTPUT_LIMIT + 1)
        return data if len(data) <= OUTPUT_LIMIT else None


def _printable(text: str) -> str:
    """``text`` without control characters (but newlines and tabs): the learner's code writes it,
    and the reason goes to the trainer's terminal, where escape sequences would act (rewrite
    lines, set the window title or the clipboard)."""
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def _short(text: object) -> str:
    """A learner's error message as the grader keeps it: printable, at most :data:`ERROR_TEXT`
    characters. Each one went whole into a check's result (kept until the grade was done), the
    graded notebook and the feedback: 16 MiB a reply."""
    return _printable(str(text) if isinstance(text, str) else "not data")[:ERROR_TEXT]


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not plain data")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not plain data")
    return value


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = {
            "SIGKILL": " (killed: it used more memory or time than allowed, or ended itself)",
            "SIGXCPU": " (it used more CPU time than allowed)",
            "SIGXFSZ": " (it wrote a file larger than allowed)",
        }.get(name, "")
        return f"the notebook's process ended with {name}{hint}"
    return f"the notebook's process exited (status {code}) before it was graded"


def _outcome(raw: dict[str, Any]) -> CellOutcome:
    def text(key: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) else ""

    index = raw.get("index")
    images = raw.get("images")
    return CellOutcome(
        index if isinstance(index, int) else -1,
        text("stdout"),
        text("stderr"),
        raw.get("error") if isinstance(raw.get("error"), str) else None,
        [i for i in images if isinstance(i, str)] if isinstance(images, list) else [],
    )


class SandboxFunction:
    """A learner's function, as the grader sees it: a name to run in the sandbox, nothing more.

    The checks in :mod:`hipaa_lab.course.grading` call :meth:`map` once per check family. A
    trainer's own test may call it with plain arguments (``assert double(2) == 4``): the call runs
    in the sandbox and only a plain value comes back.
    """

    def __init__(self, sandbox: Sandbox, name: str) -> None:
        self.sandbox = sandbox
        self.name = name

    def __repr__(self) -> str:
        return f"<the learner's {self.name}>"

    def map(self, kind: str, inputs: Sequence[bytes]) -> list[dict[str, Any]]:
        return self.sandbox.map(self.name, kind, inputs)

    def __call__(self, *args: Any) -> Any:
        from hipaa_lab.course.harness import NotPlain, plain
        from hipaa_lab.errors import GradingError

        try:
            sent = plain(list(args))
        except NotPlain as exc:
            raise TypeError(
                f"{self.name} can be called only with plain data here ({exc})"
            ) from None
        reply = self.sandbox.ask({"op": "call", "name": self.name, "args": sent})
        if not isinstance(reply, dict):
            raise GradingError(f"{self.name} answered something that is not data")
        if reply.get("not_written"):
            raise GradingError(
                f"{self.name} is not written yet: replace `raise NotImplementedError()`"
            )
        if "value" in reply:
            return reply["value"]
        if "not_plain" in reply:
            raise GradingError(
                f"{self.name} must return plain data, not a {_short(reply['not_plain'])}"
            )
        raise GradingError(f"{self.name} raised {_short(reply.get('error', 'an error'))}")
