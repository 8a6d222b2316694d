"""The server protocol joins the writes of one event-loop turn: fewer send calls, same bytes, same order.

Unit tests drive ``OneWriteTransport`` over a recording transport; the last test runs uvicorn with the
protocol on a real socket (keep-alive, pipelined requests, a streamed body, a closed connection).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn

from carewindow.api.server_protocol import HTTP, OneWriteTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def test_writes_of_one_turn_go_out_as_one_at_its_end() -> None:
    raw = Recording()
    t = OneWriteTransport(raw, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(memoryview(b"ok"))
    assert raw.calls == []  # nothing yet: still this turn
    assert t.get_write_buffer_size() == 7 + 40
    await asyncio.sleep(0)
    assert raw.calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")]
    t.write(b"next")
    await asyncio.sleep(0)
    assert raw.calls[-1] == ("write", b"next")
    assert t.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the real transport's


async def test_close_sends_what_was_written_first_and_abort_drops_it() -> None:
    raw = Recording()
    t = OneWriteTransport(raw, asyncio.get_running_loop())
    t.write(b"last words")
    t.close()
    assert raw.calls == [("write", b"last words"), ("close", b"")]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert raw.calls == [("write", b"last words"), ("close", b"")]

    raw2 = Recording()
    t2 = OneWriteTransport(raw2, asyncio.get_running_loop())
    t2.write(b"never")
    t2.abort()
    await asyncio.sleep(0)
    assert raw2.calls == [("abort", b"")]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/stream":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)  # separate turns: each chunk leaves when written
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    answer = b"echo:" + body
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer, "more_body": False})


def _read_until(sock: socket.socket, marker: bytes, limit: float = 5.0) -> bytes:
    sock.settimeout(limit)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def test_uvicorn_with_the_protocol_answers_pipelined_and_streamed_requests() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=HTTP, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)

        def talk() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port)) as c:
                two = (
                    b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"
                    b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nde"
                )
                c.sendall(two)
                pipelined = _read_until(c, b"echo:de")
                c.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                streamed = _read_until(c, b"0\r\n\r\n")
            return pipelined, streamed

        pipelined, streamed = await asyncio.to_thread(talk)
    finally:
        server.should_exit = True
        await task
    first, second = pipelined.split(b"HTTP/1.1 200 OK")[1:]
    assert first.endswith(b"\r\n\r\necho:abc") and second.endswith(b"\r\n\r\necho:de"), pipelined
    assert b"transfer-encoding: chunked" in streamed
    assert streamed.endswith(b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"), streamed
