"""``/v1/keys``: API key management (admin only). A key is shown in clear text once, at creation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from carewindow.actions.keys import do_create_key, do_revoke_key
from carewindow.api import schemas
from carewindow.api.auth import ADMIN, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.storage import api_keys as key_store
from carewindow.storage.engine import connect

router = APIRouter(prefix="/v1/keys", tags=["keys"])
# A database integer: larger ids cannot exist, and would overflow the driver (a 500 before this bound).
KeyId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _public(r: Any, key: str | None = None) -> schemas.KeyPublic:
    numbers = r.phone_number_ids.split(",") if r.phone_number_ids else None
    return schemas.KeyPublic(
        id=r.id,
        name=r.name,
        prefix=r.prefix,
        role=r.role,
        phone_number_ids=numbers,
        created_at=r.created_at,
        revoked_at=r.revoked_at,
        key=key,
    )


@router.post("", status_code=201, response_model=schemas.KeyPublic)
def create_key(body: schemas.KeyCreate, rt: RuntimeDep, principal: PrincipalDep) -> schemas.KeyPublic:
    require(principal, ADMIN, "create API keys")
    key, row = do_create_key(
        rt.engine, role=body.role, name=body.name, now=rt.now(), phone_number_ids=body.phone_number_ids
    )
    return _public(row, key)


@router.get("", response_model=list[schemas.KeyPublic])
def list_keys(rt: RuntimeDep, principal: PrincipalDep) -> list[schemas.KeyPublic]:
    require(principal, ADMIN, "list API keys")
    with connect(rt.engine) as conn:
        return [_public(r) for r in key_store.list_all(conn)]


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: KeyId, rt: RuntimeDep, principal: PrincipalDep) -> Response:
    """Revoke at once: keys are checked against the database on every request."""
    require(principal, ADMIN, "revoke API keys")
    do_revoke_key(rt.engine, key_id, now=rt.now())
    return Response(status_code=204)
