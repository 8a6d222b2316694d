"""MetaProvider over real loopback sockets with its default (aiohttp) transport: what each network
failure means for "may Meta have this message?" (a wrong "no" would send it twice)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from carewindow.providers.base import ProviderError, ProviderTimeout, ProviderUnavailable
from carewindow.providers.meta import MetaProvider
from carewindow.wire.messages import build_send_body, build_send_response

BODY = build_send_body(to="34600111222", message_type="text", content={"body": "hola ñ"})
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


async def _with_server(handler: Handler, test: Callable[[MetaProvider], Awaitable[Any]]) -> Any:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = _provider(port, timeout=0.5)
    try:
        return await test(provider)
    finally:
        await provider.aclose()
        server.close()


async def _failure(provider: MetaProvider) -> ProviderError:
    """The error a send to ``provider`` raises (the test fails if it raises none)."""
    with pytest.raises(ProviderError) as info:
        await provider.send(BODY)
    return info.value


def _failure_of(make: Callable[[], MetaProvider]) -> ProviderError:
    """``_failure`` of a provider made (and closed) inside its own event loop."""

    async def go() -> ProviderError:
        provider = make()
        try:
            return await _failure(provider)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def _provider(port: int, *, timeout: float = 2.0) -> MetaProvider:
    return MetaProvider(
        base_url=f"http://127.0.0.1:{port}",
        graph_version="v23.0",
        token="EAAG-secret-token",
        phone_number_id="106540352242922",
        waba_id="102290129340398",
        timeout=timeout,
    )


def test_send_over_the_network_posts_the_body_and_reads_the_wamid() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append((head, body))
            answer = orjson.dumps(build_send_response(wa_id="34600111222", wamid=f"wamid.N{len(seen)}"))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(answer)).encode()
                + b"\r\n\r\n"
                + answer
            )
            await writer.drain()
        writer.close()

    async def test(provider: MetaProvider) -> list[str]:
        return [(await provider.send(BODY)).wamid for _ in range(3)]

    assert asyncio.run(_with_server(handler, test)) == ["wamid.N1", "wamid.N2", "wamid.N3"]
    head, body = seen[0]
    assert head.startswith(b"POST /v23.0/106540352242922/messages HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer EAAG-secret-token\r\n" in head.lower().replace(
        b"bearer eaag", b"Bearer EAAG"
    )
    assert orjson.loads(body) == BODY


def test_nobody_listening_was_not_sent() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: connecting is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    err = _failure_of(lambda: _provider(port))
    assert isinstance(err, ProviderUnavailable)
    assert err.maybe_sent is False
    assert err.transient


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (None, ProviderUnavailable),  # read the request, then hung up: it may have been taken
        (b"SPAM\r\n\r\n", ProviderUnavailable),  # not HTTP at all
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"messa', ProviderError),  # cut mid-body
    ],
)
def test_a_request_that_went_out_may_have_been_sent(reply: bytes | None, kind: type[ProviderError]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()

    err = asyncio.run(_with_server(handler, _failure))
    assert isinstance(err, kind)
    assert err.maybe_sent is True
    assert "EAAG" not in str(err)


def test_no_answer_in_time_is_a_timeout_that_may_have_been_sent() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await release.wait()  # never answers while the client waits
        writer.close()

    async def test(provider: MetaProvider) -> ProviderError:
        try:
            return await _failure(provider)
        finally:
            release.set()

    err = asyncio.run(_with_server(handler, test))
    assert isinstance(err, ProviderTimeout)
    assert err.maybe_sent is True


def test_a_url_that_cannot_be_requested_was_not_sent() -> None:
    assert _failure_of(lambda: _provider_at("http://[::1")).maybe_sent is False


def test_proxy_settings_from_the_environment_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "graph.internal")
    assert _provider_at("https://graph.facebook.com")._proxy == "http://proxy.example:3128"
    assert _provider_at("https://graph.internal")._proxy is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert _provider_at("https://graph.facebook.com")._proxy is None


def _provider_at(base_url: str) -> MetaProvider:
    return MetaProvider(base_url=base_url, graph_version="v23.0", token="t", phone_number_id="1", waba_id="2")
