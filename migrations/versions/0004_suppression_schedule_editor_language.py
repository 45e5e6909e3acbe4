"""suppression list, scheduled sends, hidden articles, editor language

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", mailer.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_hash"),
    )
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_at", mailer.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("editor", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="nb")
        )


def downgrade() -> None:
    with op.batch_alter_table("editor", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_column("scheduled_at")
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_column("hidden")
    op.drop_table("suppression")
