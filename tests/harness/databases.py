"""Databases and stores for tests and bench/: a throwaway database on the shared
PostgreSQL server, the shared Redis checked or flushed, a private redis-server and a
PostgreSQL cluster of their own on free ports (for tests that stop or restart them; the
machine's shared servers are never stopped).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailer.db import Database
from tests.harness.processes import TIMEOUT, free_port, wait_until


def _admin_execute(url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


class ThrowawayDatabase:
    """A new database named ``<prefix>_<hex>`` on the server of ``server_url``; ``drop()``
    removes it even while connections are open."""

    def __init__(self, server_url: str, prefix: str = "mailer_test") -> None:
        self.server_url = server_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        _admin_execute(server_url, f'CREATE DATABASE "{self.name}"')
        base = make_url(server_url)
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        _admin_execute(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@contextmanager
def rolled_back(db: Database) -> Iterator[Session]:
    """One connection in one transaction, rolled back at the end; meanwhile every session
    ``db.session()`` opens (in views, commands and domain functions alike) joins it, and
    its commit or rollback only releases or rolls back a savepoint (SQLAlchemy 2's
    "join a session into an external transaction" recipe).

    Only for code that talks to the database through ``db`` in this thread: a worker, a
    subprocess or a second engine would not see the rows, and on SQLite would wait for
    this connection's write lock.
    """
    conn = db.engine.connect()
    driver: Any = conn.connection.driver_connection
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # pysqlite's legacy transaction mode emits no BEGIN before a SELECT or a SAVEPOINT,
        # so a released savepoint would be committed for good. SQLAlchemy's recipe for
        # Python < 3.12 ("Enabling Non-Legacy SQLite Transactional Modes"): the driver
        # leaves transactions alone and we emit BEGIN ourselves, on this connection only.
        legacy_level = driver.isolation_level
        driver.isolation_level = None
    outer = conn.begin()
    if sqlite:
        conn.exec_driver_sql("BEGIN")
    production = db.sessionmaker
    db.sessionmaker = sessionmaker(
        conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    try:
        with db.session() as session:
            yield session
    finally:
        db.sessionmaker = production
        outer.rollback()
        if sqlite:
            driver.isolation_level = legacy_level
        conn.close()


def check_redis(url: str) -> None:
    """Fail, never skip, when the Redis at ``url`` cannot be reached."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    finally:
        client.close()


def flush_redis(url: str) -> None:
    """Empty the Redis db of ``url``, which must not be db 0 (someone else's, likely)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
        if (client.connection_pool.connection_kwargs.get("db") or 0) == 0:
            raise ValueError(f"{url}: name a Redis db other than 0 to be flushed")
        client.flushdb()
    finally:
        client.close()


class RedisServer:
    """A private redis-server without persistence: a restart comes back empty."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", *options: str) -> None:
        self.port = free_port()
        self.host = host
        self.options = options
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise AssertionError("redis-server is not installed; the fault tests need it")
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    self.host,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                    *self.options,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        import redis

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        client = self.client()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


class PostgresCluster:
    """A throwaway cluster of its own (initdb in a temporary directory, its own port)."""

    def __init__(self, host: str = "127.0.0.1", clients: str = "") -> None:
        """Listening on ``host``; ``clients`` (a CIDR network) may connect besides loopback."""
        self.host = host
        self.clients = clients
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
        if not found:
            raise AssertionError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mailer-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            # initdb refuses to run as root: the cluster belongs to the postgres user.
            user = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.running = False

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: the postmaster outlives pg_ctl and would keep it open.
        with open(self.root / "commands.log", "ab") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=120)
        if done.returncode:
            output = (self.root / "commands.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{output}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if self.clients:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self.clients} trust\n")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses={self.host} -c fsync=off"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def create_database(self, name: str) -> str:
        _admin_execute(self.url("postgres"), f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def destroy(self) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def scratch_database(directory: Path, name: str = "scratch") -> Iterator[str]:
    """The URL of a new, empty database on the run's backend: an SQLite file in
    ``directory``, or a throwaway database on MAILER_TEST_DATABASE_URL's server."""
    server = os.environ.get("MAILER_TEST_DATABASE_URL", "")
    if not server:
        yield f"sqlite:///{directory / f'{name}.db'}"
        return
    database = ThrowawayDatabase(server, prefix=f"mailer_{name}")
    try:
        yield database.url
    finally:
        database.drop()
