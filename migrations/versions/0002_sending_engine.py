"""sending engine

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 08:45:51.881162
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", mailer.db.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", mailer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["editor_id"], ["editor.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", mailer.db.UTCDateTime(), nullable=True))

    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_for", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_issue_newsletter_scheduled_for", ["newsletter_id", "scheduled_for"]
        )


def downgrade() -> None:
    with op.batch_alter_table("issue", schema=None) as batch_op:
        batch_op.drop_constraint("uq_issue_newsletter_scheduled_for", type_="unique")
        batch_op.drop_column("pause_reason")
        batch_op.drop_column("scheduled_for")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")

    op.drop_table("api_token")
