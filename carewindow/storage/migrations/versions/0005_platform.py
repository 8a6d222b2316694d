"""platform: template statuses as Meta's text, flag/quality/category columns, user-id lookups, echoes

Revision ID: 0005_platform
Revises: 0004_gateway
Create Date: 2026-12-02 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carewindow.storage.tables

revision: str = "0005_platform"
down_revision: str | None = "0004_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("templates") as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=16), type_=sa.String(length=64), existing_nullable=False
        )
        batch_op.add_column(
            sa.Column("disable_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("quality", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("previous_category", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("category_changed_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("impending_category", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("impending_category_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=True))
    op.create_index("ix_contacts_user_id", "contacts", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_user_id", table_name="contacts")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("origin")
    with op.batch_alter_table("templates") as batch_op:
        for name in (
            "impending_category_at",
            "impending_category",
            "category_changed_at",
            "previous_category",
            "quality",
            "disable_at",
        ):
            batch_op.drop_column(name)
        batch_op.alter_column(
            "status", existing_type=sa.String(length=64), type_=sa.String(length=16), existing_nullable=False
        )
