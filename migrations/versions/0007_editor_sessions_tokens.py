"""editor session epoch and disabling, API token expiry

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("editor", schema=None) as batch_op:
        # Part of every session's stamp: raising it ends all of the editor's sessions.
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("disabled_at", mailer.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", mailer.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_api_token_editor_id", ["editor_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index("ix_api_token_editor_id")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("editor", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("session_epoch")
