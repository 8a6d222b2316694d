"""The inbound fetch job: retries with backoff, gives up with a reason, survives a dead worker (its
lease runs out) and a process killed with SIGKILL mid-download; on both stores and both databases."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from datetime import timedelta
from typing import Any

import httpx
import pytest
from service_support import Service
from sqlalchemy import select

from carewindow.actions.media import do_claim_fetches
from carewindow.api.runtime import SANDBOX_TOKEN
from carewindow.providers.meta import MetaProvider
from carewindow.storage.tables import media
from carewindow.worker.media import MediaFetcher

pytestmark = pytest.mark.anyio
WA_ID = "15551230002"


class Flaky(httpx.AsyncBaseTransport):
    """The loopback transport, with the first ``fail`` media requests answered 503 (Meta's 131016)
    and the first ``corrupt`` downloads cut short."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, fail: int = 0, corrupt: int = 0) -> None:
        self.inner, self.fail, self.corrupt = inner, fail, corrupt

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail > 0:
            self.fail -= 1
            return httpx.Response(
                503, json={"error": {"message": "(#131016) Service unavailable", "code": 131016}}
            )
        response = await self.inner.handle_async_request(request)
        if self.corrupt > 0 and "/media-download/" in request.url.path:
            self.corrupt -= 1
            body = await response.aread()
            return httpx.Response(200, content=body[: len(body) // 2], headers={"content-type": "image/png"})
        return response


def fetcher(svc: Service, transport: httpx.AsyncBaseTransport) -> MediaFetcher:
    rt = svc.rt
    provider = MetaProvider(
        base_url="http://testserver/sandbox/graph",
        graph_version=rt.settings.meta_graph_version,
        token=SANDBOX_TOKEN,
        phone_number_id=rt.phone_number_id,
        waba_id=rt.waba_id,
        transport=transport,
    )
    return MediaFetcher(engine=rt.engine, provider=provider, store=rt.media_store, clock=rt.clock)


async def photo(svc: Service, data: bytes | None = None) -> bytes:
    data = data or b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    r = await svc.http.post(
        f"/sandbox/customers/{WA_ID}/media",
        files={"file": ("p.png", data, "image/png")},
        data={"type": "image"},
    )
    assert r.status_code == 200, r.text
    return data


def rows(svc: Service) -> list[Any]:
    with svc.rt.engine.connect() as conn:
        return list(conn.execute(select(media).order_by(media.c.created_at, media.c.id)).all())


def stored(svc: Service, row: Any) -> bytes:
    data: bytes = svc.rt.media_store.read(row.storage_key)
    return data


async def test_transient_errors_back_off_then_succeed(media_service: Service) -> None:
    svc = media_service
    data = await photo(svc)
    f = fetcher(svc, Flaky(svc.rt.http_transport, fail=2))
    assert await f.run_once() == 1
    [row] = rows(svc)
    assert row.status == "pending"
    assert "Service unavailable" in row.reason
    assert row.next_attempt_at > svc.clock.now
    assert await f.run_once() == 0  # not due yet: backing off
    svc.clock.advance(hours=1)
    assert await f.run_once() == 1  # the second failure
    [row] = rows(svc)
    first_delay = row.next_attempt_at - svc.clock.now
    assert row.status == "pending" and row.attempts == 2
    assert first_delay > timedelta(seconds=1)
    svc.clock.advance(hours=1)
    assert await f.run_once() == 1
    [row] = rows(svc)
    assert row.status == "ready" and row.reason is None and row.attempts == 3
    assert stored(svc, row) == data


async def test_a_cut_download_fails_the_sha256_check_and_is_fetched_again(media_service: Service) -> None:
    svc = media_service
    data = await photo(svc)
    f = fetcher(svc, Flaky(svc.rt.http_transport, corrupt=1))
    await f.run_once()
    [row] = rows(svc)
    assert row.status == "pending"
    assert "sha256" in row.reason
    svc.clock.advance(hours=1)
    await f.run_once()
    [row] = rows(svc)
    assert row.status == "ready"
    assert hashlib.sha256(stored(svc, row)).digest() == hashlib.sha256(data).digest()


async def test_gives_up_after_the_retention_with_the_reason(media_service: Service) -> None:
    svc = media_service
    await photo(svc)
    f = fetcher(svc, Flaky(svc.rt.http_transport, fail=10_000))
    await f.run_once()
    svc.clock.advance(days=31)
    await f.run_once()
    [row] = rows(svc)
    assert row.status == "failed"
    assert row.reason.startswith("gave up after 2 attempts")
    assert "Service unavailable" in row.reason
    assert await f.run_once() == 0


async def test_a_permanent_error_fails_at_once(media_service: Service) -> None:
    svc = media_service
    await photo(svc)
    [row] = rows(svc)
    token = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    r = await svc.http.delete(f"/sandbox/graph/v23.0/{row.meta_media_id}", headers=token)
    assert r.json() == {"success": True}
    await svc.rt.media_fetcher.run_once()
    [row] = rows(svc)
    assert row.status == "failed"
    assert "does not exist" in row.reason
    r = await svc.http.get(f"/v1/media/{row.id}/content", headers=svc.auth("agent"))
    assert r.status_code == 409
    assert "failed" in r.json()["error"]["message"]


async def test_a_dead_workers_lease_runs_out_and_the_job_is_done(media_service: Service) -> None:
    svc = media_service
    data = await photo(svc)
    claimed = do_claim_fetches(svc.rt.engine, now=svc.clock.now, lease=timedelta(minutes=5), limit=10)
    assert len(claimed) == 1  # ... and that worker died before it downloaded anything
    assert await svc.rt.media_fetcher.run_once() == 0
    svc.clock.advance(minutes=6)
    assert await svc.rt.media_fetcher.run_once() == 1
    [row] = rows(svc)
    assert row.status == "ready"
    assert stored(svc, row) == data


CLAIM_AND_HANG = """
import sys, time
from datetime import datetime, timedelta
from carewindow.actions.media import do_claim_fetches
from carewindow.storage.engine import make_engine
jobs = do_claim_fetches(make_engine(sys.argv[1]), now=datetime.fromisoformat(sys.argv[2]),
                        lease=timedelta(minutes=5), limit=int(sys.argv[3]))
print(len(jobs), flush=True)
time.sleep(120)  # "downloading"
"""


@pytest.mark.slow
async def test_sigkill_during_downloads_loses_none(media_service: Service) -> None:
    svc = media_service
    sent = [await photo(svc) for _ in range(6)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLAIM_AND_HANG,
            str(svc.rt.settings.database_url),
            svc.clock.now.isoformat(),
            "4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "4"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # The two it did not claim are fetched now; the four it held wait for its lease to run out.
    while await svc.rt.media_fetcher.run_once():
        pass
    assert sum(r.status == "ready" for r in rows(svc)) == 2
    svc.clock.advance(minutes=6)
    while await svc.rt.media_fetcher.run_once():
        pass
    got = rows(svc)
    assert [r.status for r in got] == ["ready"] * 6
    assert sorted(hashlib.sha256(stored(svc, r)).hexdigest() for r in got) == sorted(
        hashlib.sha256(d).hexdigest() for d in sent
    )
