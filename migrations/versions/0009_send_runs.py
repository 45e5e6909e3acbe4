"""send runs: each batch's owner and lease; the run that claimed a delivery

Revision ID: 0009
Revises: 0007 (the lead rechains it after 0008)
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_run",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=32), nullable=False),
        sa.Column("delivery_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", mailer.db.UTCDateTime(), nullable=False),
        sa.Column("lease_expires_at", mailer.db.UTCDateTime(), nullable=False),
        sa.Column("stopped_seen_at", mailer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite copies the table to drop a column: keep it AUTOINCREMENT (0005).
    with op.batch_alter_table(
        "delivery", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("run_id")
    op.drop_table("send_run")
