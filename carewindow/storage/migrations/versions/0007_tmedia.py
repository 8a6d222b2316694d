"""tmedia: a template's media header format (IMAGE, VIDEO, DOCUMENT; None for text or no header)

Revision ID: 0007_tmedia
Revises: 0006_consent
Create Date: 2026-12-02 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_tmedia"
down_revision: str | None = "0006_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("templates") as batch_op:
        batch_op.add_column(sa.Column("header_format", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("templates") as batch_op:
        batch_op.drop_column("header_format")
