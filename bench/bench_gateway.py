"""The Graph gateway's costs against the paths it reuses, in one process over an ASGI transport
(docs/gateway.md; targets from issue 22):

- a send through ``POST /graph/v23.0/{phone_number_id}/messages`` (answered once the sandbox, as
  Meta, answered) against a ``POST /v1/messages`` send taken to the same point (accepted, sent by the
  worker, and its status webhooks back and stored): CPU and wall time per send; target: the gateway's
  at most 1.5 times the /v1 one;
- webhook ingestion (``POST /webhooks/whatsapp``, a customer message and three statuses per four) with
  no subscriber and with one ``whatsapp.webhook`` fan-out subscriber: CPU per webhook; target: at most
  1.2 times.
  No housekeeper runs, so this is the ingest path's share (the fan-out rows written in its commit).

``python -m bench gateway`` (``--messages`` sends and webhooks per run; ``--db``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench import common
from carewindow.api.app import create_app
from carewindow.settings import Settings
from carewindow.storage import outbox
from carewindow.wire import signature

KEY = "bench-integration-key"
CONCURRENCY = 16


def _settings(url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=url,
        provider="sandbox",
        public_url="http://bench",
        api_keys=f"{KEY}:integration",
        worker_poll_seconds=0.005,
        sandbox_status_batch_seconds=0,
        rate_limit_per_second=100_000,
        **extra,
    )


async def _gather(n: int, call: Any) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def _sends(url: str, n: int, *, gateway: bool) -> dict[str, float]:
    app = create_app(_settings(url), loopback=True, run_worker=True)
    auth = {"Authorization": f"Bearer {KEY}"}
    async with app.router.lifespan_context(app):  # type: ignore[arg-type]
        rt = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as http:

            async def opens(i: int) -> None:  # the customer writes first: the window is open
                r = await http.post(
                    f"/sandbox/customers/{common.wa_id_for(i)}/messages", json={"text": "hola"}
                )
                assert r.status_code == 200, r.text

            await _gather(n, opens)
            await rt.sandbox.drain(30)
            path = f"/graph/v23.0/{rt.phone_number_id}/messages" if gateway else "/v1/messages"

            async def send(i: int) -> None:
                body = {"to": common.wa_id_for(i), "type": "text", "text": {"body": f"respuesta {i}"}}
                if gateway:
                    body["messaging_product"] = "whatsapp"
                r = await http.post(
                    path, content=orjson.dumps(body), headers={**auth, "Content-Type": "application/json"}
                )
                assert r.status_code in (200, 202), r.text

            c0, t0 = time.process_time(), time.perf_counter()
            await _gather(n, send)
            while True:  # taken to the same point: every message handed to the provider
                with rt.engine.connect() as conn:
                    if outbox.due_count(conn, datetime.now(UTC)) == 0 and len(rt.sandbox.sent) >= n:
                        break
                await asyncio.sleep(0.005)
            # ... and every status webhook the sandbox sends about them delivered and stored: a /v1
            # run would otherwise stop the clock before most of its statuses came back, while the
            # gateway's, spread over the run, are ingested inside it.
            await rt.sandbox.drain(30)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"cpu_ms": cpu / n * 1e3, "wall_ms": wall / n * 1e3}


async def _ingest(url: str, n: int, *, subscribers: int) -> dict[str, float]:
    app = create_app(_settings(url), loopback=True, run_worker=False)
    async with app.router.lifespan_context(app):  # type: ignore[arg-type]
        rt = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as http:
            for _ in range(subscribers):
                r = await http.post(
                    "/v1/subscriptions",
                    headers={"Authorization": f"Bearer {KEY}"},
                    json={"url": "http://127.0.0.1:9/h", "events": ["whatsapp.webhook"], "secret": "s" * 16},
                )
                assert r.status_code == 201, r.text
            now = int(time.time())
            mix = common.webhook_mix(n, contacts=max(1, n // 4), now=now)

            async def post(i: int) -> None:
                body = mix.bodies[i]
                headers = {
                    signature.HEADER: signature.sign(body, rt.app_secret),
                    "Content-Type": "application/json",
                }
                r = await http.post("/webhooks/whatsapp", content=body, headers=headers)
                assert r.status_code == 200, r.text

            c0, t0 = time.process_time(), time.perf_counter()
            await _gather(len(mix.bodies), post)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"cpu_us": cpu / len(mix.bodies) * 1e6, "wall_us": wall / len(mix.bodies) * 1e6}


def run(
    *, messages: int = 400, databases: tuple[str, ...] = ("sqlite", "postgresql"), rounds: int = 3
) -> list[dict[str, Any]]:
    """Each figure is the median of ``rounds`` interleaved runs (one run is a fraction of a second of
    CPU, so single runs swing by tens of per cent); every run's ratio is kept in ``runs``."""
    rows: list[dict[str, Any]] = []
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            continue
        runs: dict[str, list[dict[str, float]]] = {"v1": [], "gateway": [], "ingest": [], "ingest+fanout": []}
        for _ in range(rounds):
            for name, coro in (
                ("v1", lambda url: _sends(url, messages, gateway=False)),
                ("gateway", lambda url: _sends(url, messages, gateway=True)),
                ("ingest", lambda url: _ingest(url, messages * 4, subscribers=0)),
                ("ingest+fanout", lambda url: _ingest(url, messages * 4, subscribers=1)),
            ):
                with common.database(kind) as url:
                    common.migrate(url)
                    runs[name].append(asyncio.run(coro(url)))
        send_ratios = sorted(
            g["cpu_ms"] / v["cpu_ms"] for g, v in zip(runs["gateway"], runs["v1"], strict=True)
        )
        med = (len(send_ratios) - 1) // 2
        rows.append(
            {
                "benchmark": f"gateway send vs /v1 send ({kind}, {messages} sends, sent by the worker)",
                "value": round(send_ratios[med], 2),
                "unit": "× CPU per send",
                "gateway_cpu_ms": round(_median(runs["gateway"], "cpu_ms"), 3),
                "v1_cpu_ms": round(_median(runs["v1"], "cpu_ms"), 3),
                "gateway_wall_ms": round(_median(runs["gateway"], "wall_ms"), 3),
                "v1_wall_ms": round(_median(runs["v1"], "wall_ms"), 3),
                "runs": [round(r, 2) for r in send_ratios],
                "target": "≤ 1.5",
            }
        )
        fan_ratios = sorted(
            f["cpu_us"] / n["cpu_us"] for f, n in zip(runs["ingest+fanout"], runs["ingest"], strict=True)
        )
        rows.append(
            {
                "benchmark": (
                    f"webhook ingestion with one fan-out subscriber vs none ({kind}, {messages * 4} webhooks)"
                ),
                "value": round(fan_ratios[med], 2),
                "unit": "× CPU per webhook",
                "fanout_cpu_us": round(_median(runs["ingest+fanout"], "cpu_us"), 1),
                "none_cpu_us": round(_median(runs["ingest"], "cpu_us"), 1),
                "runs": [round(r, 2) for r in fan_ratios],
                "target": "≤ 1.2",
            }
        )
    return rows


def _median(runs: list[dict[str, float]], key: str) -> float:
    values = sorted(r[key] for r in runs)
    return values[(len(values) - 1) // 2]
