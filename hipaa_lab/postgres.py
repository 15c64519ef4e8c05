"""A PostgreSQL server of our own, in one folder, on 127.0.0.1: for the hub's gradebook and
ledger when a site gives no database URL, and for the tests.

It uses the server binaries of Debian's ``postgresql`` package (``initdb`` and ``pg_ctl`` under
``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so as root the server
runs as an ordinary user (``run_as``) who owns the data folder.

Nobody else on the machine can use it: connections over TCP need the superuser's password
(SCRAM-SHA-256), which is random, made on first start, and kept in ``FOLDER/password`` with mode
600, owned by whoever started the server; the Unix socket sits in ``FOLDER/run``, which only the
server's user may enter. On a hub that matters: learners have accounts on the same machine, and
``trust`` authentication would let any of them rewrite the gradebook.

>>> server = LocalPostgres("/srv/hipaa-lab/postgres")   # doctest: +SKIP
>>> url = server.start()                                # doctest: +SKIP
>>> server.stop()                                       # doctest: +SKIP

Starting it again on the same folder keeps the data and the password.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from hipaa_lab.errors import PostgresError

__all__ = [
    "LocalPostgres",
    "URL_VARIABLE",
    "free_port",
    "port_in_use",
    "server_binaries",
    "url_argument",
]

#: Where a command takes a database URL that holds a password from, when ``--db`` is not given.
URL_VARIABLE = "HIPAA_LAB_DATABASE_URL"

SUPERUSER = "postgres"


def url_argument(value: str | None) -> str | None:
    """A ``--db`` argument as a database URL: a URL without a password as it is, ``@FILE`` the
    URL in that file, nothing the environment's :data:`URL_VARIABLE` (or ``None``).

    A password on a command line is readable by every user of the machine (``ps``), for as long
    as the command runs: a URL that holds one is refused there.

    >>> url_argument("postgresql+psycopg://grader@127.0.0.1/gradebook")
    'postgresql+psycopg://grader@127.0.0.1/gradebook'
    >>> url_argument("postgresql+psycopg://grader:secret@127.0.0.1/gradebook")
    Traceback (most recent call last):
    ...
    hipaa_lab.errors.UsageError: a password on the command line is readable by every user of this machine (ps): give --db @FILE (a file of mode 600 holding the URL) or set HIPAA_LAB_DATABASE_URL
    """
    import sqlalchemy as sa

    from hipaa_lab.errors import UsageError

    if value is None:
        return os.environ.get(URL_VARIABLE) or None
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UsageError(
                f"cannot read the database URL from {value[1:]}: {exc.strerror}"
            ) from None
    try:
        password = sa.make_url(value).password
    except sa.exc.ArgumentError:
        return value  # a file path for SQLite
    if password:
        raise UsageError(
            "a password on the command line is readable by every user of this machine (ps): "
            f"give --db @FILE (a file of mode 600 holding the URL) or set {URL_VARIABLE}"
        )
    return value


def server_binaries() -> Path | None:
    """The folder of the newest installed PostgreSQL server binaries, or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    number = Path(path).parent.parent.name
    return int(number) if number.isdigit() else 0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something holds TCP ``port`` of 127.0.0.1, tried as a server binds it.

    Parameters
    ----------
    port : int
        The port to try.

    Returns
    -------
    bool
        ``True`` when binding the port fails; a port left in TIME_WAIT by a server's last
        connections counts as free (``SO_REUSEADDR``, as PostgreSQL and the hub's proxy bind).

    >>> port_in_use(free_port())
    False
    """
    with socket.socket() as s:
        # as PostgreSQL binds: a port left in TIME_WAIT by the server's last connections is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class LocalPostgres:
    """One PostgreSQL server whose files all live in ``folder``.

    Parameters
    ----------
    folder
        Holds ``data/`` (the cluster), ``run/`` (its socket), ``log``, ``port`` and ``password``.
        Made when missing; a folder with a cluster in it is started as it is.
    port
        TCP port on 127.0.0.1. Default: the port the folder's server used last, else a free one.
    run_as
        The user the server runs as when this process is root (PostgreSQL refuses root).
        Ignored otherwise: the server then runs as the current user.
    fsync
        ``False`` for throw-away test servers only: faster, and loses data on a power cut.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        port: int | None = None,
        run_as: str = "nobody",
        fsync: bool = True,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.data = self.folder / "data"
        self.sockets = self.folder / "run"
        self.log = self.folder / "log"
        self.run_as = run_as if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.fsync = fsync
        saved = self.folder / "port"
        self.port = port or (int(saved.read_text()) if saved.exists() else free_port())
        bindir = server_binaries()
        if bindir is None:
            raise PostgresError(
                "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install Debian's "
                "postgresql package, or give a database URL"
            )
        self.bindir = bindir

    # ------------------------------------------------------------------ state
    @property
    def password(self) -> str:
        return (self.folder / "password").read_text().strip()

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (holds the password: keep it private)."""
        return f"postgresql+psycopg://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def running(self) -> bool:
        status = self._run(["pg_ctl", "-D", str(self.data), "status"], check=False)
        return status.returncode == 0

    # ------------------------------------------------------------------ control
    def start(self) -> str:
        """Make the cluster when missing, start the server when stopped; return its URL.

        Raises
        ------
        PostgresError
            The port is taken by something else, or initdb or the server failed (the message
            quotes the end of the server's log). A cluster that initdb could not finish is
            removed, so the next start begins afresh.
        """
        self._make_folders()
        if not (self.data / "PG_VERSION").exists():
            self._init()
        if self.running():
            return self.url()
        if port_in_use(self.port):
            raise PostgresError(
                f"port {self.port} of 127.0.0.1 is in use: stop what listens there or choose "
                "another port (nothing was started)"
            )
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1" + (
            "" if self.fsync else " -c fsync=off -c synchronous_commit=off"
        )
        started = self._run(
            ["pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "-l", str(self.log),
             "start"],
            check=False,
        )  # fmt: skip
        if started.returncode:
            raise PostgresError(
                f"PostgreSQL in {self.folder} did not start: {self._log_tail()} "
                "(nothing else was changed)"
            )
        (self.folder / "port").write_text(f"{self.port}\n")
        return self.url()

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended, data is kept)."""
        if self.data.exists() and self.running():
            self._run(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"], check=False)

    def create_database(self, name: str) -> str:
        """Create database ``name`` when missing; return its URL."""
        import sqlalchemy as sa

        if not name.replace("_", "").isalnum():
            raise ValueError(f"a database name of letters, digits and _ only, got {name!r}")
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if found is None:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def _make_folders(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        os.chmod(self.sockets, 0o700)
        self.log.touch(mode=0o600)
        if os.geteuid() == 0:  # the server's user enters the folder but cannot list it
            os.chmod(self.folder, 0o711)  # noqa: S103  enter, not list: the password is 600
            shutil.chown(self.sockets, self.run_as)
            shutil.chown(self.log, self.run_as)
        password = self.folder / "password"
        if not password.exists():
            fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24) + "\n")

    def _init(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)  # the remains of an initdb that failed
        self.data.mkdir(mode=0o700)
        with self._password_for_initdb() as pwfile:
            if os.geteuid() == 0:
                shutil.chown(self.data, self.run_as)
            made = self._run(
                ["initdb", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                 "--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}"],
                check=False,
            )  # fmt: skip
        if made.returncode:
            shutil.rmtree(self.data, ignore_errors=True)
            raise PostgresError(
                f"initdb failed in {self.data}: {made.stderr.strip()[-400:]} (nothing was kept)"
            )

    @contextlib.contextmanager
    def _password_for_initdb(self) -> Iterator[Path]:
        """The password, in a file only the server's user can read, for as long as initdb runs."""
        pwfile = self.data.parent / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, self.run_as)
        try:
            yield pwfile
        finally:
            pwfile.unlink(missing_ok=True)

    def _run(self, argv: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=check, cwd="/"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return " / ".join(lines[-3:])[-400:] or "an empty server log"
