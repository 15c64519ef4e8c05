"""A real PostgreSQL server for the tests that need one: :class:`hipaa_lab.postgres.LocalPostgres`
in a temp folder, on a free port of 127.0.0.1, run as an unprivileged user (postgres refuses root).

Import the fixture into a test module: ``from _postgres import postgres_url``. It skips, with the
reason, only when no server can start (no binaries, or initdb or pg_ctl failing).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest

from hipaa_lab.errors import PostgresError
from hipaa_lab.postgres import LocalPostgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres:PASSWORD@127.0.0.1:PORT/postgres`` of a server for this
    session."""
    folder = tempfile.mkdtemp(prefix="hipaa-lab-pg-")
    try:
        server = LocalPostgres(folder, fsync=False)
        url = server.start()
    except PostgresError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
