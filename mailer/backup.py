"""Backups of the database: one file, and back into an empty database.

SQLite: the online backup API (sqlite3's ``Connection.backup``) copies a consistent
snapshot while web and workers keep writing; the copy is switched out of WAL mode so it
is one self-contained file. PostgreSQL: ``pg_dump -Fc`` (custom format, compressed) and
``pg_restore`` in one transaction, both without owners and privileges so the dump goes
into a database owned by another role. The PostgreSQL client tools do the work because
they are the format every PostgreSQL operator already trusts and can read without us.

A restore only goes into an empty database (no tables at all): merging two histories of
ids, secrets and deliveries would break the ledger's "nothing lost, nothing doubled".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from mailer.db import make_engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
# pg_dump/pg_restore are given this long; a larger database wants the tools run by hand.
PG_TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason for the operator."""


@dataclass(frozen=True)
class Restored:
    tables: int
    # The Alembic revision the backup was taken at (None: no alembic_version table).
    revision: str | None


def backup(database_url: str, path: Path) -> None:
    """Write a backup of the database to ``path`` (a new file, 0600: it holds personal data)."""
    if path.exists():
        raise BackupError(f"{path} already exists; give a new file name")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_backup(_sqlite_path(url), path)
    elif url.get_backend_name() == "postgresql":
        _pg_dump(url, path)
    else:
        raise BackupError(f"backups of {url.get_backend_name()} databases are not supported")


def restore(database_url: str, path: Path) -> Restored:
    """Put the backup at ``path`` into the database, which must have no tables yet."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    url = make_url(database_url)
    backend = url.get_backend_name()
    kind = _backup_kind(path)
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"restores into {backend} databases are not supported")
    if kind is None:
        raise BackupError(f"{path} is not a backup made by mailer db backup")
    if kind != backend:
        found = {"sqlite": "an SQLite backup", "postgresql": "a pg_dump custom-format archive"}
        raise BackupError(f"{path} is {found[kind]}, but the database is {backend}")
    existing = tables_of(database_url)
    if existing:
        shown = ", ".join(existing[:5]) + (", …" if len(existing) > 5 else "")
        raise BackupError(
            f"the database is not empty (it has {len(existing)} tables: {shown}); restore "
            "only goes into an empty database: create a new one (or point MAILER_DATABASE_URL "
            "at one) and run the restore again. Nothing was changed."
        )
    if backend == "sqlite":
        _sqlite_restore(path, _sqlite_path(url))
    else:
        _pg_restore(url, path)
    restored = tables_of(database_url)
    return Restored(tables=len(restored), revision=_revision(database_url, restored))


def tables_of(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _revision(database_url: str, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _backup_kind(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    return None


def _new_private_file(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} already exists; give a new file name") from None
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror or exc}") from exc


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.query.get("uri"):
        raise BackupError("backups need an SQLite file database (not :memory: or a URI)")
    return Path(url.database)


def _sqlite_backup(source: Path, path: Path) -> None:
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    os.close(_new_private_file(path))
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(path)
            try:
                src.backup(dst)
                # One self-contained file: WAL mode would need its -wal and -shm beside it.
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _sqlite_restore(path: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = src.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise BackupError(f"{path} is damaged (SQLite quick_check: {check and check[0]})")
        if not target.exists():
            os.close(_new_private_file(target))
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            # As the app runs it (mailer.db sets it on every connection too).
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database: {exc}") from exc
    finally:
        src.close()


# --- PostgreSQL ------------------------------------------------------------------------------


def _conninfo_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq conninfo string without the password, and the environment that carries it."""
    parts = {
        "host": url.host or "",
        "port": str(url.port or ""),
        "user": url.username or "",
        "dbname": url.database or "",
    }
    # Query options of the SQLAlchemy URL are libpq's own (sslmode, sslrootcert, …).
    for key, value in url.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{key}={_conninfo_value(v)}" for key, v in parts.items() if v)
    # libpq reads the password from the environment, never the command line (ps shows that).
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed; PostgreSQL backups need the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client), of the server's version or newer"
        )
    return found


def _run(command: list[str], env: dict[str, str], stdout: IO[bytes] | int) -> None:
    done = subprocess.run(
        command,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=PG_TOOL_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise BackupError(f"{Path(command[0]).name} failed: {message}")


def _pg_dump(url: URL, path: Path) -> None:
    conninfo, env = _libpq(url)
    command = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", "-d", conninfo]
    fd = _new_private_file(path)
    try:
        with os.fdopen(fd, "wb") as out:
            _run(command, env, stdout=out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _pg_restore(url: URL, path: Path) -> None:
    conninfo, env = _libpq(url)
    command = [
        _tool("pg_restore"),
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        "--single-transaction",
        "-d",
        conninfo,
        str(path),
    ]
    _run(command, env, stdout=subprocess.DEVNULL)
