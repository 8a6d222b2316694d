"""``/v1/templates``: the catalog. Creating submits to the provider (the sandbox approves at once)."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
from fastapi import APIRouter, Response

from carewindow.actions import templates as template_actions
from carewindow.actions.errors import NotFound
from carewindow.actions.platform_changes import template_alert
from carewindow.actions.template_edits import do_remove_template, do_update_template
from carewindow.api import schemas
from carewindow.api.auth import ADMIN, READ_CONVERSATIONS, SEND, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import provider_failure
from carewindow.policy import TemplateStatus, parse_placeholders
from carewindow.providers.base import ProviderError
from carewindow.storage import templates as template_store
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1/templates", tags=["templates"])


def _public(row: Any) -> schemas.TemplatePublic:
    try:
        fmt, names = parse_placeholders(row.body)
    except Exception:  # a provider-side template we cannot parse is still listed
        fmt, names = None, ()
    return schemas.TemplatePublic(
        name=row.name,
        language=row.language,
        category=row.category,
        status=row.status,
        body=row.body,
        header=row.header,
        header_format=row.header_format,
        footer=row.footer,
        buttons=list(row.buttons or []),
        parameter_format=fmt.value if fmt else None,
        placeholders=list(names),
        reason=row.reason,
        updated_at=row.updated_at,
        disable_at=row.disable_at,
        quality=row.quality,
        previous_category=row.previous_category,
        category_changed_at=row.category_changed_at,
        impending_category=row.impending_category,
        impending_category_at=row.impending_category_at,
        alert=template_alert(row),
    )


@router.get("", response_model=list[schemas.TemplatePublic])
def list_templates(rt: RuntimeDep, principal: PrincipalDep) -> list[schemas.TemplatePublic]:
    require(principal, READ_CONVERSATIONS | SEND, "read templates")
    with connect(rt.engine) as conn:
        return [_public(r) for r in template_store.list_all(conn)]


@router.post("", status_code=201, response_model=schemas.TemplatePublic)
async def create_template(
    body: schemas.TemplateCreate, rt: RuntimeDep, principal: PrincipalDep
) -> schemas.TemplatePublic:
    """Validate, submit to the provider, and store with the status the provider answered."""
    require(principal, ADMIN, "create templates")
    t = template_actions.check_template(
        name=body.name,
        language=body.language,
        category=body.category,
        body=body.body,
        header=body.header,
        footer=body.footer,
        buttons=[b.model_dump() for b in body.buttons],
        header_format=body.header_format,
    )
    assert rt.provider is not None
    try:
        answer = await rt.provider.create_template(template_actions.graph_definition(t, body.examples))
    except ProviderError as exc:
        raise provider_failure(exc, "create the template") from None
    status = str(answer.get("status", "PENDING")).upper()
    t_status = TemplateStatus.parse(status)
    if t_status is TemplateStatus.UNKNOWN:
        t_status = TemplateStatus.PENDING
    values = template_actions.row_values(
        dataclasses.replace(t, status=t_status), provider_id=str(answer.get("id") or "") or None, now=rt.now()
    )
    await anyio.to_thread.run_sync(lambda: template_actions.do_store_template(rt.engine, values))
    return get_template(body.name, body.language, rt, principal)


@router.post("/sync")
async def sync_templates(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, int]:
    """Pull the provider's catalog into the local one."""
    require(principal, ADMIN, "sync templates")
    assert rt.provider is not None
    try:
        items = await rt.provider.list_templates()
    except ProviderError as exc:
        raise provider_failure(exc, "list the templates") from None
    n = await anyio.to_thread.run_sync(lambda: template_actions.do_sync(rt.engine, items, now=rt.now()))
    return {"synced": n}


@router.get("/{name}/{language}", response_model=schemas.TemplatePublic)
def get_template(name: str, language: str, rt: RuntimeDep, principal: PrincipalDep) -> schemas.TemplatePublic:
    require(principal, READ_CONVERSATIONS | SEND, "read templates")
    with connect(rt.engine) as conn:
        row = template_store.get(conn, name, language)
    if row is None:
        raise NotFound(f"No template {name!r} in language {language!r}.", name=name, language=language)
    return _public(row)


@router.put("/{name}/{language}", response_model=schemas.TemplatePublic)
def update_template(
    name: str, language: str, body: schemas.TemplateUpdate, rt: RuntimeDep, principal: PrincipalDep
) -> schemas.TemplatePublic:
    """Edit the local catalog entry (e.g. mirror a status change made in Meta's manager)."""
    require(principal, ADMIN, "edit templates")
    do_update_template(
        rt.engine,
        name,
        language,
        category=body.category,
        status=body.status,
        body=body.body,
        header=body.header,
        footer=body.footer,
        now=rt.now(),
    )
    return get_template(name, language, rt, principal)


@router.delete("/{name}/{language}", status_code=204)
async def delete_template(name: str, language: str, rt: RuntimeDep, principal: PrincipalDep) -> Response:
    require(principal, ADMIN, "delete templates")
    await anyio.to_thread.run_sync(do_remove_template, rt.engine, name, language)
    assert rt.provider is not None
    try:
        await rt.provider.delete_template(name)
    except ProviderError:
        pass  # already gone at the provider, or another language still uses the name there
    return Response(status_code=204)
