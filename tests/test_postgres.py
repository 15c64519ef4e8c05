"""The local PostgreSQL server (hipaa_lab.postgres): private, persistent, clear when it fails."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import stat
import subprocess
import tempfile

import pytest
import sqlalchemy as sa

from hipaa_lab.errors import PostgresError
from hipaa_lab.postgres import LocalPostgres, free_port, server_binaries

pytestmark = pytest.mark.skipif(server_binaries() is None, reason="no PostgreSQL server binaries")


@pytest.fixture
def folder():
    path = tempfile.mkdtemp(prefix="hipaa-lab-pg-test-")
    yield path
    LocalPostgres(path).stop()
    shutil.rmtree(path, ignore_errors=True)


def _select_one(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT 1").scalar_one())
    finally:
        engine.dispose()


def test_a_server_starts_keeps_its_data_and_password_across_restarts(folder):
    server = LocalPostgres(folder, fsync=False)
    url = server.start()
    db = server.create_database("gradebook")
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x int)")
        conn.exec_driver_sql("INSERT INTO t VALUES (42)")
    engine.dispose()
    server.stop()
    assert not server.running()
    again = LocalPostgres(folder, fsync=False)
    assert again.start() == url  # the same port and password
    engine = sa.create_engine(again.create_database("gradebook"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t").scalar_one() == 42
    engine.dispose()
    assert stat.S_IMODE(os.stat(os.path.join(folder, "password")).st_mode) == 0o600


def test_no_one_connects_without_the_password(folder):
    server = LocalPostgres(folder, fsync=False)
    url = server.start()
    assert _select_one(url) == 1
    for wrong in [url.replace(server.password, "guess"), url.replace(f":{server.password}", "")]:
        with pytest.raises(sa.exc.OperationalError, match="password"):
            _select_one(wrong)


def test_a_port_in_use_is_a_clear_error_and_starts_nothing(folder):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = LocalPostgres(folder, port=port, fsync=False)
        with pytest.raises(PostgresError, match=f"port {port} .* in use"):
            server.start()
        assert not server.running()


def test_a_server_that_will_not_start_says_why(folder):
    server = LocalPostgres(folder, port=free_port(), fsync=False)
    server.start()
    server.stop()
    with open(os.path.join(folder, "data", "postgresql.conf"), "a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")  # a value the server refuses
    with pytest.raises(PostgresError, match=r"did not start: .*shared_buffers"):
        LocalPostgres(folder, fsync=False).start()


@pytest.mark.skipif(os.geteuid() != 0, reason="checks a second user's access: needs root")
def test_another_user_cannot_read_the_password_or_enter_the_socket_folder(folder):
    server = LocalPostgres(folder, fsync=False)
    server.start()
    for command in [f"cat {folder}/password", f"ls {folder}/run", f"ls {folder}"]:
        probe = subprocess.run(
            ["runuser", "-u", "daemon", "--", "sh", "-c", command], capture_output=True, text=True
        )
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, command
    assert (pathlib.Path(folder) / "run" / f".s.PGSQL.{server.port}").is_socket()


def test_a_password_never_goes_on_a_command_line(tmp_path, monkeypatch, capsys):
    from hipaa_lab.cli import main
    from hipaa_lab.errors import UsageError
    from hipaa_lab.postgres import URL_VARIABLE, url_argument

    secret = "postgresql+psycopg://grader:s3cret@127.0.0.1:5432/records"
    with pytest.raises(UsageError, match="readable by every user"):
        url_argument(secret)
    assert main(["records", "verify", "--db", secret]) == 2
    assert "s3cret" not in capsys.readouterr().err
    saved = tmp_path / "db-url"
    saved.write_text(secret + "\n")
    assert url_argument(f"@{saved}") == secret
    monkeypatch.setenv(URL_VARIABLE, secret)
    assert url_argument(None) == secret
    assert url_argument("sqlite:///records.db") == "sqlite:///records.db"
