"""MetaProvider's media calls over real loopback sockets with its default (aiohttp) transport, against
the sandbox served by uvicorn: upload (multipart), info, download (capped), delete."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from liveserver import bound_socket, thread_server

from carewindow.providers.base import ProviderGraphError, ProviderProtocolError
from carewindow.providers.meta import MetaProvider
from carewindow.providers.sandbox import SandboxConfig, create_sandbox_app

TOKEN = "network-media-token"
PHONE = "100000000000001"


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = SandboxConfig(
        access_token=TOKEN,
        phone_number_id=PHONE,
        base_url=f"{base}/graph",
        media_dir=str(tmp_path_factory.mktemp("sandbox-media")),
    )
    with thread_server(create_sandbox_app(config), sock) as url:
        yield url


def provider(url: str) -> MetaProvider:
    return MetaProvider(
        base_url=f"{url}/graph",
        graph_version="v23.0",
        token=TOKEN,
        phone_number_id=PHONE,
        waba_id="2",
        timeout=5,
    )


def test_upload_info_download_delete_over_aiohttp(sandbox_url: str, tmp_path: Path) -> None:
    data = os.urandom(200_000)

    async def go() -> None:
        p = provider(sandbox_url)
        try:
            media_id = await p.upload_media(data, mime_type="application/pdf", filename="big.pdf")
            info = await p.media_info(media_id)
            assert info["sha256"] == hashlib.sha256(data).hexdigest()
            assert info["file_size"] == len(data)
            url = info["url"]
            assert isinstance(url, str)
            assert await p.download_media(url, max_bytes=len(data)) == data
            with pytest.raises(ProviderProtocolError, match="larger than"):
                await p.download_media(url, max_bytes=len(data) - 1)
            await p.delete_media(media_id)
            with pytest.raises(ProviderGraphError) as info_error:
                await p.media_info(media_id)
            assert info_error.value.code == 100
            assert not info_error.value.transient
        finally:
            await p.aclose()

    asyncio.run(go())


def test_a_wrong_token_is_refused(sandbox_url: str) -> None:
    async def go() -> None:
        p = MetaProvider(
            base_url=f"{sandbox_url}/graph",
            graph_version="v23.0",
            token="nope",
            phone_number_id=PHONE,
            waba_id="2",
        )
        try:
            with pytest.raises(ProviderGraphError) as info:
                await p.upload_media(b"x", mime_type="text/plain", filename="a.txt")
            assert info.value.code == 190
        finally:
            await p.aclose()

    asyncio.run(go())
