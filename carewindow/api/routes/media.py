"""``/v1/media``: uploads for outbound messages, media metadata, and the bytes themselves.

``GET /v1/media/{id}/content`` is the ``url`` of a message's ``media``: served with an API key or
an inbox session, as an attachment unless the type is one a browser shows inertly (images, audio,
video), always with ``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox``
(an SVG or HTML file cannot run script in carewindow's origin), and with byte ranges (audio and video
players seek with them). docs/subsystems/media.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Header, Response, UploadFile

from carewindow.actions import media as media_actions
from carewindow.actions.keys import Principal
from carewindow.api.auth import READ_CONVERSATIONS, SEND, authenticate, require
from carewindow.api.deps import PrincipalDep, RuntimeDep
from carewindow.api.errors import ApiError
from carewindow.api.runtime import Runtime
from carewindow.providers.base import MediaProvider
from carewindow.storage import media as media_store
from carewindow.storage.engine import Connection
from carewindow.wire.media import MAX_BYTES

router = APIRouter(prefix="/v1/media", tags=["media"])

UPLOAD_MAX = max(MAX_BYTES.values())


def content_url(media_id: str) -> str:
    return f"/v1/media/{media_id}/content"


def media_json(record: media_actions.MediaRecord) -> dict[str, Any]:
    """The public ``media`` object (of a message, of an upload)."""
    return dict(media_actions.record_json(record, url=content_url(record.id)))


def media_by_message(conn: Connection, thread: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The public ``media`` of each message of ``thread`` that has a file (two queries at most)."""
    rows = media_store.for_thread(conn, thread)
    return {k: media_json(media_actions.MediaRecord.of(r)) for k, r in rows.items()}


def _failure(exc: media_actions.MediaError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def media_provider(rt: Runtime) -> MediaProvider | None:
    provider: object = rt.provider
    return provider if isinstance(provider, MediaProvider) else None


@router.post("", status_code=201, summary="Upload a file for outbound messages (multipart, one file)")
async def upload(
    rt: RuntimeDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="the file")],
    type: Annotated[
        str | None, Form(description="image|audio|video|document|sticker (default: from the file)")
    ] = None,
) -> dict[str, Any]:
    """Keeps the file and uploads it to Meta's ``/{phone_number_id}/media``. The answer's ``id`` is
    Meta's media id: send it as ``{"document": {"id": …, "filename": …}}`` (or image, audio, video,
    sticker) in ``POST /v1/messages``."""
    require(principal, SEND, "upload media")
    data = await file.read(UPLOAD_MAX + 1)
    mime = file.content_type or "application/octet-stream"
    assert rt.media_store is not None
    try:
        record = await media_actions.upload_media(
            rt.engine,
            rt.media_store,
            media_provider(rt),
            data=data,
            mime_type=mime,
            filename=file.filename or "file",
            now=rt.clock(),
            kind=type or None,
        )
    except media_actions.MediaError as exc:
        raise _failure(exc) from None
    return {"id": record.meta_media_id or record.id, "media": media_json(record)}


async def _record(rt: Runtime, media_id: str, principal: Principal) -> media_actions.MediaRecord:
    require(principal, READ_CONVERSATIONS | SEND, "read media")
    try:
        record = await anyio.to_thread.run_sync(media_actions.media_info, rt.engine, media_id)
    except media_actions.MediaError as exc:
        raise _failure(exc) from None
    if principal.phone_number_ids is not None:
        number = await anyio.to_thread.run_sync(media_actions.media_number, rt.engine, record)
        if number is not None and not principal.may_use(number):
            raise ApiError(404, "media_not_found", f"No media {media_id!r}.")
    return record


@router.get("/{media_id}", summary="A media file's metadata")
async def info(
    rt: RuntimeDep, media_id: str, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    record = await _record(rt, media_id, await authenticate(rt.keys, authorization))
    return media_json(record)


@router.get("/{media_id}/content", summary="A media file's bytes (ranges supported)")
async def content(
    rt: RuntimeDep,
    media_id: str,
    authorization: Annotated[str | None, Header()] = None,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    """The bytes, with headers that keep them inert (``actions.media.serve_media``); the inbox serves
    the same at ``/inbox/media/{id}`` for a signed-in agent."""
    record = await _record(rt, media_id, await authenticate(rt.keys, authorization))
    store = rt.media_store
    assert store is not None
    try:
        served = await anyio.to_thread.run_sync(
            lambda: media_actions.serve_media(rt.engine, store, record.id, range_header=range)
        )
    except media_actions.MediaError as exc:
        raise _failure(exc) from None
    return Response(served.body, status_code=served.status, headers=served.headers)


@router.delete("/{media_id}", summary="Delete a stored file (and Meta's copy of an upload)")
async def delete(rt: RuntimeDep, principal: PrincipalDep, media_id: str) -> dict[str, Any]:
    require(principal, SEND, "delete media")
    await _record(rt, media_id, principal)
    assert rt.media_store is not None
    try:
        record = await media_actions.delete_media(rt.engine, rt.media_store, media_provider(rt), media_id)
    except media_actions.MediaError as exc:
        raise _failure(exc) from None
    return {"deleted": True, "id": record.id}
