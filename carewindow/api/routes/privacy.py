"""Privacy: the consent log for auditors (``GET /v1/consent/events``) and erasure of a contact
(``DELETE /v1/contacts/{wa_id}``), both admin only (docs/rules.md, "Consent" and "Erasure")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from carewindow.actions.erasure import do_erase_contact
from carewindow.api.auth import ADMIN, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.routes.contacts import NumberQuery
from carewindow.api.schemas import normalise_wa_id
from carewindow.storage import consent_log
from carewindow.storage.engine import connect

router = APIRouter(tags=["privacy"])


def _wa_id(value: str) -> str:
    if value.startswith("erased:"):
        return value  # a tombstone, as the export lists it
    try:
        return normalise_wa_id(value)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", f"wa_id: {exc}", fields=[{"loc": ["wa_id"], "msg": str(exc)}]
        ) from None


def _number(rt: Any, principal: Any, phone_number_id: str | None) -> str:
    number: str = phone_number_id or rt.phone_number_id
    if not principal.may_use(number):
        raise ApiError(403, "forbidden", f"This key may not use business number {number}.")
    return number


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(
            422,
            "validation_error",
            f"{name}: give a timezone (e.g. 2026-11-25T10:00:00Z).",
            fields=[{"loc": [name], "msg": "timezone required"}],
        )
    return value


@router.get("/v1/consent/events")
def consent_events(
    rt: RuntimeDep,
    principal: PrincipalDep,
    since: Annotated[datetime | None, Query(description="received at or after (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="received before (exclusive)")] = None,
    wa_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="the next_after of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every consent change (opt-ins, opt-outs, marketing stop / resume), applied or superseded, oldest
    first: contact, status, scope, source, proof, both times (``at``: by its own clock;
    ``recorded_at``: received), whether it applied and why. Pages: pass ``next_after`` as ``after``."""
    require(principal, ADMIN, "export the consent log")
    since, until = _aware("since", since), _aware("until", until)
    numbers = None if principal.phone_number_ids is None else sorted(principal.phone_number_ids)
    with connect(rt.engine) as conn:
        rows = consent_log.page(
            conn,
            since=since,
            until=until,
            wa_id=_wa_id(wa_id) if wa_id else None,
            phone_number_ids=numbers,
            after_id=after,
            limit=limit,
        )
    data = [consent_log.public(r) for r in rows]
    return {"data": data, "next_after": data[-1]["id"] if len(data) == limit else None}


@router.delete("/v1/contacts/{wa_id}")
def erase_contact(
    wa_id: str, rt: RuntimeDep, principal: PrincipalDep, phone_number_id: NumberQuery = None
) -> dict[str, Any]:
    """Erase what identifies the customer: message texts and bodies, profile name, raw webhook and
    outgoing-webhook bodies naming them, consent proofs; the cost ledger keeps its amounts and a
    tombstone says when the contact was erased. A later message from the number starts a new contact."""
    require(principal, ADMIN, "erase contacts")
    wa_id = _wa_id(wa_id)
    number = _number(rt, principal, phone_number_id)
    now = rt.now()
    counts = do_erase_contact(rt.engine, phone_number_id=number, wa_id=wa_id, now=now, store=rt.media_store)
    return {"erased": True, "erased_at": now.isoformat(), "rows": counts}
