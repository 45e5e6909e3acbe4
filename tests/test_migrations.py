"""Models and migrations agree: a database migrated to head is what mailer.models declares.

Alembic's autogenerate comparison (what `alembic check` runs) with column types and server
defaults, on the suite's database: SQLite by default, PostgreSQL with
MAILER_TEST_DATABASE_URL. SQLite's AUTOINCREMENT, which Alembic does not compare, is read
from each table's CREATE statement in a freshly migrated SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, pool, text

import mailer.models  # noqa: F401  (every table on Base.metadata)
from mailer.db import Base, include_in_compare, make_engine
from mailer.migrate import upgrade


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # As migrations/env.py: a PostgreSQL-only index is compared on PostgreSQL only.
            "include_object": include_in_compare(connection.dialect.name),
        },
    )
    return list(compare_metadata(context, metadata))


@pytest.fixture
def migrated(test_env: dict[str, str]) -> Iterator[Connection]:
    """The suite's own database, which test_env migrated to head."""
    engine = make_engine(test_env["MAILER_DATABASE_URL"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_models_and_migrations_agree(migrated: Connection) -> None:
    assert _differences(migrated, Base.metadata) == []


def test_a_column_without_a_migration_is_a_difference(migrated: Connection) -> None:
    """The comparison above has teeth: a model column no migration made is reported."""
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["subscriber"].append_column(Column("nickname", String(40)))

    found = [(d[0], d[2], d[3].name) for d in _differences(migrated, metadata)]

    assert found == [("add_column", "subscriber", "nickname")]


def test_sqlite_autoincrement_as_declared(tmp_path: Path) -> None:
    """Tables declared with sqlite_autoincrement (ids never reused) are AUTOINCREMENT in
    the migrated file, and no others."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        created: dict[str, str] = {name: sql for name, sql in rows}
    engine.dispose()
    declared = {t.name for t in Base.metadata.sorted_tables}
    assert declared <= created.keys()

    migrated_autoincrement = {name for name in declared if "AUTOINCREMENT" in created[name]}

    assert migrated_autoincrement == {
        t.name for t in Base.metadata.sorted_tables if t.dialect_options["sqlite"]["autoincrement"]
    }
    assert migrated_autoincrement  # the declaration is in use: the check compares something
