"""Outgoing webhook subscriptions (docs/subsystems/outgoing-webhooks.md): create and delete them, and
the housekeeper's two transactions around a round of deliveries (lease the due ones, then record every
receiver's answer). Turning events into delivery rows happens in ``actions.outgoing``, inside the
transaction that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions import fanout, outgoing
from carewindow.actions.errors import NotFound
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import Engine, Row, write_tx
from carewindow.storage.ids import new_id


def visible(row: Any, phone_number_ids: frozenset[str] | None) -> bool:
    """Whether a key limited to ``phone_number_ids`` (None: every number) may see subscription ``row``:
    a subscription to every number, or to numbers outside the key's, belongs to a wider key."""
    if phone_number_ids is None:
        return True
    numbers = set(row.phone_number_ids.split(",")) if row.phone_number_ids else None
    return numbers is not None and numbers <= phone_number_ids


def do_create_subscription(
    engine: Engine,
    *,
    url: str,
    events: Sequence[str],
    secret: str,
    phone_number_ids: Sequence[str] | None,
    now: datetime,
) -> Row[Any]:
    """Subscribe ``url`` to ``events`` (of ``phone_number_ids``, None: every number); returns its row."""
    public_id = new_id("sub")
    with write_tx(engine) as conn:
        subscription_store.create(
            conn,
            {
                "public_id": public_id,
                "url": url,
                "events": sorted(set(events)),
                "secret": secret,
                "phone_number_ids": ",".join(phone_number_ids) if phone_number_ids else None,
                "created_at": now,
            },
        )
        row = subscription_store.get(conn, public_id)
    outgoing.invalidate_cache()
    assert row is not None
    return row


def do_resume_subscription(
    engine: Engine, public_id: str, *, phone_number_ids: frozenset[str] | None
) -> Row[Any]:
    """Resume a paused subscription (its waiting deliveries go out again); NotFound when not visible."""
    with write_tx(engine) as conn:
        row = subscription_store.get(conn, public_id)
        if row is None or not visible(row, phone_number_ids):
            raise NotFound(f"No subscription {public_id!r}.", id=public_id)
        subscription_store.resume(conn, public_id)
        row = subscription_store.get(conn, public_id)
    assert row is not None
    return row


def do_delete_subscription(
    engine: Engine, public_id: str, *, now: datetime, phone_number_ids: frozenset[str] | None
) -> None:
    """Delete a subscription a key limited to ``phone_number_ids`` may see (NotFound otherwise)."""
    with write_tx(engine) as conn:
        row = subscription_store.get(conn, public_id)
        if row is None or not visible(row, phone_number_ids):
            raise NotFound(f"No subscription {public_id!r}.", id=public_id)
        subscription_store.delete(conn, public_id, now)
    outgoing.invalidate_cache()


@dataclass(frozen=True, slots=True)
class DeliveryAnswer:
    """What a receiver answered to one delivery (``status_code`` None: no answer came)."""

    ok: bool
    status_code: int | None
    error: str | None


def do_claim_deliveries(engine: Engine, *, now: datetime, lease: timedelta, limit: int) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due deliveries for ``lease``, each with its subscription's URL and secret."""
    with write_tx(engine) as conn:
        return subscription_store.claim_due(conn, now=now, lease=lease, limit=limit)


def do_settle_deliveries(
    engine: Engine, answered: Sequence[tuple[Any, DeliveryAnswer]], *, now: datetime
) -> list[str]:
    """Record each claimed delivery's answer: delivered, due again later, or failed for good. A fan-out
    receiver's 4xx answers are counted (``fanout.PAUSE_AFTER`` in a row pause it); returns the public
    ids of the subscriptions paused now."""
    fanout_answers: dict[int, bool] = {}
    for d, answer in answered:
        if d.event_type == fanout.EVENT:
            code = answer.status_code
            fanout_answers[d.subscription_id] = code is not None and 400 <= code < 500
    with write_tx(engine) as conn:
        paused = (
            subscription_store.count_client_errors(
                conn, fanout_answers, now=now, pause_after=fanout.PAUSE_AFTER
            )
            if fanout_answers
            else []
        )
        for d, answer in answered:
            subscription_store.settle(
                conn,
                d.id,
                outgoing.settle_values(
                    ok=answer.ok,
                    attempts=d.attempts,
                    status_code=answer.status_code,
                    error=answer.error,
                    now=now,
                    give_up_at=d.give_up_at,
                ),
            )
    return paused
