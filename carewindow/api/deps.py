"""FastAPI dependencies: the runtime and the calling key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from carewindow.api.auth import Principal, authenticate
from carewindow.api.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop per
    # request for an attribute read (docs/performance.md).
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_principal(rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return await authenticate(rt.keys, authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
