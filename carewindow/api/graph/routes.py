"""``/graph/{version}/…``: Meta's Cloud API wire format in front of carewindow (docs/gateway.md).

A client that speaks the Cloud API (pywa, Chatwoot with ``WHATSAPP_CLOUD_BASE_URL``, n8n) points its
base URL here and uses a carewindow API key as its access token (``Authorization: Bearer`` or the
``access_token`` query parameter, as Chatwoot's template sync sends it). Any ``vNN.N`` version is
accepted. carewindow calls Meta with its own token.

- ``POST /{phone_number_id}/messages``: the Graph body is read by ``wire.graph_request`` and
  translated into the /v1 request (``schemas.MessageCreate``) handed to ``messages.accept_send``: the
  same key checks, the same ``SendCommand``, planner, writer, thread, ledger and events as a /v1 send.
  The answer waits for Meta's (``wait.await_meta``) and carries Meta's wamid. Mark-as-read
  (``{"status": "read"}``) goes straight to the provider: it is no message and the policy has no say.
- ``GET /{phone_number_id}`` (and ``GET /{waba_id}``): the fields clients read.
- ``GET|POST|DELETE /{waba_id}/message_templates``: carewindow's catalog (the one its decisions use)
  in Graph's shape; creating and deleting go to Meta and into the catalog.
- ``POST /{phone_number_id}/media``, ``GET|DELETE /{media_id}`` (``media_router``): thin wrappers over
  ``actions.media`` (the same use cases as ``/v1/media``). ``GET /{media_id}`` answers Meta's shape,
  its ``url`` being carewindow's ``/v1/media/{id}/content``, downloaded with the same bearer.

Opt-in headers (carewindow's extras): ``X-Carewindow-On-Closed: defer|template`` and
``X-Carewindow-Fallback-Template: name:language[:p1|p2…]``; ``Idempotency-Key`` as on /v1.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ParamSpec

import anyio
import orjson
from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from carewindow.actions import media as media_actions
from carewindow.actions import templates as template_actions
from carewindow.actions.template_edits import do_remove_template
from carewindow.api import schemas
from carewindow.api.auth import READ_CONVERSATIONS, SEND, Principal, authenticate
from carewindow.api.deps import RuntimeDep
from carewindow.api.graph.errors import GATEWAY_UNAVAILABLE, graph_error_of, graph_response
from carewindow.api.graph.wait import await_meta, watching
from carewindow.api.routes.media import UPLOAD_MAX, content_url, media_provider
from carewindow.api.routes.messages import accept_send
from carewindow.api.runtime import Runtime
from carewindow.providers.base import ProviderError, ProviderGraphError, ProviderProtocolError
from carewindow.storage import templates as template_store
from carewindow.storage.engine import connect
from carewindow.wire.graph_errors import GraphError
from carewindow.wire.graph_request import GraphMarkRead, GraphSend, GraphTemplate, parse_graph_request
from carewindow.wire.media import MEDIA_KINDS
from carewindow.wire.messages import build_mark_read_body, build_send_response

__all__ = ["PREFIX", "media_router", "router"]

PREFIX = "/graph/{version}"
router = APIRouter(prefix=PREFIX, tags=["graph gateway"])
# The media routes (POST /{phone_number_id}/media, GET|DELETE /{media_id}, at the end of this module);
# api/app.py includes this router before ``router``, whose GET /{node_id} would otherwise answer
# GET /{media_id}.
media_router = APIRouter(prefix=PREFIX, tags=["graph gateway"])

VersionPath = Annotated[str, Path(description="any Graph API version, e.g. v23.0")]
_VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")
ON_CLOSED_HEADER = "x-carewindow-on-closed"
FALLBACK_HEADER = "x-carewindow-fallback-template"
TEMPLATE_ADMIN = frozenset({"admin", "integration"})
_P = ParamSpec("_P")


def graph_errors(fn: Callable[_P, Awaitable[Response]]) -> Callable[_P, Awaitable[Response]]:
    """Answer whatever ``fn`` raises in Meta's error shape (carewindow's own errors translated)."""

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Response:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            err = graph_error_of(exc)
            if err is None:
                raise
            return graph_response(err)

    return wrapper


def _json(doc: object, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def _check_version(version: str) -> None:
    if not _VERSION.match(version):
        raise GraphError.for_code(100, details=f"Unknown Graph API version {version!r}; use e.g. v23.0.")


def _access_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header
    token = request.query_params.get("access_token")
    return f"Bearer {token}" if token else None


async def _principal(rt: Runtime, request: Request, version: str, roles: frozenset[str]) -> Principal:
    _check_version(version)
    principal = await authenticate(rt.keys, _access_token(request))
    if principal.role not in roles:
        raise GraphError.for_code(10, details=f"An {principal.role} key may not do this through the gateway.")
    return principal


def _node(rt: Runtime, principal: Principal, node_id: str, kind: str) -> None:
    """``node_id`` must be this deployment's phone number (or WABA) and one the key may use."""
    ours = rt.phone_number_id if kind == "phone" else rt.waba_id
    allowed = principal.may_use(rt.phone_number_id)
    if node_id != ours or not allowed:
        raise GraphError.for_code(
            100,
            subcode=33,
            details=f"Unsupported request: object with ID '{node_id}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation.",
        )


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise GraphError.for_code(100, details="The request body is not valid JSON.") from None


# ------------------------------------------------------------------ messages


@router.post("/{phone_number_id}/messages")
@graph_errors
async def post_messages(
    version: VersionPath, phone_number_id: str, request: Request, rt: RuntimeDep
) -> Response:
    """Send a message (Graph body) through carewindow's policy; Meta's answer, with Meta's wamid."""
    principal = await _principal(rt, request, version, SEND)
    _node(rt, principal, phone_number_id, "phone")
    doc = await _body(request)
    parsed = parse_graph_request(doc)
    if isinstance(parsed, GraphMarkRead):
        return await _mark_read(rt, parsed)
    body = _message_create(parsed, phone_number_id, request)
    idempotency_key = request.headers.get("idempotency-key")
    with watching(rt) as waiters:  # before the send: its answer cannot be missed
        public = await accept_send(rt, principal, body, idempotency_key)
        watched = public.fallback_message_id or public.id
        if public.status in ("held", "scheduled") and public.fallback_message_id is None:
            return _json(_accepted(parsed, public.wa_id, public.id, public.status))
        if public.wamid is not None and watched == public.id:  # an earlier send of this idempotency key
            return _json(_accepted(parsed, public.wa_id, public.wamid, "accepted"))
        answered = await await_meta(rt, waiters, watched, seconds=rt.settings.gateway_answer_seconds)
    if answered.wamid is not None:
        answer = _accepted(parsed, public.wa_id, answered.wamid, "accepted")
        if public.fallback_message_id is not None:
            answer["carewindow"] = {"held_message_id": public.id, "fallback_message_id": watched}
        return _json(answer)
    if answered.cancelled or answered.row is None:
        raise GraphError.for_code(
            GATEWAY_UNAVAILABLE,
            details=(
                f"carewindow could not hand message {watched} to Meta in time; it was cancelled and "
                "not sent. Retry later."
                if answered.cancelled
                else f"Meta has not answered for message {watched} yet; its status webhooks will say "
                "whether it was sent. Do not resend it."
            ),
        )
    raise _failed(answered.row)


def _accepted(parsed: GraphSend, wa_id: str, wamid: str, status: str) -> dict[str, Any]:
    return build_send_response(wa_id=wa_id, wamid=wamid, recipient_input=parsed.to, message_status=status)


def _failed(row: Any) -> GraphError:
    """Meta's error for a message Meta (or the worker, before sending) refused."""
    code = str(row.error_code or "")
    details = row.error_message or row.error_title or row.status
    if code.isdigit():
        return GraphError.for_code(int(code), details=details)
    if code == "window_closed":
        return GraphError.for_code(131047, details=f"carewindow ({code}): {details}")
    return GraphError.for_code(131000, details=f"carewindow ({code or row.status}): {details}")


def _spec(t: GraphTemplate) -> schemas.TemplateSpec:
    params = dict(t.params) if isinstance(t.params, dict) else list(t.params)
    header = dict(t.header) if t.header is not None else None
    return schemas.TemplateSpec(name=t.name, language=t.language, parameters=params, header=header)


def _fallback(value: str) -> schemas.TemplateSpec:
    """``name:language[:p1|p2…]`` from the fallback header."""
    name, _, rest = value.partition(":")
    language, _, params = rest.partition(":")
    return schemas.TemplateSpec(
        name=name.strip(), language=language.strip(), parameters=params.split("|") if params else []
    )


def _message_create(parsed: GraphSend, phone_number_id: str, request: Request) -> schemas.MessageCreate:
    values: dict[str, Any] = {"to": parsed.to, "type": parsed.type, "phone_number_id": phone_number_id}
    if parsed.template is not None:
        values["template"] = _spec(parsed.template)
    else:
        values[parsed.type] = parsed.content
    if parsed.context_wamid is not None:
        values["context"] = {"message_id": parsed.context_wamid}
    on_closed = request.headers.get(ON_CLOSED_HEADER)
    fallback = request.headers.get(FALLBACK_HEADER)
    try:
        if on_closed:
            values["on_closed"] = on_closed.strip().lower()
        if fallback:
            values["fallback_template"] = _fallback(fallback)
        return schemas.MessageCreate.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GraphError.for_code(131009, details=f"{where}: {first['msg']}") from None


async def _mark_read(rt: Runtime, parsed: GraphMarkRead) -> Response:
    assert rt.provider is not None
    body: dict[str, object] = build_mark_read_body(parsed.message_id)
    if parsed.typing:
        body["typing_indicator"] = {"type": "text"}
    try:
        await rt.provider.send(body)
    except ProviderProtocolError:
        pass  # Meta answers {"success": true}, no message id: the provider's send reads that as odd
    except ProviderGraphError as exc:
        return graph_response(exc.error)
    except ProviderError as exc:
        raise GraphError.for_code(GATEWAY_UNAVAILABLE, details=exc.reason) from None
    return _json({"success": True})


# ------------------------------------------------------------------ the number and the account


@router.get("/{node_id}")
@graph_errors
async def get_node(version: VersionPath, node_id: str, request: Request, rt: RuntimeDep) -> Response:
    """The business number (``verified_name``, ``display_phone_number``, quality...) or the WABA."""
    principal = await _principal(rt, request, version, SEND | READ_CONVERSATIONS)
    if node_id == rt.waba_id and principal.may_use(rt.phone_number_id):
        return _json({"id": rt.waba_id, "name": "carewindow", "message_template_namespace": rt.waba_id})
    _node(rt, principal, node_id, "phone")
    s = rt.settings
    display = s.display_phone_number or (
        rt.sandbox.config.display_phone_number if rt.sandbox is not None else ""
    )
    doc: dict[str, Any] = {
        "id": rt.phone_number_id,
        "display_phone_number": display,
        "verified_name": "carewindow",
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "code_verification_status": "VERIFIED",
        "throughput": {"level": "STANDARD"},
    }
    fields = request.query_params.get("fields")
    if fields:
        wanted = {f.strip() for f in fields.split(",")} | {"id"}
        doc = {k: v for k, v in doc.items() if k in wanted}
    return _json(doc)


# ------------------------------------------------------------------ templates


@router.get("/{waba_id}/message_templates")
@graph_errors
async def list_templates(version: VersionPath, waba_id: str, request: Request, rt: RuntimeDep) -> Response:
    """carewindow's catalog in Graph's shape, paged (``limit``, ``after``), ``name`` filtering."""
    principal = await _principal(rt, request, version, SEND | READ_CONVERSATIONS)
    _node(rt, principal, waba_id, "waba")
    q = request.query_params
    try:
        limit = max(1, min(int(q.get("limit", "100")), 1000))
        start = int(q.get("after", "0"))
    except ValueError:
        raise GraphError.for_code(100, details="limit and after must be integers.") from None
    with connect(rt.engine) as conn:
        rows = list(template_store.list_all(conn))
    name = q.get("name")
    if name:
        rows = [r for r in rows if name in r.name]
    page = rows[start : start + limit]
    data = []
    for r in page:
        item = template_actions.graph_definition(template_store.template_from_row(r))
        item["id"] = r.provider_id or f"{r.name}:{r.language}"
        item["status"] = r.status.upper()
        data.append(item)
    doc: dict[str, Any] = {
        "data": data,
        "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
    }
    if start + len(page) < len(rows):
        params = {k: v for k, v in q.items() if k != "after"} | {"after": str(start + len(page))}
        query = "&".join(f"{k}={v}" for k, v in params.items())
        doc["paging"]["next"] = f"{str(request.url).split('?')[0]}?{query}"
    return _json(doc)


@router.post("/{waba_id}/message_templates")
@graph_errors
async def create_template(version: VersionPath, waba_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Submit a Graph template definition to Meta and store it in the catalog with Meta's status."""
    principal = await _principal(rt, request, version, TEMPLATE_ADMIN)
    _node(rt, principal, waba_id, "waba")
    doc = await _body(request)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise GraphError.for_code(131008, details="A template needs name, language, category and components.")
    assert rt.provider is not None
    try:
        answer = await rt.provider.create_template(doc)
    except ProviderGraphError as exc:
        return graph_response(exc.error)
    except ProviderError as exc:
        raise GraphError.for_code(GATEWAY_UNAVAILABLE, details=exc.reason) from None
    item = {**doc, "id": answer.get("id"), "status": answer.get("status", "PENDING")}
    await anyio.to_thread.run_sync(lambda: template_actions.do_sync(rt.engine, [item], now=rt.now()))
    return _json(dict(answer))


@router.delete("/{waba_id}/message_templates")
@graph_errors
async def delete_template(version: VersionPath, waba_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete template ``name`` (every language) at Meta and from the catalog."""
    principal = await _principal(rt, request, version, TEMPLATE_ADMIN)
    _node(rt, principal, waba_id, "waba")
    name = request.query_params.get("name")
    if not name:
        raise GraphError.for_code(131008, details="name is required.")
    assert rt.provider is not None
    try:
        await rt.provider.delete_template(name)
    except ProviderGraphError as exc:
        return graph_response(exc.error)
    except ProviderError as exc:
        raise GraphError.for_code(GATEWAY_UNAVAILABLE, details=exc.reason) from None
    with connect(rt.engine) as conn:
        languages = [r.language for r in template_store.list_all(conn) if r.name == name]
    for language in languages:
        await anyio.to_thread.run_sync(do_remove_template, rt.engine, name, language)
    return _json({"success": True})


# ------------------------------------------------------------------ media

MEDIA_MODIFY = SEND
MEDIA_READ = SEND | READ_CONVERSATIONS


def _unknown_media(media_id: str) -> GraphError:
    """Meta's answer for a media id it does not know (or the key may not see): 100, subcode 33."""
    return GraphError.for_code(
        100,
        subcode=33,
        http_status=404,
        details=f"Unsupported request: object with ID '{media_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
    )


def _media_failure(exc: media_actions.MediaError, media_id: str) -> GraphError:
    if exc.status == 404:
        return _unknown_media(media_id)
    if exc.code == "media_refused":
        return GraphError.for_code(131053, details=f"carewindow ({exc.code}): {exc.message}")
    return GraphError.for_code(GATEWAY_UNAVAILABLE, details=f"carewindow ({exc.code}): {exc.message}")


async def _media_record(rt: Runtime, principal: Principal, media_id: str) -> media_actions.MediaRecord:
    """The record of carewindow's or Meta's media id, if the key may see it (a number-limited key
    sees only its numbers' files; an upload belongs to the deployment's number)."""
    try:
        record = await anyio.to_thread.run_sync(media_actions.media_info, rt.engine, media_id)
    except media_actions.MediaError as exc:
        raise _media_failure(exc, media_id) from None
    if principal.phone_number_ids is not None:
        number = await anyio.to_thread.run_sync(media_actions.media_number, rt.engine, record)
        if not principal.may_use(number or rt.phone_number_id):
            raise _unknown_media(media_id)
    return record


_UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "type": {"type": "string", "description": "the file's MIME type"},
                        "messaging_product": {"type": "string", "enum": ["whatsapp"]},
                    },
                }
            }
        },
    }
}


async def _upload_form(request: Request) -> tuple[UploadFile, str | None]:
    """The multipart form, read here (not by FastAPI) so that a bad one answers Meta's shape."""
    try:
        form = await request.form()
    except Exception:  # a body python-multipart cannot read
        raise GraphError.for_code(100, details="The request body is not a readable multipart form.") from None
    file, type_, product = form.get("file"), form.get("type"), form.get("messaging_product")
    if not isinstance(file, UploadFile):
        raise GraphError.for_code(131008, details="The parameter file is required (a multipart file).")
    if product is not None and product != "whatsapp":
        raise GraphError.for_code(100, details="messaging_product must be 'whatsapp'.")
    return file, type_ if isinstance(type_, str) and type_ else None


@media_router.post("/{phone_number_id}/media", openapi_extra=_UPLOAD_FORM)
@graph_errors
async def post_media(
    version: VersionPath, phone_number_id: str, request: Request, rt: RuntimeDep
) -> Response:
    """Meta's media upload (multipart ``file``, ``type``, ``messaging_product``): ``{"id": …}``, the
    id ``{"image": {"id": …}}`` sends. The same use case as ``POST /v1/media``."""
    principal = await _principal(rt, request, version, MEDIA_MODIFY)
    _node(rt, principal, phone_number_id, "phone")
    file, type = await _upload_form(request)
    data = await file.read(UPLOAD_MAX + 1)
    # Meta's ``type`` is the MIME type (pywa, Chatwoot); carewindow's /v1 form also takes a kind.
    mime = type if type and "/" in type else (file.content_type or "application/octet-stream")
    kind = type if type and type in MEDIA_KINDS else None
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
            kind=kind,
        )
    except media_actions.MediaError as exc:
        raise _media_failure(exc, "") from None
    return _json({"id": record.meta_media_id or record.id})


def _public_base(rt: Runtime, request: Request) -> str:
    configured = str(rt.settings.public_url or "").rstrip("/")
    return configured or str(request.base_url).rstrip("/")


@media_router.get("/{media_id}")
@graph_errors
async def get_media(version: VersionPath, media_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Meta's media metadata; ``url`` is carewindow's download URL (GET it with the same bearer).
    Anything that is not a media id (the number, the WABA) is the node's answer."""
    principal = await _principal(rt, request, version, MEDIA_READ)
    if media_id in (rt.phone_number_id, rt.waba_id):
        return await get_node(version, media_id, request, rt)
    record = await _media_record(rt, principal, media_id)
    if record.status != media_actions.READY:
        why = "still downloading from Meta" if record.status == media_actions.PENDING else record.reason
        raise GraphError.for_code(131052, details=f"carewindow: media {media_id} is {record.status}: {why}")
    return _json(
        {
            "messaging_product": "whatsapp",
            "url": _public_base(rt, request) + content_url(record.id),
            "mime_type": record.mime_type,
            "sha256": record.sha256,
            "file_size": record.size,
            "id": media_id,
        }
    )


@media_router.delete("/{media_id}")
@graph_errors
async def delete_media(version: VersionPath, media_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete a file (and Meta's copy of an upload): ``{"success": true}``."""
    principal = await _principal(rt, request, version, MEDIA_MODIFY)
    await _media_record(rt, principal, media_id)
    assert rt.media_store is not None
    try:
        await media_actions.delete_media(rt.engine, rt.media_store, media_provider(rt), media_id)
    except media_actions.MediaError as exc:
        raise _media_failure(exc, media_id) from None
    return _json({"success": True})
