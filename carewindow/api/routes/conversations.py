"""``/v1/conversations``: contacts with their windows, newest activity first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.present import window_public
from carewindow.storage import contacts as contact_store
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1", tags=["conversations"])


@router.get("/conversations", response_model=schemas.ConversationList)
def list_conversations(
    rt: RuntimeDep,
    principal: PrincipalDep,
    state: Literal["open", "closed"] | None = None,
    expiring_within: Annotated[int | None, Query(ge=0, le=7 * 86400, description="seconds")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> schemas.ConversationList:
    require(principal, READ_CONVERSATIONS, "read conversations")
    now = rt.now()
    numbers = sorted(principal.phone_number_ids) if principal.phone_number_ids is not None else None
    with connect(rt.engine) as conn:
        rows = contact_store.list_conversations(
            conn,
            phone_number_ids=numbers,
            state=state,
            now=now,
            expiring_within=expiring_within,
            limit=limit,
            offset=offset,
        )
    data = [
        schemas.ConversationPublic(
            wa_id=r.wa_id,
            phone_number_id=r.phone_number_id,
            profile_name=r.profile_name,
            last_preview=r.last_preview,
            last_activity_at=r.last_activity_at,
            unread_count=r.unread_count,
            open_ticket_id=r.open_ticket_id,
            window=window_public(r, wa_id=r.wa_id, now=now, policy=rt.policy),
        )
        for r in rows
    ]
    return schemas.ConversationList(data=data, next_offset=offset + limit if len(data) == limit else None)
