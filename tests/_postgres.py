"""A real PostgreSQL server for the tests that need one: :class:`hipaa_lab.postgres.LocalPostgres`
in a temp folder, on a free port of 127.0.0.1, run as an unprivileged user (postgres refuses root).

Import the fixture into a test module: ``from _postgres import postgres_url``. It skips, with the
reason, only when no server can start (no binaries, or initdb or pg_ctl failing).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
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


def fresh_database(postgres_url: str) -> str:
    """The URL of a new, empty database on the session's server (one per course or test)."""
    import sqlalchemy as sa

    name = f"gradebook_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name
