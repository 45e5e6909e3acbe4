"""Alembic environment: the URL comes from mailer's settings (or the caller's Config)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from mailer import models  # noqa: F401  (registers the tables on Base.metadata)
from mailer.config import load_settings
from mailer.db import Base, include_in_compare, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch migrations rebuild a table by copying it and dropping the original:
            # with foreign keys enforced, that DROP would first delete every row that
            # refers to it (ON DELETE CASCADE). The pragma does nothing inside a
            # transaction, so it is set before the migrations' transaction begins.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        # Server defaults compared too, as tests/test_migrations.py does: autogenerate and
        # `alembic check` see the differences that test fails on.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            compare_server_default=True,
            include_object=include_in_compare(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
