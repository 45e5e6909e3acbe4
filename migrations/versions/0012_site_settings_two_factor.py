"""stored site settings; editors' two-factor login (TOTP secret, recovery codes)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailer.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", mailer.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("editor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", mailer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "editor_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("editor_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=200), nullable=False),
        sa.Column("used_at", mailer.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["editor_id"], ["editor.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_editor_recovery_code_editor_id", "editor_recovery_code", ["editor_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_editor_recovery_code_editor_id", table_name="editor_recovery_code")
    op.drop_table("editor_recovery_code")
    with op.batch_alter_table("editor", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
    op.drop_table("site_setting")
