"""gateway: fan-out ordering key, paused subscriptions

Revision ID: 0004_gateway
Revises: 0003_media

The webhook fan-out (docs/gateway.md): ``webhook_deliveries.order_key`` (the contacts a raw webhook is
about; a delivery waits while an earlier one with the same key is pending for the same subscription)
and ``subscriptions.paused_at`` / ``client_errors`` (a receiver that answers 4xx repeatedly is paused).
Nullable or defaulted: existing rows stay valid.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carewindow.storage.tables

revision: str = "0004_gateway"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("order_key", sa.String(length=200), nullable=True))
        batch.create_index("ix_webhook_deliveries_order", ["subscription_id", "order_key", "id"])
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("paused_at", carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("client_errors", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("client_errors")
        batch.drop_column("paused_at")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_order")
        batch.drop_column("order_key")
