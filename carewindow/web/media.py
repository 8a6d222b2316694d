"""``/inbox/media/{id}``: a media file for a signed-in agent (the session cookie is scoped to
``/inbox``; API clients use ``/v1/media/{id}/content``). Same answer and inert headers as the API's:
``actions.media.serve_media``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Header, Request, Response, UploadFile

from carewindow.actions import media as media_actions
from carewindow.actions.errors import REFUSAL_STATUS, ActionError
from carewindow.actions.send import SendCommand
from carewindow.providers.base import MediaProvider
from carewindow.storage import media as media_store
from carewindow.storage.engine import Connection
from carewindow.wire.media import MAX_BYTES


def inbox_media_url(media_id: str) -> str:
    return f"/inbox/media/{media_id}"


def media_router(inbox: Any) -> APIRouter:
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    rt = inbox.rt

    @router.get("/media/{media_id}")
    async def media_file(
        request: Request, media_id: str, range: Annotated[str | None, Header()] = None
    ) -> Response:
        _, agent = await anyio.to_thread.run_sync(inbox.signed_in, request)

        def serve() -> media_actions.ServedMedia:
            record = media_actions.media_info(rt.engine, media_id)
            numbers = agent.phone_number_ids
            if numbers is not None and media_actions.media_number(rt.engine, record) not in numbers:
                raise media_actions.MediaError(404, "media_not_found", f"No media {media_id!r}.")
            return media_actions.serve_media(rt.engine, rt.media_store, record.id, range_header=range)

        try:
            served = await anyio.to_thread.run_sync(serve)
        except media_actions.MediaError as exc:
            return Response(
                exc.message + "\n",
                status_code=exc.status,
                media_type="text/plain",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        return Response(served.body, status_code=served.status, headers=served.headers)

    @router.post("/c/{phone_number_id}/{wa_id}/attach")
    async def attach(
        request: Request,
        phone_number_id: str,
        wa_id: str,
        file: Annotated[UploadFile, File()],
        csrf_token: Annotated[str, Form(max_length=4096)] = "",
        caption: Annotated[str, Form(max_length=1024)] = "",
        idem: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """The composer's file: kept, uploaded to Meta, sent by id (inside the window only, as any
        session message: the send is decided by the same planner as text)."""
        session, agent = await anyio.to_thread.run_sync(inbox.check_post, request, csrf_token)
        if not agent.may_use(phone_number_id):
            forbidden: Response = inbox.render(
                "forbidden.html", {"agent": agent}, status=403, session=session
            )
            return forbidden
        provider: object = rt.provider
        try:
            data = await file.read(max(MAX_BYTES.values()) + 1)
            record = await media_actions.upload_media(
                rt.engine,
                rt.media_store,
                provider if isinstance(provider, MediaProvider) else None,
                data=data,
                mime_type=file.content_type or "application/octet-stream",
                filename=file.filename or "file",
                now=rt.now(),
            )
            if record.meta_media_id is None:
                raise media_actions.MediaError(502, "provider_error", "The provider took no file.")
            content: dict[str, Any] = {"id": record.meta_media_id}
            if caption.strip() and record.kind in ("image", "video", "document"):
                content["caption"] = caption.strip()
            if record.kind == "document" and record.filename:
                content["filename"] = record.filename
            cmd = SendCommand(
                to=wa_id,
                message_type=record.kind,
                content=content,
                idempotency_key=f"inbox-file:{idem}" if idem else None,
            )
            outcome = await anyio.to_thread.run_sync(
                lambda: inbox.queue(cmd, phone_number_id=phone_number_id, now=rt.now())
            )
        except (media_actions.MediaError, ActionError) as exc:
            status = REFUSAL_STATUS.get(
                exc.code, getattr(exc, "http_status", None) or getattr(exc, "status", 422)
            )
            render = partial(
                inbox.page,
                session,
                agent,
                phone_number_id=phone_number_id,
                wa_id=wa_id,
                error=exc,
                status=status,
            )
            page: Response = await anyio.to_thread.run_sync(render)
            return page
        back: Response = inbox.queued(outcome, phone_number_id=phone_number_id, wa_id=wa_id)
        return back

    return router


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaView:
    """What a bubble shows of its file: ``show`` is ``image``, ``audio``, ``video``, ``file``,
    ``pending`` ("downloading…") or ``unavailable`` (with the reason)."""

    show: str
    url: str
    filename: str
    size_label: str
    mime_type: str
    reason: str


def size_label(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def media_view(row: Any) -> MediaView:
    status, kind = row.status, row.kind
    if status == "pending":
        show = "pending"
    elif status != "ready":
        show = "unavailable"
    elif kind in ("image", "sticker"):
        show = "image"
    elif kind in ("audio", "video"):
        show = kind
    else:
        show = "file"
    return MediaView(
        show=show,
        url=inbox_media_url(row.id),
        filename=row.filename or f"{kind} ({row.mime_type or 'file'})",
        size_label=size_label(row.size),
        mime_type=row.mime_type or "",
        reason=row.reason or status,
    )


def thread_media(conn: Connection, thread: Sequence[Any]) -> dict[str, MediaView]:
    """The file of each media message in ``thread`` by message id (``storage.media.for_thread``)."""
    return {k: media_view(v) for k, v in media_store.for_thread(conn, thread).items()}
