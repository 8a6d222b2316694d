"""Webhook fan-out (docs/gateway.md): every Meta webhook body, as Meta sent it, to the subscriptions
with ``events: ["whatsapp.webhook"]``.

Meta lets an app have one callback URL; with carewindow behind it, every tool on the number (a
helpdesk, a bot) still receives Meta's webhooks, unmodified: the raw bytes, signed
``X-Hub-Signature-256: sha256=HMAC(subscription secret, body)`` by the housekeeper, so a receiver that
verifies Meta's signature (pywa, Chatwoot) verifies this one with the subscription's secret as its app
secret. The delivery rows are made by ``fanout_rows`` inside the ingest transaction that stores the
webhook, and inserted with the outgoing-webhook deliveries of the same batch (no statement of their
own); they share that delivery log, its lease and its backoff, retried for ``RETRY_FOR`` (as long as
Meta retries a webhook), in order per contact (``order_key``). A receiver that answers 4xx
``PAUSE_AFTER`` times in a row is paused (logged as a warning) until ``POST
/v1/subscriptions/{id}/resume``; its deliveries wait meanwhile, within their 7 days.

Filters, stored in the subscription's ``events`` list: ``whatsapp.webhook:<field>`` entries limit the
fan-out to those Graph change fields (``messages``, ``message_template_status_update``, ...); the
subscription's ``phone_number_ids`` limit it to webhooks about those numbers (a webhook about no number,
such as a template status, goes to every subscription).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions import outgoing
from carewindow.storage.engine import Connection
from carewindow.wire.webhook import WebhookBatch

EVENT = "whatsapp.webhook"
FIELD_PREFIX = EVENT + ":"
RETRY_FOR = timedelta(days=7)
PAUSE_AFTER = 5

__all__ = [
    "EVENT",
    "FIELD_PREFIX",
    "PAUSE_AFTER",
    "RETRY_FOR",
    "fanout_rows",
    "fields_of",
    "order_key",
    "wants",
]


def fields_of(batch: WebhookBatch) -> frozenset[str]:
    """The Graph change fields a webhook carried."""
    fields = {o.field for o in batch.other}
    if batch.messages or batch.statuses:
        fields.add("messages")
    if batch.template_updates:
        fields.add("message_template_status_update")
    return frozenset(fields)


def numbers_of(batch: WebhookBatch) -> frozenset[str]:
    return frozenset(m.phone_number_id for m in batch.messages) | frozenset(
        s.phone_number_id for s in batch.statuses
    )


def order_key(batch: WebhookBatch) -> str | None:
    """The contacts a webhook is about (None: none, e.g. a template status): a subscription receives
    the webhooks of one key in the order they arrived, each after the earlier one was settled."""
    contacts = {m.wa_id or m.user_id or "" for m in batch.messages} | {
        s.recipient_id or s.recipient_user_id or "" for s in batch.statuses
    }
    contacts.discard("")
    return ",".join(sorted(contacts))[:200] or None


def wants(sub: Any, fields: frozenset[str], numbers: frozenset[str]) -> bool:
    """Whether subscription ``sub`` (a row) receives a webhook of ``fields`` about ``numbers``."""
    events: Sequence[str] = sub.events
    if EVENT not in events:
        return False
    only = {e[len(FIELD_PREFIX) :] for e in events if e.startswith(FIELD_PREFIX)}
    if only and not (only & fields):
        return False
    if sub.phone_number_ids and numbers:
        return bool(numbers & set(sub.phone_number_ids.split(",")))
    return True


def fanout_rows(
    conn: Connection, webhooks: Iterable[tuple[bytes, WebhookBatch, datetime]]
) -> list[dict[str, Any]]:
    """One delivery row per (webhook, subscription that wants it), in arrival order."""
    subs = [s for s in outgoing.active_subscriptions(conn) if EVENT in s.events]
    if not subs:
        return []
    rows: list[dict[str, Any]] = []
    for body, batch, now in webhooks:
        fields, numbers = fields_of(batch), numbers_of(batch)
        wanted = [s for s in subs if wants(s, fields, numbers)]
        if not wanted:
            continue
        event_id = outgoing.new_event_id()
        key = order_key(batch)
        rows.extend(
            {
                "subscription_id": s.id,
                "event_id": event_id,
                "event_type": EVENT,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "give_up_at": now + RETRY_FOR,
                "created_at": now,
                "order_key": key,
            }
            for s in wanted
        )
    return rows
