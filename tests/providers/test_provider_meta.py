"""MetaProvider against httpx.MockTransport: the requests it makes and how it maps every failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from carewindow.providers.base import (
    Provider,
    ProviderError,
    ProviderGraphError,
    ProviderProtocolError,
    ProviderTimeout,
    ProviderUnavailable,
)
from carewindow.providers.meta import MetaProvider
from carewindow.wire.graph_errors import GraphError
from carewindow.wire.messages import build_send_body, build_send_response

TOKEN = "EAAG-secret-token"
BASE = "https://graph.example.test"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def make(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> MetaProvider:
    return MetaProvider(
        base_url=kw.pop("base_url", BASE),
        graph_version="v23.0",
        token=TOKEN,
        phone_number_id="106540352242922",
        waba_id="102290129340398",
        transport=httpx.MockTransport(handler),
        **kw,
    )


def json_response(status: int, doc: object) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(doc), headers={"Content-Type": "application/json"})


BODY = build_send_body(to="34600111222", message_type="text", content={"body": "hola ñ"})


def test_send_success_posts_exact_body_with_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, build_send_response(wa_id="34600111222", wamid="wamid.OK"))

    async def go() -> None:
        provider = make(handler)
        assert isinstance(provider, Provider)
        result = await provider.send(BODY)
        assert result.wamid == "wamid.OK"
        assert result.raw["messaging_product"] == "whatsapp"
        await provider.aclose()

    run(go())
    (req,) = seen
    assert req.method == "POST"
    assert str(req.url) == f"{BASE}/v23.0/106540352242922/messages"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["Content-Type"] == "application/json"
    assert orjson.loads(req.content) == BODY


def test_graph_error_json_becomes_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(
            400, GraphError.for_code(131047, details="24 hours passed", fbtrace_id="Atr").to_json()
        )

    async def go() -> ProviderGraphError:
        provider = make(handler)
        try:
            with pytest.raises(ProviderGraphError) as info:
                await provider.send(BODY)
            return info.value
        finally:
            await provider.aclose()

    err = run(go())
    assert (err.code, err.transient, err.http_status, err.details) == (131047, False, 400, "24 hours passed")
    assert err.error.fbtrace_id == "Atr"
    assert isinstance(err, ProviderError)


def test_rate_limit_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(429, GraphError.for_code(130429).to_json())

    async def go() -> None:
        provider = make(handler)
        with pytest.raises(ProviderGraphError) as info:
            await provider.send(BODY)
        assert info.value.transient and info.value.code == 130429
        await provider.aclose()

    run(go())


def test_html_502_is_transient_graph_error_without_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=b"<html><body><h1>502 Bad Gateway</h1></body></html>")

    async def go() -> None:
        provider = make(handler)
        with pytest.raises(ProviderGraphError) as info:
            await provider.send(BODY)
        err = info.value
        assert (err.code, err.transient, err.http_status) == (0, True, 502)
        assert TOKEN not in str(err) and TOKEN not in repr(provider)
        await provider.aclose()

    run(go())


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("slow"), ProviderTimeout),
        (httpx.ConnectTimeout("slow"), ProviderTimeout),
        (httpx.ConnectError("refused"), ProviderUnavailable),
        (httpx.RemoteProtocolError("peer closed"), ProviderUnavailable),
    ],
)
def test_transport_failures_are_transient(exc: Exception, kind: type[ProviderError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async def go() -> None:
        provider = make(handler)
        with pytest.raises(kind) as info:
            await provider.send(BODY)
        assert info.value.transient and info.value.code is None
        assert TOKEN not in str(info.value)
        assert info.value.__cause__ is None  # the httpx request (and its headers) is not chained
        await provider.aclose()

    run(go())


@pytest.mark.parametrize("content", [b"<html>ok</html>", b"[]", b'{"messages": []}'])
def test_unreadable_success_is_permanent(content: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content)

    async def go() -> None:
        provider = make(handler)
        with pytest.raises(ProviderProtocolError) as info:
            await provider.send(BODY)
        assert not info.value.transient
        await provider.aclose()

    run(go())


def test_template_list_follows_paging_next() -> None:
    seen: list[httpx.Request] = []
    page2 = f"{BASE}/v23.0/102290129340398/message_templates?limit=100&after=CURSOR2"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("after") == "CURSOR2":
            return json_response(
                200, {"data": [{"name": "c", "language": "es"}], "paging": {"cursors": {"before": "X"}}}
            )
        return json_response(
            200,
            {
                "data": [{"name": "a", "language": "es"}, {"name": "b", "language": "en_US"}],
                "paging": {"cursors": {"before": "A", "after": "CURSOR2"}, "next": page2},
            },
        )

    async def go() -> list[Any]:
        provider = make(handler)
        try:
            return await provider.list_templates()
        finally:
            await provider.aclose()

    templates = run(go())
    assert [t["name"] for t in templates] == ["a", "b", "c"]
    assert [r.method for r in seen] == ["GET", "GET"]
    assert seen[0].url.path == "/v23.0/102290129340398/message_templates"
    assert str(seen[1].url) == page2
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_template_list_never_follows_to_another_host_or_loops() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        nxt = "https://evil.example/steal" if len(seen) == 1 else str(request.url)
        return json_response(200, {"data": [{"name": f"t{len(seen)}"}], "paging": {"next": nxt}})

    async def go() -> None:
        provider = make(handler)
        assert len(await provider.list_templates()) == 1
        await provider.aclose()

    run(go())
    assert len(seen) == 1


def test_create_and_delete_template() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return json_response(200, {"id": "1043256783422131", "status": "PENDING", "category": "UTILITY"})
        return json_response(200, {"success": True})

    definition = {"name": "ticket_update", "language": "es", "category": "UTILITY", "components": []}

    async def go() -> Any:
        provider = make(handler)
        created = await provider.create_template(definition)
        await provider.delete_template("ticket_update")
        await provider.aclose()
        return created

    assert run(go()) == {"id": "1043256783422131", "status": "PENDING", "category": "UTILITY"}
    post, delete = seen
    assert post.url.path == "/v23.0/102290129340398/message_templates"
    assert orjson.loads(post.content) == definition
    assert delete.method == "DELETE" and delete.url.params["name"] == "ticket_update"


def test_delete_missing_template_is_graph_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(400, GraphError.for_code(100, details="not found").to_json())

    async def go() -> None:
        provider = make(handler)
        with pytest.raises(ProviderGraphError) as info:
            await provider.delete_template("nope")
        assert info.value.code == 100
        await provider.aclose()

    run(go())


def test_concurrent_sends_share_one_client() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return json_response(200, build_send_response(wa_id="1", wamid=f"wamid.{count}"))

    async def go() -> set[str]:
        provider = make(handler, max_connections=4)
        results = await asyncio.gather(*(provider.send(BODY) for _ in range(20)))
        await provider.aclose()
        return {r.wamid for r in results}

    assert len(run(go())) == 20


# Meta's answer to a template whose name already has content in the language (as integrators report it).
DUPLICATE_TEMPLATE = {
    "error": {
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_subcode": 2388024,
        "is_transient": False,
        "error_user_title": "Content in This Language Already Exists",
        "error_user_msg": "There's already English (US) content for this template. You can create a new "
        "template and try again.",
        "fbtrace_id": "AbCdEf123",
    }
}


def test_graph_error_keeps_metas_reason_title_and_user_message() -> None:
    async def go() -> ProviderGraphError:
        provider = make(lambda _r: json_response(400, DUPLICATE_TEMPLATE))
        try:
            with pytest.raises(ProviderGraphError) as info:
                await provider.create_template({"name": "hello", "language": "en_US"})
            return info.value
        finally:
            await provider.aclose()

    exc = run(go())
    assert exc.title == "Content in This Language Already Exists"
    assert exc.reason.startswith("Content in This Language Already Exists: There's already English (US)")
    described = exc.describe()
    assert described["code"] == 100 and described["error_subcode"] == 2388024
    assert described["title"] == "Invalid parameter" and described["message"] == "Invalid parameter"
    assert described["error_user_msg"] == DUPLICATE_TEMPLATE["error"]["error_user_msg"]
    assert described["fbtrace_id"] == "AbCdEf123" and described["transient"] is False
    assert "details" not in described  # Meta sent no error_data: nothing is made up


def test_graph_error_reason_without_user_fields_is_message_and_details() -> None:
    err = GraphError.for_code(131047, details="More than 24 hours have passed.")
    assert err.reason == "(#131047) Re-engagement message: More than 24 hours have passed."
    assert GraphError.for_code(100).reason == "(#100) Invalid parameter"  # details = title, said once
    assert ProviderGraphError(err).describe()["details"] == "More than 24 hours have passed."
    assert ProviderTimeout("slow").describe() == {
        "title": "ProviderTimeout",
        "message": "slow",
        "transient": True,
    }
