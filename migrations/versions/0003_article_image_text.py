"""article image text: alt text and "Foto:" caption

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:12:03.114522
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_caption", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("image_alt", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_column("image_alt")
        batch_op.drop_column("image_caption")
