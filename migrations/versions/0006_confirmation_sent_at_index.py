"""index on subscription.confirmation_sent_at (one confirmation an hour per mailbox)

The hourly limit is computed over the last hour's confirmation mails (a small range of
this index) rather than stored as a mailbox column: no backfill, nothing to keep in step.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscription_confirmation_sent_at"),
            ["confirmation_sent_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_confirmation_sent_at"))
