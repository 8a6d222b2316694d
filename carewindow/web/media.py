"""``/inbox/media/{id}``: a media file for a signed-in agent (the session cookie is scoped to
``/inbox``; API clients use ``/v1/media/{id}/content``). Same answer and inert headers as the API's:
``actions.media.serve_media``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request, Response

from carewindow.actions import media as media_actions


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

    return router
