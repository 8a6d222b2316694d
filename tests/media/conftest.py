"""Media test fixtures: a real S3-compatible server (moto's server mode) and both media stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from media_support import free_port, s3_client
from service_support import Clock, Service, make_settings, manual_housekeeper, manual_worker

from carewindow.api.app import create_app
from carewindow.api.runtime import media_fetcher
from carewindow.storage.media_store import DirectoryStore, MediaStore, S3Store


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible HTTP server in a thread, on a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test."""
    name = "cw-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40] + "-" + str(free_port())
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["directory", "s3"])
def media_store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    """Each media test runs once per store: a directory and an S3 bucket on moto's server."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "media")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3Store(bucket, prefix="media", client=s3_client(endpoint))


@pytest.fixture
async def media_service(db_url: str, media_store: MediaStore, tmp_path: Path) -> AsyncIterator[Service]:
    """The service in process (sandbox provider, loopback HTTP) on ``media_store``, the worker and the
    media fetcher driven by the test (``svc.rt.media_fetcher.run_once()``)."""
    clock = Clock()
    app = create_app(
        make_settings(db_url, home=str(tmp_path / "home")), clock=clock, loopback=True, run_worker=False
    )
    app.state.runtime.media_store = media_store
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        rt.worker = manual_worker(app)
        rt.housekeeper = manual_housekeeper(app)
        rt.media_fetcher = media_fetcher(rt)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Service(app=app, http=http, clock=clock)
        finally:
            await rt.housekeeper.aclose()
