"""The inbox's templates whose header is media (IMAGE, VIDEO, DOCUMENT): the picker's form carries the
header's file, which is uploaded through the upload use case (``actions.media.upload_media``, as the
composer's attachments are) and sent by id as the template's header parameter
(``{"type": "image", "image": {"id": ...}}``; docs/rules.md "Media headers")."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from carewindow.actions import media as media_actions
from carewindow.actions.errors import REFUSAL_STATUS, ActionError
from carewindow.actions.send import SendCommand
from carewindow.providers.base import MediaProvider
from carewindow.storage import templates as template_store
from carewindow.storage.engine import connect
from carewindow.web.routes import Inbox, SendForm, _params
from carewindow.wire.media import MAX_BYTES

__all__ = ["template_media_router"]


def template_media_router(inbox: Inbox) -> APIRouter:
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    rt = inbox.rt

    @router.post("/c/{phone_number_id}/{wa_id}/template-media")
    async def send_media_template(
        request: Request,
        phone_number_id: str,
        wa_id: str,
        file: Annotated[UploadFile, File()],
        csrf_token: Annotated[str, Form(max_length=4096)] = "",
        template: Annotated[str, Form(max_length=600)] = "",
        param: Annotated[list[str] | None, Form(max_length=1024)] = None,
        idem: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        session, agent = await anyio.to_thread.run_sync(inbox.check_post, request, csrf_token)
        if not agent.may_use(phone_number_id):
            forbidden: Response = inbox.render(
                "forbidden.html", {"agent": agent}, status=403, session=session
            )
            return forbidden
        form = SendForm(mode="template", body="", template=template, params=tuple(param or ()))
        name, _, language = template.partition("|")
        provider: object = rt.provider
        try:
            with connect(rt.engine) as conn:
                row = template_store.get(conn, name, language)
            ref = _params(row, form.params)
            kind = template_store.template_from_row(row).header_media if row is not None else None
            if ref is None or kind is None:
                raise media_actions.MediaError(
                    422, "validation_error", f"Template {name!r} ({language}) has no media header."
                )
            data = await file.read(max(MAX_BYTES.values()) + 1)
            record = await media_actions.upload_media(
                rt.engine,
                rt.media_store,
                provider if isinstance(provider, MediaProvider) else None,
                data=data,
                mime_type=file.content_type or "application/octet-stream",
                filename=file.filename or "file",
                now=rt.now(),
                kind=kind,
            )
            if record.meta_media_id is None:
                raise media_actions.MediaError(502, "provider_error", "The provider took no file.")
            media: dict[str, str] = {"id": record.meta_media_id}
            if kind == "document" and record.filename:
                media["filename"] = record.filename
            cmd = SendCommand(
                to=wa_id,
                message_type="template",
                template=dataclasses.replace(ref, header={"type": kind, kind: media}),
                idempotency_key=f"inbox:{idem}" if idem else None,
            )
            outcome = await anyio.to_thread.run_sync(
                lambda: inbox.queue(cmd, phone_number_id=phone_number_id, now=rt.now())
            )
        except (media_actions.MediaError, ActionError) as exc:
            fallback = exc.status if isinstance(exc, media_actions.MediaError) else exc.http_status
            status = REFUSAL_STATUS.get(exc.code) or fallback
            shown: Any = exc  # the page shows any error's code and message
            render = partial(
                inbox.page,
                session,
                agent,
                phone_number_id=phone_number_id,
                wa_id=wa_id,
                error=shown,
                form=form,
                status=status,
            )
            page: Response = await anyio.to_thread.run_sync(render)
            return page
        return inbox.queued(outcome, phone_number_id=phone_number_id, wa_id=wa_id)

    return router
