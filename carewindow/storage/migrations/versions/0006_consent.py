"""consent: both times and the outcome of every consent event, marketing preference, erasure tombstone, orphan
status arrival time (retention)

Revision ID: 0006_consent
Revises: 0005_platform
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carewindow.storage.tables

revision: str = "0006_consent"
down_revision: str | None = "0005_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marketing_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("marketing_source", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("marketing_updated_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("erased_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("applied", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.create_index("ix_consent_events_recorded_at", ["recorded_at", "id"], unique=False)
    with op.batch_alter_table("orphan_statuses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "received_at",
                carewindow.storage.tables.UTCDateTime(timezone=True),
                server_default=sa.func.now(),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("orphan_statuses", schema=None) as batch_op:
        batch_op.drop_column("received_at")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_recorded_at")
        batch_op.drop_column("reason")
        batch_op.drop_column("applied")
        batch_op.drop_column("scope")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("marketing_updated_at")
        batch_op.drop_column("marketing_source")
        batch_op.drop_column("marketing_status")
