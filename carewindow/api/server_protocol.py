"""uvicorn's httptools protocol, with the bytes of one event-loop turn sent in one write.

uvicorn writes a response's status line and headers when the app sends ``http.response.start`` and
its body when the app sends ``http.response.body``: two ``send`` system calls for every small
answer, which under the ingest benchmark were 16 % of the samples where ``serve`` held the GIL
(docs/performance.md). Here the writes a connection makes during one turn of the event loop are
joined and sent at the end of that turn, in order; flow control, closing and everything else are
the transport's own. ``carewindow serve`` uses it (``HTTP``), and so does the benchmark's ceiling.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP = "carewindow.api.server_protocol:OneWriteHttpToolsProtocol"  # uvicorn's ``--http`` value


class OneWriteTransport:
    """A transport whose ``write``s within one loop turn reach the socket as one."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what was written before close goes out first, as with the plain transport
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(p) for p in self._pending)

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport, self.loop))  # type: ignore[arg-type]
