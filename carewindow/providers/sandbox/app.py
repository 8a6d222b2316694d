"""The sandbox as an ASGI app: the Graph API subset under ``/graph`` plus control endpoints.

Mount it at ``/sandbox``; carewindow's Meta client then uses ``{public_url}/sandbox/graph`` as its base
URL. Cases and special recipients: docs/subsystems/sandbox.md.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from carewindow.policy import PolicySettings

from .callbacks import HttpClientFactory
from .config import SandboxConfig
from .errors import GraphFailure
from .media import SandboxMedia, media_routes
from .payloads import GraphError
from .preferences import customer_marketing
from .simulator import Sandbox

_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def _graph_error(error: GraphError) -> JSONResponse:
    return JSONResponse(error.to_json(), status_code=error.http_status)


def _control_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _check_token(request: Request, sandbox: Sandbox) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    token = (
        header[7:].strip() if header[:7].lower() == "bearer " else request.query_params.get("access_token")
    )
    if token and hmac.compare_digest(token.encode(), sandbox.config.access_token.encode()):
        return None
    return JSONResponse(
        GraphError(code=190, message="Invalid OAuth access token - Cannot parse access token").to_json(),
        status_code=401,
        headers={
            "WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'
        },
    )


def _check_node(request: Request, expected: str) -> JSONResponse | None:
    version = request.path_params["version"]
    node = request.path_params["node_id"]
    if not _VERSION.match(version):
        return _graph_error(GraphError(code=100, message=f"(#100) Unknown Graph API version {version!r}."))
    if node != expected:
        return _graph_error(
            GraphError(
                code=100,
                subcode=33,
                message=f"Unsupported {request.method.lower()} request. Object with ID '{node}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support this operation.",
            )
        )
    return None


class _OrjsonResponse(JSONResponse):
    """The Graph API's answers, rendered with orjson (the send endpoint is the sandbox's hot path)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise GraphFailure(GraphError(code=100, details="The request body is not valid JSON.")) from exc


async def send_message(request: Request) -> Response:
    """``POST /graph/{version}/{phone_number_id}/messages``."""
    sandbox = _sandbox(request)
    if (denied := _check_token(request, sandbox)) or (
        denied := _check_node(request, sandbox.config.phone_number_id)
    ):
        return denied
    endpoint = "marketing_messages" if request.url.path.endswith("/marketing_messages") else "messages"
    try:
        return _OrjsonResponse(await sandbox.send(await _json_body(request), endpoint=endpoint))
    except GraphFailure as failure:
        return _graph_error(failure.error)


async def message_templates(request: Request) -> Response:
    """``GET|POST|DELETE /graph/{version}/{waba_id}/message_templates``."""
    sandbox = _sandbox(request)
    if (denied := _check_token(request, sandbox)) or (denied := _check_node(request, sandbox.config.waba_id)):
        return denied
    try:
        if request.method == "POST":
            return JSONResponse(sandbox.create_template(await _json_body(request)))
        if request.method == "DELETE":
            query = request.query_params
            return JSONResponse(sandbox.delete_template(query.get("name"), query.get("hsm_id")))
        url = (
            f"{sandbox.config.base_url.rstrip('/')}/{request.path_params['version']}/"
            f"{sandbox.config.waba_id}/message_templates"
        )
        query_items = {k: v for k, v in request.query_params.items() if k != "access_token"}
        return JSONResponse(sandbox.list_templates(query_items, url=url))
    except GraphFailure as failure:
        return _graph_error(failure.error)


async def _control_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ValueError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def customer_message(request: Request) -> Response:
    """``POST /customers/{wa_id}/messages``: a simulated customer writes (answers after the webhook)."""
    try:
        body = await _control_body(request)
        answer = await _sandbox(request).customer_message(request.path_params["wa_id"], body)
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    return JSONResponse(answer)


async def customer_window(request: Request) -> Response:
    """``GET /customers/{wa_id}/window``: the sandbox's own view of the window."""
    wa_id = request.path_params["wa_id"]
    view = _sandbox(request).window(wa_id)

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return JSONResponse(
        {
            "wa_id": wa_id,
            "state": view.state.value,
            "opened_at": iso(view.opened_at),
            "expires_at": iso(view.expires_at),
            "seconds_left": view.seconds_left,
            "last_inbound_at": iso(view.last_inbound_at),
            "entry_point_expires_at": iso(view.entry_point_expires_at),
        }
    )


async def template_status(request: Request) -> Response:
    """``POST /templates/{name}/{language}/status``: change status and send the status webhook."""
    name, language = request.path_params["name"], request.path_params["language"]
    try:
        body = await _control_body(request)
        status = body.get("status")
        reason = body.get("reason")
        if not isinstance(status, str) or (reason is not None and not isinstance(reason, str)):
            raise ValueError("status (string) is required; reason must be a string")
        stored, delivery = await _sandbox(request).set_template_status(name, language, status, reason)
    except KeyError:
        return _control_error(404, "template_not_found", f"No template {name!r} in {language!r}.")
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    return JSONResponse(
        {
            "id": stored.id,
            "name": name,
            "language": language,
            "status": stored.status.value,
            "delivered": delivery.delivered,
            "callback_status": delivery.status,
        }
    )


async def business_message(request: Request) -> Response:
    """``POST /business/{wa_id}/messages``: the business writes from the WhatsApp Business app
    (``{"text"}``, ``{"text", "edit": wamid}``, ``{"revoke": wamid}``): an ``smb_message_echoes`` webhook."""
    try:
        body = await _control_body(request)
        answer = await _sandbox(request).business_app_message(request.path_params["wa_id"], body)
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    return JSONResponse(answer)


async def template_category(request: Request) -> Response:
    """``POST /templates/{name}/{language}/category``: ``{"category", "impending"?, "effective_at"?}``,
    a ``template_category_update`` webhook (impending: announced only; else completed)."""
    name, language = request.path_params["name"], request.path_params["language"]
    try:
        body = await _control_body(request)
        category, effective = body.get("category"), body.get("effective_at")
        if not isinstance(category, str) or (effective is not None and not isinstance(effective, int)):
            raise ValueError("category (string) is required; effective_at is Unix seconds")
        stored, delivery = await _sandbox(request).change_template_category(
            name, language, category, impending=bool(body.get("impending")), effective_at=effective
        )
    except KeyError:
        return _control_error(404, "template_not_found", f"No template {name!r} in {language!r}.")
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    return JSONResponse(
        {"id": stored.id, "category": stored.meta_category, "callback_status": delivery.status}
    )


async def template_quality(request: Request) -> Response:
    """``POST /templates/{name}/{language}/quality``: ``{"quality", "previous"?}``, a quality webhook."""
    name, language = request.path_params["name"], request.path_params["language"]
    try:
        body = await _control_body(request)
        quality, previous = body.get("quality"), body.get("previous", "GREEN")
        if not isinstance(quality, str) or not isinstance(previous, str):
            raise ValueError("quality (string) is required")
        stored, delivery = await _sandbox(request).change_template_quality(name, language, quality, previous)
    except KeyError:
        return _control_error(404, "template_not_found", f"No template {name!r} in {language!r}.")
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    return JSONResponse({"id": stored.id, "quality": quality.upper(), "callback_status": delivery.status})


async def waba_settings(request: Request) -> Response:
    """``POST /waba``: ``{"disable_marketing_messages_on_cloud_api": bool}`` (the WABA setting pywa's
    client names @0bcf2f1): when true, marketing templates on ``/messages`` fail with 131063."""
    try:
        body = await _control_body(request)
        value = body.get("disable_marketing_messages_on_cloud_api")
        if not isinstance(value, bool):
            raise ValueError("disable_marketing_messages_on_cloud_api (true or false) is required")
    except ValueError as exc:
        return _control_error(422, "validation_error", str(exc))
    _sandbox(request).marketing_disabled_on_cloud_api = value
    return JSONResponse({"disable_marketing_messages_on_cloud_api": value})


async def info(request: Request) -> Response:
    """``GET /info``: the identifiers a client needs to talk to this sandbox."""
    config = _sandbox(request).config
    return JSONResponse(
        {
            "phone_number_id": config.phone_number_id,
            "waba_id": config.waba_id,
            "display_phone_number": config.display_phone_number,
            "base_url": config.base_url,
            "graph_version": config.graph_version,
            # The bearer token the sandbox's Graph API accepts (it guards nothing real).
            "access_token": config.access_token,
        }
    )


async def sent(request: Request) -> Response:
    """``GET /sent[?to=…]``: accepted messages, each wamid once, oldest first."""
    to = request.query_params.get("to")
    records = [r.to_json() for r in _sandbox(request).sent if to is None or r.to == to.removeprefix("+")]
    return JSONResponse(records)


async def stats(request: Request) -> Response:
    """``GET /stats``: counters, including duplicate sends of the same body to the same recipient."""
    return JSONResponse(_sandbox(request).stats())


async def webhooks(request: Request) -> Response:
    """``GET /webhooks``: every webhook the sandbox tried to deliver, in order, with the outcome."""
    return JSONResponse(
        [
            {
                "field": r.field,
                "delivered": r.delivery.delivered,
                "status": r.delivery.status,
                "attempts": r.delivery.attempts,
                "payload": r.payload,
            }
            for r in _sandbox(request).webhooks.log
        ]
    )


async def faults(request: Request) -> Response:
    """``POST|DELETE|GET /faults``: arm, clear or show the fault switch for send calls."""
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.fault = None
        return JSONResponse({"fault": None})
    if request.method == "POST":
        try:
            fault = sandbox.set_fault(await _control_body(request))
        except (ValueError, TypeError) as exc:
            return _control_error(422, "validation_error", str(exc))
        return JSONResponse({"fault": fault.to_json()})
    return JSONResponse({"fault": sandbox.fault.to_json() if sandbox.fault else None})


async def drain(request: Request) -> Response:
    """``POST /drain``: wait (``timeout`` s, default 10) until scheduled webhooks have been attempted."""
    sandbox = _sandbox(request)
    try:
        timeout = float((await _control_body(request)).get("timeout", 10.0))
    except (ValueError, TypeError) as exc:
        return _control_error(422, "validation_error", str(exc))
    with contextlib.suppress(TimeoutError):
        await sandbox.drain(timeout)
    return JSONResponse({"pending": sandbox.pending})


def create_sandbox_app(
    config: SandboxConfig,
    *,
    http_client_factory: HttpClientFactory | None = None,
    policy_settings: PolicySettings | None = None,
) -> Starlette:
    """Build the sandbox ASGI app; its state is ``app.state.sandbox`` (a :class:`Sandbox`).

    Mounted apps get no lifespan events, so a parent app must ``await app.state.sandbox.aclose()`` on
    shutdown; standalone, the app's own lifespan does it. ``http_client_factory`` builds the
    ``httpx.AsyncClient`` used for webhooks (tests pass one with an ``ASGITransport``).
    """
    sandbox = Sandbox(config, http_client_factory=http_client_factory, policy_settings=policy_settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await sandbox.aclose()

    routes = [
        Route("/graph/{version}/{node_id}/messages", send_message, methods=["POST"]),
        Route("/graph/{version}/{node_id}/marketing_messages", send_message, methods=["POST"]),
        Route("/waba", waba_settings, methods=["POST"]),
        Route(
            "/graph/{version}/{node_id}/message_templates",
            message_templates,
            methods=["GET", "POST", "DELETE"],
        ),
        Route("/customers/{wa_id}/messages", customer_message, methods=["POST"]),
        Route("/customers/{wa_id}/window", customer_window, methods=["GET"]),
        Route("/customers/{wa_id}/marketing", customer_marketing, methods=["POST"]),
        Route("/templates/{name}/{language}/status", template_status, methods=["POST"]),
        Route("/templates/{name}/{language}/category", template_category, methods=["POST"]),
        Route("/templates/{name}/{language}/quality", template_quality, methods=["POST"]),
        Route("/business/{wa_id}/messages", business_message, methods=["POST"]),
        Route("/info", info, methods=["GET"]),
        Route("/sent", sent, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/webhooks", webhooks, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/drain", drain, methods=["POST"]),
        *media_routes(
            lambda request: _check_token(request, sandbox),
            lambda: sandbox.now().timestamp(),
            lambda: config.base_url.rstrip("/").removesuffix("/graph"),
            sandbox.customer_message,
            lambda: config.phone_number_id,
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    app.state.sandbox_media = SandboxMedia(config.media_dir, secret=config.app_secret or config.access_token)
    return app
