"""A private, throw-away PostgreSQL cluster for the tests, and the fixtures built on it.

``postgres_url`` (session) is ``FLEXTYPE_TEST_DATABASE_URL`` when set, else the URL of a
cluster this module starts from the installed server binaries (Debian's ``postgresql``
package: /usr/lib/postgresql/<version>/bin). As root, initdb and pg_ctl run through
``runuser -u postgres`` (initdb refuses root). ``pg_database`` is a migrated
``PostgresDatabase`` on a schema of its own, dropped after the test. Without the binaries
the tests skip with one line saying how to enable them, or fail when
``FLEXTYPE_REQUIRE_POSTGRES=1`` (CI sets it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql

from flextype_adapters.postgres.database import PostgresDatabase

__all__ = [
    "HOW_TO_ENABLE",
    "PostgresCluster",
    "drop_schema",
    "find_bindir",
    "pg_database",
    "postgres_url",
    "require_bindir",
]

HOW_TO_ENABLE = (
    "PostgreSQL tests need a server: apt-get install postgresql, or set FLEXTYPE_TEST_DATABASE_URL"
)
_SERVER_USER = "postgres"  # the Debian package's system user, owner of the data directory


def find_bindir(
    installed: Path = Path("/usr/lib/postgresql"), search_path: str | None = None
) -> Path | None:
    """Return the folder holding initdb, pg_ctl and postgres, or None if there is none.

    initdb on ``search_path`` (PATH by default) first; else the newest version of
    Debian's ``installed``/<version>/bin, which is off PATH.
    """
    on_path = shutil.which("initdb", path=search_path)
    if on_path is not None:
        folder = Path(on_path).resolve().parent
        if (folder / "pg_ctl").exists() and (folder / "postgres").exists():
            return folder
    versions = sorted(
        (int(initdb.parent.parent.name), initdb.parent)
        for initdb in installed.glob("*/bin/initdb")
        if initdb.parent.parent.name.isdigit()
    )
    return versions[-1][1] if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    """One PostgreSQL cluster in a temporary folder: ``start``, ``stop``, ``url``, ``remove``.

    A test that needs to stop the database (fault tests) makes its own; the folder and
    the server go away with ``remove`` (or the ``with`` block). The superuser is
    ``flextype`` with a random password, over TCP on 127.0.0.1 (scram-sha-256).
    Tests run with fsync off; ``durable`` keeps PostgreSQL's defaults (for benchmarks).
    """

    def __init__(
        self, bindir: Path, *, durable: bool = False, shared_buffers: str = "32MB"
    ) -> None:
        self.bindir = bindir
        self.durable = durable
        self.shared_buffers = shared_buffers
        self.folder = Path(tempfile.mkdtemp(prefix="flextype-pg-"))
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.log = self.folder / "server.log"
        self.password = secrets.token_hex(16)
        self.user = "flextype"
        self.port = 0
        self._as_server_user = os.geteuid() == 0
        try:
            self.sockets.mkdir()
            if self._as_server_user:
                entry = pwd.getpwnam(_SERVER_USER)
                for path in (self.folder, self.sockets):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._initdb()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)  # no `with` block to do it
            raise

    def _run(self, *args: str) -> None:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"  # sbin: often off PATH
        command = [*([runuser, "-u", _SERVER_USER, "--"] if self._as_server_user else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}")

    def _initdb(self) -> None:
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_server_user:
            entry = pwd.getpwnam(_SERVER_USER)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._run(
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                self.user,
                "--pwfile",
                str(pwfile),
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
        finally:
            pwfile.unlink()

    @property
    def url(self) -> str:
        """The libpq URL of the cluster's ``postgres`` database (password included)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (port kept across restarts)."""
        for _attempt in range(5):
            self.port = self.port or _free_port()
            options = " ".join(
                [
                    f"-c port={self.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={self.sockets}",
                    *([] if self.durable else ["-c fsync=off", "-c full_page_writes=off"]),
                    "-c max_connections=200",
                    f"-c shared_buffers={self.shared_buffers}",
                ]
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "--pgdata",
                    str(self.data),
                    "--log",
                    str(self.log),
                    "--wait",
                    "--timeout",
                    "120",
                    "-o",
                    options,
                )
                return
            except RuntimeError:
                if "already in use" not in self._log_tail():
                    raise RuntimeError(f"PostgreSQL did not start:\n{self._log_tail()}") from None
                self.port = 0  # another process took the port in between: pick another
        raise RuntimeError(f"PostgreSQL did not start:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut), waiting until it is down."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bindir / "pg_ctl"), "stop", "--pgdata", str(self.data), "-m", "fast", "-w"
            )

    def remove(self) -> None:
        """Stop the server if it runs and delete the cluster's folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.remove()


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("FLEXTYPE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (FLEXTYPE_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(reason)


def require_bindir(find: Callable[[], Path | None] = find_bindir) -> Path:
    """Return the server binaries' folder, or skip (fail under FLEXTYPE_REQUIRE_POSTGRES=1)."""
    bindir = find()
    if bindir is None:
        _unavailable(HOW_TO_ENABLE)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            _unavailable(f"{HOW_TO_ENABLE} (no '{_SERVER_USER}' user to run the server as)")
    return bindir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """FLEXTYPE_TEST_DATABASE_URL, or a private cluster started for this session."""
    given = os.environ.get("FLEXTYPE_TEST_DATABASE_URL")
    if given:
        yield given
        return
    with PostgresCluster(require_bindir()) as cluster:
        cluster.start()
        yield cluster.url


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (no error if it does not exist)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[PostgresDatabase]:
    """A migrated PostgresDatabase on a fresh schema of its own, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    database = PostgresDatabase(postgres_url, schema=schema, pool_size=12)
    try:
        database.migrate()
        yield database
    finally:
        database.close()
        drop_schema(postgres_url, schema)
