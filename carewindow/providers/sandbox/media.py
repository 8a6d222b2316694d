"""The sandbox's media endpoints, as Meta's Cloud API has them, and the simulated customer's media.

- ``POST /graph/{version}/{phone_number_id}/media`` (multipart: ``file``, ``type``,
  ``messaging_product``) keeps the file and answers ``{"id": …}``;
- ``GET /graph/{version}/{media_id}`` answers ``{messaging_product, url, mime_type, sha256 (hex),
  file_size, id}``; the url is signed, expires after ``URL_SECONDS`` (Meta's last five minutes) and
  still needs the access token, as Meta's does;
- ``GET /media-download/{media_id}?exp=…&sig=…`` is that url;
- ``DELETE /graph/{version}/{media_id}`` deletes it;
- ``POST /customers/{wa_id}/media`` (multipart: ``file``, ``type``, optional ``caption``,
  ``filename``) keeps the file and sends the customer's media message webhook carrying its id and
  its sha256 (base64, as Meta's webhooks carry it).

The files live on disk in ``media_dir`` (``var/sandbox/media`` under the carewindow home when
mounted by ``serve``), one data file and one JSON sidecar each, so they survive a restart.
Meta's docs: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .payloads import GraphError

__all__ = ["URL_SECONDS", "SandboxMedia", "media_routes"]

URL_SECONDS = 300
KINDS = ("image", "audio", "video", "document", "sticker")
_ID = re.compile(r"^[0-9]{6,20}$")


class SandboxMedia:
    """Files the sandbox holds, by Meta-style numeric media id."""

    def __init__(self, directory: str | os.PathLike[str] | None, *, secret: str) -> None:
        self.dir = (
            Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="cw-sandbox-media-"))
        )
        self._secret = secret.encode()

    def _paths(self, media_id: str) -> tuple[Path, Path] | None:
        if not _ID.match(media_id):
            return None
        return self.dir / media_id, self.dir / f"{media_id}.json"

    def put(self, data: bytes, *, mime_type: str, filename: str | None) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        paths = self._paths(media_id)
        assert paths is not None
        meta = {
            "id": media_id,
            "mime_type": mime_type,
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": len(data),
            "filename": filename,
        }
        for path, content in ((paths[0], data), (paths[1], json.dumps(meta).encode())):
            tmp = path.with_name(f".tmp-{path.name}")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return meta

    def get(self, media_id: str) -> tuple[dict[str, Any], Path] | None:
        paths = self._paths(media_id)
        if paths is None or not paths[1].exists():
            return None
        meta: dict[str, Any] = json.loads(paths[1].read_text())
        return meta, paths[0]

    def delete(self, media_id: str) -> bool:
        paths = self._paths(media_id)
        if paths is None or not paths[1].exists():
            return False
        for p in paths:
            p.unlink(missing_ok=True)
        return True

    def sign(self, media_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url_for(self, base_url: str, media_id: str, *, now: float) -> str:
        """``base_url`` is the sandbox's own root (``…/sandbox``)."""
        exp = int(now) + URL_SECONDS
        return f"{base_url.rstrip('/')}/media-download/{media_id}?exp={exp}&sig={self.sign(media_id, exp)}"

    def check(self, media_id: str, exp: str, sig: str, *, now: float) -> bool:
        if not exp.isdigit() or int(exp) < now:
            return False
        return hmac.compare_digest(self.sign(media_id, int(exp)), sig)


def _not_found(media_id: str) -> JSONResponse:
    return JSONResponse(
        GraphError(
            code=100,
            subcode=33,
            message=f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation.",
        ).to_json(),
        status_code=400,
    )


def media_routes(
    check_token: Callable[[Request], JSONResponse | None],
    now: Callable[[], float],
    root_url: Callable[[], str],
    customer_message: Callable[[str, dict[str, Any]], Any],
    phone_number_id: Callable[[], str],
) -> list[Route]:
    """The routes above; ``app.state.sandbox_media`` is the ``SandboxMedia`` they serve."""

    def store(request: Request) -> SandboxMedia:
        media: SandboxMedia = request.app.state.sandbox_media
        return media

    async def upload(request: Request) -> Response:
        if (denied := check_token(request)) is not None:
            return denied
        if request.path_params["node_id"] != phone_number_id():
            return _not_found(request.path_params["node_id"])
        form = await request.form()
        file = form.get("file")
        mime = form.get("type")
        if not isinstance(file, UploadFile) or form.get("messaging_product") != "whatsapp":
            return JSONResponse(
                GraphError(code=100, details="file and messaging_product=whatsapp are required").to_json(),
                status_code=400,
            )
        data = await file.read()
        mime_type = (
            mime if isinstance(mime, str) and mime else file.content_type or "application/octet-stream"
        )
        meta = store(request).put(data, mime_type=mime_type, filename=file.filename)
        return JSONResponse({"id": meta["id"]})

    async def node(request: Request) -> Response:
        if (denied := check_token(request)) is not None:
            return denied
        media_id = request.path_params["media_id"]
        media = store(request)
        if request.method == "DELETE":
            if not media.delete(media_id):
                return _not_found(media_id)
            return JSONResponse({"success": True})
        found = media.get(media_id)
        if found is None:
            return _not_found(media_id)
        meta = found[0]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": media.url_for(root_url(), media_id, now=now()),
                "mime_type": meta["mime_type"],
                "sha256": meta["sha256"],
                "file_size": meta["file_size"],
                "id": media_id,
            }
        )

    async def download(request: Request) -> Response:
        if (denied := check_token(request)) is not None:
            return denied
        media_id = request.path_params["media_id"]
        media = store(request)
        q = request.query_params
        if not media.check(media_id, q.get("exp", ""), q.get("sig", ""), now=now()):
            return JSONResponse(
                GraphError(code=100, details="The media URL is invalid or has expired.").to_json(),
                status_code=404,
            )
        found = media.get(media_id)
        if found is None:
            return _not_found(media_id)
        meta, path = found
        return Response(path.read_bytes(), media_type=meta["mime_type"])

    async def customer_media(request: Request) -> Response:
        wa_id = request.path_params["wa_id"]
        form = await request.form()
        file, kind, caption = form.get("file"), form.get("type"), form.get("caption")
        if not isinstance(file, UploadFile) or kind not in KINDS:
            return JSONResponse(
                {
                    "error": {
                        "code": "validation_error",
                        "message": f"multipart file and type (one of {', '.join(KINDS)}) are required",
                    }
                },
                status_code=422,
            )
        data = await file.read()
        mime_type = file.content_type or "application/octet-stream"
        name = form.get("filename")
        filename = name if isinstance(name, str) and name else file.filename
        meta = store(request).put(data, mime_type=mime_type, filename=filename)
        content: dict[str, Any] = {
            "mime_type": mime_type,
            "sha256": base64.b64encode(bytes.fromhex(meta["sha256"])).decode(),
            "id": meta["id"],
        }
        if isinstance(caption, str) and caption and kind != "audio" and kind != "sticker":
            content["caption"] = caption
        if kind == "document" and filename:
            content["filename"] = filename
        try:
            answer = await customer_message(wa_id, {"type": kind, "content": content})
        except ValueError as exc:
            store(request).delete(meta["id"])
            return JSONResponse({"error": {"code": "validation_error", "message": str(exc)}}, status_code=422)
        return JSONResponse({**answer, "media_id": meta["id"], "sha256": meta["sha256"]})

    return [
        Route("/graph/{version}/{node_id}/media", upload, methods=["POST"]),
        Route("/graph/{version}/{media_id}", node, methods=["GET", "DELETE"]),
        Route("/media-download/{media_id}", download, methods=["GET"]),
        Route("/customers/{wa_id}/media", customer_media, methods=["POST"]),
    ]
