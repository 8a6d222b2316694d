"""``/v1/subscriptions``: outgoing webhooks to the business's systems (signed, retried for 24 h)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Response

from carewindow.actions import fanout, outgoing
from carewindow.actions.errors import NotFound
from carewindow.actions.subscriptions import (
    do_create_subscription,
    do_delete_subscription,
    do_resume_subscription,
    visible,
)
from carewindow.api import schemas
from carewindow.api.auth import SUBSCRIPTIONS, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.graph.handshake import verify_receiver
from carewindow.storage import subscriptions as subscription_store
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])


def _public(row: Any) -> schemas.SubscriptionPublic:
    return schemas.SubscriptionPublic(
        id=row.public_id,
        url=row.url,
        events=list(row.events),
        phone_number_ids=row.phone_number_ids.split(",") if row.phone_number_ids else None,
        created_at=row.created_at,
        paused_at=row.paused_at,
    )


@router.post("", status_code=201, response_model=schemas.SubscriptionPublic)
async def create_subscription(
    body: schemas.SubscriptionCreate, rt: RuntimeDep, principal: PrincipalDep
) -> schemas.SubscriptionPublic:
    """Subscribe a URL to events; each delivery is signed with ``X-Carewindow-Signature: sha256=…``."""
    require(principal, SUBSCRIPTIONS, "manage subscriptions")
    numbers = body.phone_number_ids
    if principal.phone_number_ids is not None:
        numbers = numbers or sorted(principal.phone_number_ids)
        if not set(numbers) <= principal.phone_number_ids:
            raise ApiError(
                403, "forbidden", "This key may not subscribe to events of other business numbers."
            )
    events: list[str] = list(body.events)
    if body.fields or body.verify:  # the fan-out's options (docs/gateway.md)
        if fanout.EVENT not in events:
            raise ApiError(422, "validation_error", "fields and verify apply to whatsapp.webhook only.")
        events += [fanout.FIELD_PREFIX + f for f in body.fields or ()]
        if body.verify:
            await verify_receiver(body.url, body.secret)
    row = await anyio.to_thread.run_sync(
        lambda: do_create_subscription(
            rt.engine,
            url=body.url,
            events=events,
            secret=body.secret,
            phone_number_ids=numbers,
            now=rt.now(),
        )
    )
    return _public(row)


@router.get("", response_model=list[schemas.SubscriptionPublic])
def list_subscriptions(rt: RuntimeDep, principal: PrincipalDep) -> list[schemas.SubscriptionPublic]:
    require(principal, SUBSCRIPTIONS, "read subscriptions")
    with connect(rt.engine) as conn:
        return [_public(r) for r in subscription_store.active(conn) if visible(r, principal.phone_number_ids)]


@router.get("/{subscription_id}/deliveries")
def list_deliveries(
    subscription_id: str,
    rt: RuntimeDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The delivery log, newest first: status, attempts, the receiver's last answer."""
    require(principal, SUBSCRIPTIONS, "read subscriptions")
    with connect(rt.engine) as conn:
        row = subscription_store.get(conn, subscription_id)
        if row is None or not visible(row, principal.phone_number_ids):
            raise NotFound(f"No subscription {subscription_id!r}.", id=subscription_id)
        rows = subscription_store.log(conn, row.id, limit=limit)
    return {"subscription": subscription_id, "data": outgoing.deliveries_public(rows)}


@router.post("/{subscription_id}/resume", response_model=schemas.SubscriptionPublic)
def resume_subscription(
    subscription_id: str, rt: RuntimeDep, principal: PrincipalDep
) -> schemas.SubscriptionPublic:
    """Deliver again to a subscription paused after repeated 4xx answers (docs/gateway.md)."""
    require(principal, SUBSCRIPTIONS, "manage subscriptions")
    row = do_resume_subscription(rt.engine, subscription_id, phone_number_ids=principal.phone_number_ids)
    return _public(row)


@router.delete("/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: str, rt: RuntimeDep, principal: PrincipalDep) -> Response:
    require(principal, SUBSCRIPTIONS, "manage subscriptions")
    do_delete_subscription(
        rt.engine, subscription_id, now=rt.now(), phone_number_ids=principal.phone_number_ids
    )
    return Response(status_code=204)
