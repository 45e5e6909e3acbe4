"""Engine, session factory and the declarative base."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Table, create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


def dialect_insert(session: Session) -> Any:
    """The INSERT construct of this session's database (with ``on_conflict_do_nothing``).
    Only that dialect's module is imported: the PostgreSQL dialect is ~2 MB that a
    worker on SQLite never needs (bench/README.md, worker memory)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


# The largest id an INTEGER column holds: PostgreSQL refuses a larger number with an
# error and SQLite's driver cannot bind one, so a larger id names no row.
LARGEST_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, so we never rely on it."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# SQLite hands a deleted highest id to the next row unless the table is AUTOINCREMENT.
# Every table whose id leaves the database (a personal link, a VERP address, an admin or
# API URL, an audit event) never reuses one: subscription, subscriber, delivery, issue,
# article, feed, editor, api_token, bounce_report. (PostgreSQL's sequences never reuse ids
# anyway.)
NO_ID_REUSE = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """A model's Table, for Core statements (an executemany by key, a column's length):
    SQLAlchemy types ``__table__`` as any FROM clause, which update() does not take."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. Session.execute is typed as returning any
    Result; for those statements it is a CursorResult, the one kind with a rowcount."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} has no rowcount")
    return result.rowcount


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the web, the CLI and several worker processes read while one writes;
    # the busy timeout turns a lock clash into a short wait instead of an error.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    # An erased reader (GDPR art. 17) must not stay readable in the file's free space:
    # SQLite overwrites deleted content with zeros (see Database.drop_deleted for the WAL).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _create_private_sqlite_file(url: str) -> None:
    """A new SQLite file is made 0600 before SQLite opens it: its -wal and -shm files take
    the database file's mode, so none of the three is ever readable by other users."""
    parsed = make_url(url)
    path = parsed.database
    if not path or path == ":memory:" or parsed.query.get("uri"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        pass  # no such directory: SQLite reports it with the path when it connects


def make_engine(url: str, connect_args: dict[str, Any] | None = None, **options: Any) -> Engine:
    """``connect_args`` are for a server (PostgreSQL): the timeouts and keepalives of
    mailer/config_network.py; SQLite takes its own."""
    if url.startswith("sqlite"):
        _create_private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args or {}, **options)


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str, connect_args: dict[str, Any] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, connect_args)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def drop_deleted(self) -> None:
        """After an erasure: on SQLite, copy the write-ahead log into the database file and
        truncate it, so the old page images of the deleted rows leave the disk (the
        database file itself holds none, by secure_delete). A reader holding the log open
        makes this a no-op after a short wait; the log is then emptied by a later
        checkpoint. PostgreSQL's dead rows go with its own (auto)vacuum."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=2000")
            try:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.exec_driver_sql("PRAGMA busy_timeout=30000")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise


def include_in_compare(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` on this dialect: an index the models declare for
    another database only (``Index.ddl_if(dialect=…)``) is not expected in this one."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if type_ != "index" or reflected or condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include
