"""personal link secrets, legacy link window, ids never reused on SQLite

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Links already mailed (the id alone) keep working this long after the upgrade; frozen
# here rather than read from mailer.mail.links, so the migration does what it did when it ran.
LEGACY_LINK_WINDOW = timedelta(days=60)
# Tables whose ids leave the database (mailer.models.NO_ID_REUSE): AUTOINCREMENT on SQLite.
NO_ID_REUSE = (
    "subscriber",
    "subscription",
    "delivery",
    "issue",
    "article",
    "feed",
    "editor",
    "api_token",
)
# A random secret per existing row, drawn by the database (one UPDATE, not one per row):
# 96 bits from SQLite's randomness (seeded from the OS), and on PostgreSQL from
# gen_random_uuid() (pg_strong_random, built in since 13), hashed to 24 hex digits.
RANDOM_SECRET = {
    "sqlite": "lower(hex(randomblob(12)))",
    "postgresql": "substr(md5(gen_random_uuid()::text), 1, 24)",
}


def _rebuild(autoincrement: bool, alter: dict[str, list[tuple[str, bool]]]) -> None:
    """SQLite decides AUTOINCREMENT at CREATE TABLE: copy each table into a new one.
    migrations/env.py turns foreign keys off first, so dropping the old table cascades
    to nothing."""
    for table in NO_ID_REUSE:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ) as batch_op:
            for column, nullable in alter.get(table, []):
                batch_op.alter_column(column, existing_type=sa.String(length=32), nullable=nullable)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("subscription", sa.Column("link_secret", sa.String(length=32), nullable=True))
    op.add_column(
        "subscription",
        sa.Column("legacy_links_until", mailer.db.UTCDateTime(), nullable=True),
    )
    until = datetime.now(UTC) + LEGACY_LINK_WINDOW
    op.execute(
        sa.text(
            f"UPDATE subscription SET link_secret = {RANDOM_SECRET[dialect]}, "
            "legacy_links_until = :until"
        ).bindparams(sa.bindparam("until", until, type_=mailer.db.UTCDateTime()))
    )
    if dialect == "sqlite":
        _rebuild(True, {"subscription": [("link_secret", False)]})
    else:
        # PostgreSQL's sequences never hand out an id twice: nothing to rebuild.
        op.alter_column(
            "subscription", "link_secret", existing_type=sa.String(length=32), nullable=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(False, {})
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("legacy_links_until")
        batch_op.drop_column("link_secret")
