"""``POST /v1/messages`` answers the same through its plain-ASGI fast path as through the framework route.

Each case runs twice on one service, once through the whole app (fast path first) and once straight
into the framework behind it, each for its own customer in the same starting state; the answers must
match in status, headers and body (ids and times aside).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from service_support import Service

from carewindow.api.routes.messages import SendFastPath

pytestmark = pytest.mark.anyio
VOLATILE = {
    "id",
    "created_at",
    "updated_at",
    "accepted_at",
    "ts",
    "at",
    "opened_at",
    "expires_at",
    "closes_at",
}
NUMBERS = iter(range(34600200000, 34600300000))


def _fast_path(svc: Service) -> SendFastPath:
    fast = svc.app.fast_paths["/v1/messages"]  # type: ignore[attr-defined]
    assert isinstance(fast, SendFastPath)
    return fast


def _route_only(svc: Service) -> httpx.AsyncClient:
    """A client for the app with its fast paths left out (the framework route answers)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.app.framework), base_url="http://testserver"
    )  # type: ignore[attr-defined]


def _normal(value: Any, to: str) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE else _normal(v, to) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, to) for v in value]
    if isinstance(value, str):
        return value.replace(to, "<to>").replace("+<to>", "<to>")
    return value


async def _both(
    svc: Service,
    setup: Callable[[str], Awaitable[None]],
    request: Callable[[str], dict[str, Any]],
) -> tuple[httpx.Response, httpx.Response, str, str]:
    fast_to, route_to = str(next(NUMBERS)), str(next(NUMBERS))
    await setup(fast_to)
    await setup(route_to)
    before = _fast_path(svc).answered
    fast = await svc.http.post("/v1/messages", **request(fast_to))
    fast.extensions["answered_by_fast_path"] = _fast_path(svc).answered - before
    async with _route_only(svc) as route_client:
        route = await route_client.post("/v1/messages", **request(route_to))
    return fast, route, fast_to, route_to


def _same(fast: httpx.Response, route: httpx.Response, fast_to: str, route_to: str) -> dict[str, Any]:
    assert fast.status_code == route.status_code, (fast.text, route.text)
    for name in ("content-type", "x-content-type-options", "x-frame-options", "content-security-policy"):
        assert fast.headers.get(name) == route.headers.get(name), name
    assert fast.headers.get("www-authenticate") == route.headers.get("www-authenticate")
    body = _normal(fast.json(), fast_to)
    assert body == _normal(route.json(), route_to)
    return body  # type: ignore[no-any-return]


async def _writes(svc: Service, to: str) -> None:
    r = await svc.http.post(f"/sandbox/customers/{to}/messages", json={"text": "hola"})
    assert r.status_code < 300, r.text
    await svc.drain()


async def _nothing(_to: str) -> None:
    return None


def _text(svc: Service, role: str = "agent", **extra: Any) -> Callable[[str], dict[str, Any]]:
    def build(to: str) -> dict[str, Any]:
        return {
            "headers": svc.auth(role),
            "json": {"to": to, "type": "text", "text": {"body": "hi"}, **extra},
        }

    return build


async def test_accepted_session_message(service: Service) -> None:
    fast, route, fast_to, route_to = await _both(service, lambda to: _writes(service, to), _text(service))
    assert fast.extensions["answered_by_fast_path"] == 1
    body = _same(fast, route, fast_to, route_to)
    assert body["status"] == "queued"
    assert body["kind"] == "session"


async def test_refusals_through_the_apps_handlers(service: Service) -> None:
    fast, route, fast_to, route_to = await _both(service, _nothing, _text(service))
    assert fast.extensions["answered_by_fast_path"] == 1  # the refusal came through the app's handler
    body = _same(fast, route, fast_to, route_to)
    assert body["error"]["code"] == "window_closed"
    tpl = {"type": "template", "template": {"name": "nope", "language": "en", "parameters": []}}

    def template(to: str) -> dict[str, Any]:
        return {"headers": service.auth(), "json": {"to": to, **tpl}}

    body = _same(*await _both(service, _nothing, template))
    assert body["error"]["code"] == "template_not_found"


async def test_idempotency_key_header_returns_the_first_message(service: Service) -> None:
    def keyed(to: str) -> dict[str, Any]:
        return {
            "headers": {**service.auth(), "Idempotency-Key": f"k-{to}"},
            "json": {"to": to, "type": "text", "text": {"body": "hi"}},
        }

    fast, route, fast_to, route_to = await _both(service, lambda to: _writes(service, to), keyed)
    _same(fast, route, fast_to, route_to)
    again = await service.http.post("/v1/messages", **keyed(fast_to))
    assert again.status_code == fast.status_code
    assert again.json()["id"] == fast.json()["id"]


@pytest.mark.parametrize(
    "case",
    [
        "no_key",
        "unknown_key",
        "malformed_auth",
        "reader_role",
        "bad_json",
        "extra_field",
        "missing_content",
        "text_content_type",
        "long_idempotency_key",
    ],
)
async def test_everything_else_gets_the_routes_own_answer(service: Service, case: str) -> None:
    def build(to: str) -> dict[str, Any]:
        headers = dict(service.auth("agent"))
        body: Any = {"to": to, "type": "text", "text": {"body": "hi"}}
        content: bytes | None = None
        if case == "no_key":
            headers = {}
        elif case == "unknown_key":
            headers = {"Authorization": "Bearer nope"}
        elif case == "malformed_auth":
            headers = {"Authorization": "Basic abc"}
        elif case == "reader_role":
            headers = dict(service.auth("integration"))
        elif case == "bad_json":
            content = b'{"to": '
        elif case == "extra_field":
            body["colour"] = "red"
        elif case == "missing_content":
            del body["text"]
        elif case == "text_content_type":
            content, headers["Content-Type"] = b"to=1", "text/plain"
        elif case == "long_idempotency_key":
            headers["Idempotency-Key"] = "k" * 257
        if content is not None:
            headers.setdefault("Content-Type", "application/json")
            return {"headers": headers, "content": content}
        return {"headers": headers, "json": body}

    fast, route, fast_to, route_to = await _both(service, lambda to: _writes(service, to), build)
    body = _same(fast, route, fast_to, route_to)
    if case == "reader_role":  # an integration key may send: both accept it
        assert fast.status_code == 202
    else:
        assert fast.status_code >= 400
        # A body that validates but lacks its content object is refused by the shared code (through
        # the app's handler); everything else is handed to the route untouched.
        assert fast.extensions["answered_by_fast_path"] == (case == "missing_content")
        assert isinstance(body["error"]["message"], str)


async def test_a_key_that_cannot_be_read_gets_the_routes_503(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carewindow.storage.errors import Unavailable

    def down(_key: str) -> None:
        raise Unavailable("OperationalError: database is down")

    monkeypatch.setattr(service.rt.keys, "resolve", down)
    before = _fast_path(service).answered
    r = await service.http.post(
        "/v1/messages",
        headers={"Authorization": "Bearer stored-key-not-in-the-environment"},
        json={"to": "34600200999", "type": "text", "text": {"body": "hi"}},
    )
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert _fast_path(service).answered == before  # handed to the route
