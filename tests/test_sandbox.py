"""The sandbox learner code is graded in: what it cannot see, do or leave behind, and the protocol.

Each :class:`~hipaa_lab.course.sandbox.Sandbox` costs seconds to start, so one notebook of probe
cells (:func:`probe`) answers most questions: each cell prints one JSON line of what it found,
as a dishonest learner would try it. The sandboxes that must end badly (out of time, exited,
forged answers) run on their own.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import pwd
import shutil
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import hipaa_lab
from hipaa_lab.course import harness, sandbox
from hipaa_lab.course.sandbox import (
    OUTPUT_LIMIT,
    SANDBOX_USER,
    Limits,
    Sandbox,
    SandboxBroken,
    SandboxFunction,
    SandboxUnavailable,
)
from hipaa_lab.errors import GradingError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed"),
]

#: This machine's numbers of the add_key and keyctl system calls (x86_64 if not known).
ADD_KEY, _, KEYCTL, _, SHMGET = sandbox._SYSCALLS.get(
    platform.machine(), sandbox._SYSCALLS["x86_64"]
)[4]
PACKAGE = Path(hipaa_lab.__file__).resolve().parent
CHECKOUT = PACKAGE.parent
MODEL_SOLUTIONS = PACKAGE / "_resources" / "notebooks"


def _cell(source: str) -> str:
    """A probe cell: ``source`` sets ``found``; the cell prints it as one JSON line."""
    return (
        "import json as _json, os, sys\nfound = {}\n"
        + textwrap.dedent(source)
        + "\nprint('PROBE ' + _json.dumps(found))"
    )


def _denied(action: str) -> str:
    """Probe source: ``found["denied"]`` is whether ``action`` raised an OSError."""
    return f"try:\n    {action}\n    found['denied'] = False\nexcept OSError:\n    found['denied'] = True\n"


def _dicom() -> bytes:
    """A small synthetic DICOM file (no PHI) for the learner's function to change."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.UID("1.2.840.10008.5.1.4.1.1.7")
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Synthetic^Probe"
    ds.Modality = "OT"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _in_namespace(ns: str) -> list[int]:
    """Host processes in the PID namespace ``ns`` (as ``/proc/PID/ns/pid`` reads, inside or out)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == ns:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _with_token(token: str) -> list[int]:
    """Host processes whose command line holds ``token``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if token in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _survivors(ns: str, token: str) -> dict[str, list[int]]:
    """Processes left of a closed sandbox: the kernel kills its PID namespace just after its
    init is killed, so allow the namespace some seconds to go (a poll, not a timed test)."""
    for _ in range(50):
        left = {"namespace": _in_namespace(ns), "token": _with_token(token)}
        if left == {"namespace": [], "token": []}:
            break
        time.sleep(0.1)
    return left


def _probes(box: Sandbox) -> dict[str, Any]:
    """What each probe cell found, by the name in its first comment line."""
    sources = dict(box.cells)
    found = {}
    for outcome in box.outcomes:
        name = next(ln[2:] for ln in sources[outcome.index].splitlines() if ln.startswith("# "))
        lines = [ln for ln in outcome.stdout.splitlines() if ln.startswith("PROBE ")]
        found[name] = json.loads(lines[-1][6:]) if lines else {"cell error": outcome.error}
    return found


PROBE_LIMITS = Limits(
    memory_bytes=2 * 2**30, processes=64, tmp_bytes=64 * 2**20, out_bytes=64 * 2**20
)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the probe notebook once, ask it its questions, close it, and report everything."""
    secret = tmp_path_factory.mktemp("grader") / "gradebook-secret.txt"
    secret.write_text("the grader's secret")
    token = f"9{uuid.uuid4().int % 10**8}"
    made_resources = not (PACKAGE / "_resources").exists()
    MODEL_SOLUTIONS.mkdir(parents=True, exist_ok=True)
    (MODEL_SOLUTIONS / "solution.txt").write_text("the model solution")
    probes = {
        "uid": "found['uid'] = os.getuid(); found['euid'] = os.geteuid()\n"
        "found['status'] = [l for l in open('/proc/self/status') "
        "if l.startswith(('CapEff', 'NoNewPrivs'))]\n"
        "found['ns'] = os.readlink('/proc/self/ns/pid')",
        "network": "import socket\n"
        + _denied("socket.create_connection(('1.1.1.1', 80), timeout=3)")
        + "found['interfaces'] = sorted(os.listdir('/sys/class/net')) "
        "if os.path.isdir('/sys/class/net') else []",
        "write package": _denied(f"open({str(PACKAGE / 'planted.py')!r}, 'w')"),
        "write venv": _denied(f"open({str(Path(sys.prefix) / 'planted.txt')!r}, 'w')"),
        "secret": f"found['seen'] = os.path.exists({str(secret)!r}) "
        f"or os.path.exists({str(secret.parent)!r})",
        "checkout": f"found['seen'] = [p for p in ('tests', 'notebooks', 'pyproject.toml', '.git') "
        f"if os.path.exists(os.path.join({str(CHECKOUT)!r}, p))]",
        "root": "found['root'] = os.listdir('/root') if os.path.isdir('/root') else []\n"
        "found['shadow'] = os.path.exists('/etc/shadow')",
        "solutions": f"d = {str(MODEL_SOLUTIONS)!r}\n"
        "found['listing'] = os.listdir(d) if os.path.isdir(d) else []",
        "memory": "try:\n    big = bytearray(6 * 2**30)\n    found['allocated'] = True\n"
        "except MemoryError:\n    found['allocated'] = False",
        "fork bomb": "import time, signal\nchildren = []\ntry:\n    for _ in range(500):\n"
        "        pid = os.fork()\n        if pid == 0:\n            time.sleep(60)\n"
        "            os._exit(0)\n        children.append(pid)\nexcept OSError:\n    pass\n"
        "found['forked'] = len(children)\nfor pid in children:\n"
        "    os.kill(pid, signal.SIGKILL)\n    os.waitpid(pid, 0)",
        "daemon": "import subprocess, time\n"
        f"subprocess.Popen(['sh', '-c', 'setsid sleep {token} & sleep {token}1 &'], "
        "start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{token}2'])\n    os._exit(0)\n"
        "time.sleep(1)",
        "tmp size": _denied("open('/tmp/fill', 'wb').write(b'x' * 100 * 2**20)")
        + "os.path.exists('/tmp/fill') and os.unlink('/tmp/fill')\n"
        "os.write(2, b'E' * 5 * 2**20 + b'TAIL')",
        "out size": _denied("open('/io/out/fill', 'wb').write(b'x' * 100 * 2**20)")
        + "os.path.exists('/io/out/fill') and os.unlink('/io/out/fill')",
        "io": "import glob\nfound['listing'] = sorted(os.listdir('/io'))\nattempts = {}\n"
        "for name, act in [('rename in', lambda: os.rename('/io/in', '/io/in.old')),\n"
        "                  ('plant link', lambda: os.symlink('/etc/passwd', '/io/in/00001.dcm')),\n"
        "                  ('cells', lambda: open('/io/cells.json', 'w')),\n"
        "                  ('outputs', lambda: open('/io/outputs.json', 'w')),\n"
        "                  ('new file', lambda: open('/io/new', 'w'))]:\n"
        "    try:\n        act()\n        attempts[name] = 'done'\n"
        "    except OSError:\n        attempts[name] = 'denied'\n"
        "found['attempts'] = attempts",
        "tty": "import fcntl, termios\ntry:\n    open('/dev/tty', 'rb')\n    found['tty'] = True\n"
        "except OSError:\n    found['tty'] = False\nstuffed = []\nfor fd in (0, 1, 2):\n"
        "    try:\n        fcntl.ioctl(fd, termios.TIOCSTI, b'x')\n        stuffed.append(fd)\n"
        "    except OSError:\n        pass\nfound['stuffed'] = stuffed",
        "parent": "import ctypes\nfound['ptrace'] = ctypes.CDLL(None, use_errno=True).ptrace(16, 1, 0, 0)\n"
        + _denied("open('/proc/1/environ', 'rb').read()")
        + "cmds = []\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n"
        "            cmds.append(open(f'/proc/{p}/cmdline', 'rb').read().decode())\n"
        "        except OSError:\n            pass\n"
        "found['pytest'] = any('pytest' in c for c in cmds)",
        "user namespace": "import ctypes, subprocess, threading\n"
        "found['unshare'] = subprocess.run(['unshare', '-U', '-r', 'true'], stderr=subprocess.DEVNULL).returncode\n"
        "found['libc'] = ctypes.CDLL(None, use_errno=True).unshare(0x10000000)\n"
        "done = []\nthread = threading.Thread(target=lambda: done.append(1))\n"
        "thread.start()\nthread.join()\nfound['thread'] = done\n"
        "found['spawned'] = subprocess.run(['true']).returncode",
        "keyring": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        f"found['persistent'] = libc.syscall({KEYCTL}, 22, ctypes.c_long(-1), ctypes.c_long(-4))\n"
        f"found['add'] = libc.syscall({ADD_KEY}, b'user', b'note', b'x', 1, ctypes.c_long(-4))",
        "hidden memory": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        + _denied("os.memfd_create('hoard')")
        + f"found['shmget'] = libc.syscall({SHMGET}, 0, 2**20, 0o1600)",
        "values": "class Sneaky(str):\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = str.__hash__\nsneaky = Sneaky('anything')\n"
        "honest = {'a': [1, 2.5, None, True, 'x']}\n"
        "def double(x):\n    return 2 * x\n"
        "import hipaa_lab as hl\n"
        "def lazy(ds):\n    return [f.path for f in hl.scan.scan_dataset(ds) if f.path]\n"
        "def keep(ds):\n    ds.PatientName = 'Changed^Probe'\n    return ds\n"
        "def link(ds):\n"
        f"    ds.save_as = lambda out, **kw: os.symlink({str(secret)!r}, out)\n    return ds\n"
        "def fifo(ds):\n    ds.save_as = lambda out, **kw: os.mkfifo(out)\n    return ds\n"
        f"def huge(ds):\n    ds.save_as = lambda out, **kw: (open(out, 'wb').close(), "
        f"os.truncate(out, {OUTPUT_LIMIT + 1}))\n    return ds\n",
    }
    cells = [(i, _cell(f"# {name}\n{source}")) for i, (name, source) in enumerate(probes.items())]
    try:
        with Sandbox(cells, limits=PROBE_LIMITS) as box:
            found: dict[str, Any] = _probes(box)
            found["values"] = box.values(["sneaky", "honest", "double", "nothing"])
            found["double(21)"] = SandboxFunction(box, "double")(21)
            dicom = _dicom()
            for name in ("keep", "link", "fifo", "huge"):
                found[f"map {name}"] = box.map(name, "dataset", [dicom])
            found["map lazy"] = box.map("lazy", "paths", [dicom])
            found["stderr"] = box.stderr()
        ns = found["uid"].get("ns", "")
        found["after close"] = _survivors(ns, token)
        yield found
    finally:
        shutil.rmtree(PACKAGE / "_resources" if made_resources else MODEL_SOLUTIONS)


def test_runs_as_unprivileged_user(probe: dict[str, Any]) -> None:
    uid = probe["uid"]
    assert uid["uid"] != 0 and uid["euid"] != 0
    if os.geteuid() == 0:
        assert uid["uid"] == pwd.getpwnam(SANDBOX_USER).pw_uid
    assert "NoNewPrivs:\t1\n" in uid["status"]
    assert "CapEff:\t0000000000000000\n" in uid["status"]


def test_no_network(probe: dict[str, Any]) -> None:
    assert probe["network"]["denied"]
    assert set(probe["network"]["interfaces"]) <= {"lo"}


def test_package_and_venv_are_read_only(probe: dict[str, Any]) -> None:
    assert probe["write package"]["denied"]
    assert probe["write venv"]["denied"]
    assert not (PACKAGE / "planted.py").exists()


def test_grader_files_are_not_visible(probe: dict[str, Any]) -> None:
    assert probe["secret"]["seen"] is False
    assert probe["checkout"]["seen"] == []
    # /root shows only the way to Python itself when it is installed there (pyenv)
    needed = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, PACKAGE)}
    on_the_way = {part for p in needed if p.is_relative_to("/root") for part in p.parts[2:3]}
    assert set(probe["root"]["root"]) <= on_the_way
    assert probe["root"]["shadow"] is False
    assert probe["solutions"]["listing"] == []


def test_memory_limit_fails_the_cell_not_the_grader(probe: dict[str, Any]) -> None:
    assert probe["memory"]["allocated"] is False
    assert probe["values"]["honest"] == {"value": {"a": [1, 2.5, None, True, "x"]}}


def test_fork_bomb_is_bounded(probe: dict[str, Any]) -> None:
    assert 0 < probe["fork bomb"]["forked"] < PROBE_LIMITS.processes


def test_nothing_survives_close(probe: dict[str, Any]) -> None:
    assert "cell error" not in probe["daemon"]
    assert probe["after close"] == {"namespace": [], "token": []}


def test_no_user_namespaces(probe: dict[str, Any]) -> None:
    """Inside a user namespace a learner could mount a tmpfs of any size: refused (seccomp);
    threads and subprocesses still start."""
    found = probe["user namespace"]
    assert found["unshare"] != 0 and found["libc"] == -1
    assert found["thread"] == [1] and found["spawned"] == 0


def test_no_keyrings(probe: dict[str, Any]) -> None:
    """The kernel's keyrings belong to the sandbox user, not to one sandbox: a key one learner's
    notebook leaves in the persistent keyring, the next one reads. Refused (seccomp)."""
    assert probe["keyring"] == {"persistent": -1, "add": -1}


def test_no_memory_outside_the_limit(probe: dict[str, Any]) -> None:
    """memfd_create and System V shared memory hold memory RLIMIT_AS does not count: refused."""
    assert probe["hidden memory"] == {"denied": True, "shmget": -1}


def test_tmp_is_bounded(probe: dict[str, Any]) -> None:
    assert probe["tmp size"]["denied"]


def test_exchange_folder_is_bounded(probe: dict[str, Any]) -> None:
    """/io/out is a sized tmpfs, not a folder on the grader's disk."""
    assert probe["out size"]["denied"]


def test_io_cannot_be_rearranged(probe: dict[str, Any]) -> None:
    """The grader writes into /io as root: nothing there may be renamed, replaced or planted."""
    assert probe["io"]["listing"] == ["cells.json", "in", "out"]
    assert set(probe["io"]["attempts"].values()) == {"denied"}


def test_no_terminal_to_stuff(probe: dict[str, Any]) -> None:
    assert probe["tty"] == {"tty": False, "stuffed": []}


def test_grader_processes_out_of_reach(probe: dict[str, Any]) -> None:
    parent = probe["parent"]
    assert parent["ptrace"] == -1
    assert parent["denied"]
    assert parent["pytest"] is False


def test_values_are_plain_only(probe: dict[str, Any]) -> None:
    values = probe["values"]
    assert values["sneaky"] == {"not_plain": "Sneaky"}
    assert values["double"] == {"function": True}
    assert values["nothing"] == {"missing": True}
    assert probe["double(21)"] == 42


def test_map_reads_back_only_a_regular_file(probe: dict[str, Any]) -> None:
    kept = probe["map keep"][0]
    assert kept["kept"] is True
    assert pydicom.dcmread(io.BytesIO(kept["output"])).PatientName == "Changed^Probe"
    for name in ("link", "fifo", "huge"):
        assert probe[f"map {name}"] == [{"error": "the changed data set could not be read back"}]


def test_stderr_is_its_tail(probe: dict[str, Any]) -> None:
    """Megabytes on fd 2 end in the trainer's report as their last 2000 characters."""
    assert probe["stderr"].endswith("TAIL") and len(probe["stderr"]) <= 2000


def test_plain_refuses_what_could_lie() -> None:
    class Sneaky(str):
        pass

    with pytest.raises(harness.NotPlain):
        harness.plain(Sneaky("x"))
    with pytest.raises(harness.NotPlain):
        harness.plain({1: "a"})
    with pytest.raises(harness.NotPlain):
        harness.plain([math.nan])
    with pytest.raises(harness.NotPlain):
        harness.plain({"a": [math.inf]})
    assert harness.plain({"a": (1, "b")}) == {"a": [1, "b"]}


def test_unavailable_without_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)  # what sandbox.available() asks
    assert sandbox.available() is not None
    with pytest.raises(SandboxUnavailable), Sandbox([(0, "x = 1")]):
        pass


def test_sleeping_forever_is_stopped() -> None:
    with (
        pytest.raises(SandboxBroken, match="time"),
        Sandbox([(0, "import time\ntime.sleep(10**6)")], limits=Limits(wall_seconds=10)),
    ):
        pass


def test_exiting_is_broken() -> None:
    with pytest.raises(SandboxBroken, match="exited"), Sandbox([(0, "import os\nos._exit(0)")]):
        pass


STALL = """
import os
def stall():
    # the harness goes on reading a pipe nobody writes; the grader's requests pile up unread
    keep = os.dup(0)
    os.dup2(os.pipe()[0], 0)
    return keep
def echo(x):
    return x
"""


def test_unread_requests_do_not_hang_the_grader() -> None:
    """A request larger than the pipe holds, never read: the grader's write gives up in time."""
    with Sandbox([(0, STALL)], limits=Limits(wall_seconds=10)) as box:
        assert SandboxFunction(box, "stall")() > 2
        with pytest.raises(SandboxBroken, match="time"):
            SandboxFunction(box, "echo")("x" * 2**20)


FORGE = """
import os, sys
def forge():
    os.write(int(sys.argv[2]), {payload})
    return 1
"""


@pytest.mark.parametrize(
    "payload",
    [
        """b'{"answer": {"value": NaN}}\\n'""",
        """b'{"answer": {"value": 1e999}}\\n'""",
        "b'[' * 100_000 + b']' * 100_000 + b'\\n'",
        f"b'[' + b'1,' * {sandbox.REPLY_LIMIT // 2} + b'1]\\n'",
    ],
    ids=["nan", "infinity", "nested", "oversized"],
)
def test_forged_answers_break_the_session(payload: str) -> None:
    """The learner can write on the reply pipe: what is not plain data ends the session."""
    with Sandbox([(0, FORGE.format(payload=payload))]) as box:
        with pytest.raises(SandboxBroken, match=r"not data|larger"):
            SandboxFunction(box, "forge")()
        assert box.broken


HUGE_ERRORS = """
import gc
# the harness runs as python -m hipaa_lab.course.harness: its class, wherever IPython put __main__
Harness = next(o for o in gc.get_objects() if isinstance(o, type) and o.__name__ == "Harness")
huge = "x" * 2_000_000
Harness.call = lambda self, name, args: {"error": huge}
Harness.map = lambda self, name, kind, inputs: [{"error": huge} for _ in inputs]
def f(ds=None):
    return 1
"""


def test_a_learners_error_messages_reach_the_grader_as_one_sentence() -> None:
    """The learner's code answers for the harness: an error of 2 MB (16 MiB fit in a reply) went
    whole into the check's result, the graded notebook and the feedback, once per input. The
    grader keeps ERROR_TEXT printable characters of each."""
    with Sandbox([(0, HUGE_ERRORS)], limits=Limits(wall_seconds=60)) as box:
        function = SandboxFunction(box, "f")
        with pytest.raises(GradingError) as raised:
            function(1)
        assert len(str(raised.value)) <= 400 + 40  # sandbox.ERROR_TEXT, and the sentence
        replies = function.map("paths", [_dicom(), _dicom()])
        assert all(len(r["error"]) <= 400 for r in replies)
    assert sandbox.ERROR_TEXT == 400  # as much as the harness's own messages hold


def test_find_phi_may_not_hand_the_work_to_the_scanner(probe: dict[str, Any]) -> None:
    """Module 1's rule holds in the sandbox as in a learner's kernel."""
    (answer,) = probe["map lazy"]
    assert "find PHI itself" in answer["error"]


FORK_AND_HOLD = """
import os, time
held = 0
for _ in range(4096):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    held += 1
"""


HONEST_WITH_THREADS = """
import threading
import numpy as np
import pydicom
box = []
worker = threading.Thread(target=lambda: box.append(int(np.arange(7).sum() * 2)))
worker.start()
worker.join()
answer = box[0]
"""


def test_a_fork_bomb_beside_does_not_stop_another_learners_sandbox() -> None:
    """Two gradings at once (``autograde(jobs=2)``, or two trainers on one host): one learner
    holds every process the limit allows; the other learner's notebook still starts a thread
    (numpy, a pool) and answers. The kernel counts the process limit per account: with one
    account shared by both sandboxes, the second notebook's thread could not start and its
    learner lost the marks."""
    with Sandbox([(0, FORK_AND_HOLD)], limits=Limits(wall_seconds=60)) as bomb:
        held = bomb.values(["held"])["held"]["value"]
        assert held >= Limits().processes - 8
        with Sandbox([(0, HONEST_WITH_THREADS)], limits=Limits(wall_seconds=30)) as other:
            assert other.values(["answer"]) == {"answer": {"value": 42}}
            assert other.account != bomb.account


WITHHELD_PROBE = """
import importlib, importlib.util, json, marshal
from pathlib import Path

import hipaa_lab.course.grading  # imports every checks module, and they the safeguards
from hipaa_lab.course import withheld
from hipaa_lab.safeguards import breach, sharing
stub = Path(withheld.__file__).read_text()
seen = {}
for name in ("hipaa_lab._chaincheck", "hipaa_lab.safeguards._breach_plan", "hipaa_lab.ledger"):
    origin = importlib.util.find_spec(name).origin
    seen[name] = {
        "source is the stub": Path(origin).read_text() == stub,
        "pyc": Path(importlib.util.cache_from_source(origin)).read_bytes()[:16].hex(),
    }
seen["cards"] = len(sharing.request_cards(7))
seen["facts"] = type(breach.BreachFacts(discovered=__import__("datetime").date(2026, 1, 5),
                                        affected={"TX": 3})).__name__
try:
    importlib.reload(importlib.import_module("hipaa_lab.safeguards._breach_plan")).plan(None)
except Exception as exc:
    seen["reloaded plan"] = f"{type(exc).__name__}: {exc}"
try:
    breach.plan(None)
except Exception as exc:
    seen["plan"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(seen))
"""


def test_withheld_modules_are_stubs_inside_and_the_rest_of_the_package_works() -> None:
    """Sealed grading's seal: a withheld module's source and ``__pycache__`` copy read as the
    stub, reloading it gets the stub again and its names refuse with one sentence; the modules
    beside it (the breach facts, the request cards, every checks module) load and work; a module
    not withheld is its own source. A cell that calls a withheld answer fails with its sentence
    alone."""
    import importlib.util
    import py_compile

    names = ("hipaa_lab._chaincheck", "hipaa_lab.safeguards._breach_plan", "hipaa_lab.ledger")
    made = []
    for name in names:  # compiled, as an installed package ships them
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        pyc = Path(importlib.util.cache_from_source(spec.origin))
        if not pyc.exists():
            py_compile.compile(spec.origin, cfile=str(pyc), doraise=True)
            made.append(pyc)
    try:
        with Sandbox(
            [(0, WITHHELD_PROBE), (1, "print('a demo')\nbreach.plan(None)")],
            withheld=("hipaa_lab._chaincheck", "hipaa_lab.safeguards._breach_plan"),
        ) as box:
            outcome, demo = box.outcomes
    finally:
        for pyc in made:
            pyc.unlink()
    assert outcome.error is None, outcome.stderr
    seen = json.loads(outcome.stdout.strip().splitlines()[-1])
    stub_head = Path(sandbox.__file__).with_name("withheld.py").read_bytes()[:16].hex()
    for name in names[:2]:
        assert seen[name] == {"source is the stub": True, "pyc": stub_head}, name
    assert seen["hipaa_lab.ledger"]["source is the stub"] is False
    assert seen["hipaa_lab.ledger"]["pyc"] != stub_head  # the real bytecode: magic number first
    assert seen["cards"] == 14 and seen["facts"] == "BreachFacts"
    sentence = (
        "GradingError: hipaa_lab.safeguards._breach_plan holds an answer of this assignment "
        "and is not available while your notebook is graded"
    )
    assert seen["reloaded plan"].startswith(sentence)
    assert seen["plan"].startswith(sentence)
    # a locked demo cell that calls a withheld answer: its sentence, no traceback
    assert demo.error is not None and demo.error.startswith(sentence)
    assert demo.stdout == "a demo\n" and "Traceback" not in demo.stderr
