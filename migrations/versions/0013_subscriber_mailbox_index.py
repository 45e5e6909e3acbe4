"""readers by mailbox (the address without its +tag), on PostgreSQL: the hourly
confirmation limit's look-up, an index scan instead of reading every reader

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As mailer.subscribers.models.mailbox_sql renders it (the index must match the query).
MAILBOX = r"regexp_replace(email, '^([^+@]+)\+[^@]*@', '\1@')"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no regexp_replace: its look-up stays a scan
    op.create_index("ix_subscriber_mailbox", "subscriber", [sa.text(MAILBOX)], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_subscriber_mailbox", table_name="subscriber")
