"""Run the Alembic migrations in migrations/ against the configured database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.config import ROOT

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and Pygments, ~11 MB resident) is imported when a migration runs,
# not by every process that builds the app: the web and the Celery workers never need it.


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest migration in migrations/ (what `mailer db upgrade` brings a database to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
