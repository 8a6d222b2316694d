"""Retention: the housekeeper's pruning rounds (docs/rules.md, "Retention").

Every kind is pruned in its own short transaction of at most ``batch`` rows, so a round never holds a
lock the webhook or send paths wait on for long; a backlog drains over several rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from carewindow.settings import Settings
from carewindow.storage import retention as retention_store
from carewindow.storage.engine import Connection, Engine, write_tx

#: The kinds pruned, in order, with the storage function that prunes one batch of each.
KINDS: dict[str, Callable[..., int]] = {
    "webhook_raw": retention_store.prune_webhook_raw,
    "message_bodies": retention_store.prune_message_bodies,
    "orphan_statuses": retention_store.prune_orphan_statuses,
    "webhook_deliveries": retention_store.prune_deliveries,
    "idempotency_keys": retention_store.prune_idempotency_keys,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How long each kind is kept (None: forever) and the batch size."""

    webhook_raw: timedelta | None = timedelta(days=30)
    message_bodies: timedelta | None = None  # kept unless the business sets a period
    orphan_statuses: timedelta | None = timedelta(days=7)
    webhook_deliveries: timedelta | None = timedelta(days=30)
    idempotency_keys: timedelta | None = timedelta(days=7)
    batch: int = 500
    #: How often the housekeeper runs a round.
    every: timedelta = timedelta(minutes=1)

    @classmethod
    def from_settings(cls, s: Settings) -> Retention:
        def days(n: int) -> timedelta | None:
            return timedelta(days=n) if n > 0 else None

        return cls(
            webhook_raw=days(s.retention_webhook_raw_days),
            message_bodies=days(s.retention_message_body_days),
            orphan_statuses=days(s.retention_orphan_status_days),
            webhook_deliveries=days(s.retention_delivery_log_days),
            idempotency_keys=days(s.retention_idempotency_key_days),
            batch=s.retention_batch_size,
        )

    def keep(self, kind: str) -> timedelta | None:
        value: timedelta | None = getattr(self, kind)
        return value


def do_prune(engine: Engine, retention: Retention, *, now: datetime) -> dict[str, int]:
    """One round: at most one batch of each kind past its retention; rows pruned, by kind."""
    pruned: dict[str, int] = {}
    for kind, prune in KINDS.items():
        keep = retention.keep(kind)
        if keep is None:
            continue
        with write_tx(engine) as conn:
            pruned[kind] = _one(conn, prune, before=now - keep, limit=retention.batch)
    return pruned


def _one(conn: Connection, prune: Callable[..., int], *, before: datetime, limit: int) -> int:
    return prune(conn, before=before, limit=limit)
