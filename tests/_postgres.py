"""A real PostgreSQL server for the tests that need one: Debian's binaries, a cluster in a temp
folder, on a free port of 127.0.0.1, run as an unprivileged user (postgres refuses root).

Import the fixture into a test module: ``from _postgres import postgres_url``. It skips, with the
reason, only when no server can start (no binaries, or initdb or pg_ctl failing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

RUN_AS = "nobody"  # postgres will not run as root


def _bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` of a server for this session."""
    bindir = _bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (Debian's postgresql) on this machine")
    folder = tempfile.mkdtemp(prefix="hipaa-lab-pg-")
    data, sockets = os.path.join(folder, "data"), os.path.join(folder, "run")
    os.makedirs(sockets)
    if os.geteuid() == 0:
        shutil.chown(folder, RUN_AS)
        shutil.chown(sockets, RUN_AS)
    port = _free_port()
    try:
        init = subprocess.run(
            _as_user(
                [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode:
            pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = subprocess.run(
            _as_user(
                [
                    f"{bindir}/pg_ctl",
                    "-D",
                    data,
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    os.path.join(folder, "log"),
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if start.returncode:
            pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(
                _as_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)
