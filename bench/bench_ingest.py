"""Webhook ingestion against real ``carewindow serve`` processes, next to the bare-Starlette ceiling.

Load comes from ``wrk`` (closed loop, fixed connections) rotating through pre-signed Meta-format
bodies in groups of 1 message : 3 statuses. Enough distinct bodies are generated that the run does
not replay them (replays are cheaper: they change nothing). Latency at a fixed rate comes from the
asyncio raw-socket generator in ``bench.common`` (Debian's wrk has no ``-R``). On PostgreSQL the
same load also goes to ``serve --workers 2``: several processes sharing the database is how
PostgreSQL deployments add capacity, and one process's event loop and commit thread share a GIL.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx

from bench import common

MIN_RATE = 12_000  # bodies generated per second of load, at least ...


def _bodies(seconds: float, ceiling_rps: float) -> int:
    """... and enough for 60 % of the ceiling: a run must not replay bodies (replays are cheaper)."""
    return int(seconds * max(MIN_RATE, 0.6 * ceiling_rps))


def ceiling(*, seconds: float, connections: int) -> dict[str, Any]:
    mix = common.webhook_mix(2000, contacts=500, now=int(time.time()), tag="c")
    with common.processes() as procs:
        port = common.free_port()
        argv = [sys.executable, "-m", "uvicorn", "bench.ceiling_app:app", "--port", str(port)]
        p = common.start(procs, [*argv, *common.UVICORN_ARGS], {}, port=port)
        common.run_wrk(p.url + "/webhooks/whatsapp", mix.bodies, mix.signatures, seconds=1, connections=8)
        cpu0 = common.cpu_seconds(p.pid)
        r = common.run_wrk(
            p.url + "/webhooks/whatsapp", mix.bodies, mix.signatures, seconds=seconds, connections=connections
        )
        cpu = common.cpu_seconds(p.pid) - cpu0
    return {
        "benchmark": "ceiling: bare Starlette, read body, 200",
        "value": round(r.rps),
        "unit": "req/s",
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "server_cpu_us_per_req": round(cpu / max(r.requests, 1) * 1e6),
        "target": "reference",
    }


def ingest(
    kind: str,
    *,
    seconds: float,
    connections: int,
    fixed_rate: float,
    fixed_seconds: float,
    ceiling_rps: float,
    media: float = 0.0,
) -> list[dict[str, Any]]:
    """``media``: that share of the customer messages are photos (bench/bench_media.py)."""
    now = int(time.time())
    mix = common.webhook_mix(_bodies(seconds, ceiling_rps), contacts=5000, now=now, media=media)
    fixed_count = int(fixed_rate * fixed_seconds)
    fixed = common.webhook_mix(fixed_count, contacts=5000, now=now, tag="f", media=media)
    rows: list[dict[str, Any]] = []
    with common.database(kind) as url, common.processes() as procs:
        common.migrate(url)
        common.seed_outbound(
            url, messages=mix.outbound_messages + fixed.outbound_messages, contacts=5000, now_ts=now
        )
        # The fixed-rate mix refers to the outbound messages after the first mix's.
        fixed = common.webhook_mix(fixed_count, contacts=5000, now=now, tag="f", media=media)
        fixed = _shift(fixed, mix.outbound_messages, now)
        p = common.start_serve(procs, url, CAREWINDOW_RUN_WORKER="false")
        # Warm up on a few bodies that the measured run will replay once (at its very start only).
        warm = common.webhook_mix(400, contacts=100, now=now, tag="w")
        common.load(p.port, _requests(p.port, warm), connections=8, max_seconds=20)
        m0 = _metrics(p.url)
        cpu0 = common.cpu_seconds(p.pid)
        r = common.run_wrk(
            p.url + "/webhooks/whatsapp", mix.bodies, mix.signatures, seconds=seconds, connections=connections
        )
        cpu = common.cpu_seconds(p.pid) - cpu0
        m1 = _metrics(p.url)
        batches = m1["carewindow_ingest_batches_total"] - m0["carewindow_ingest_batches_total"]
        items = m1["carewindow_ingest_items_total"] - m0["carewindow_ingest_items_total"]
        row = _wrk_row(f"ingest {kind}: durable webhooks (1 msg : 3 statuses), wrk -c{connections}", r, cpu)
        row["ratio_to_ceiling"] = round(r.rps / ceiling_rps, 3) if ceiling_rps else None
        row["replayed_bodies"] = max(0, r.requests - len(mix.bodies))
        row["avg_group_commit"] = round(items / batches, 1) if batches else None
        rows.append(row)
        lr = common.load(
            p.port,
            _requests(p.port, fixed),
            rate=fixed_rate,
            connections=64,
            max_seconds=fixed_seconds * 3 + 10,
        )
        rows.append(
            {
                "benchmark": f"ingest {kind}: latency at a fixed {fixed_rate:,.0f} events/s",
                "value": round(lr.pct(0.99), 2),
                "unit": "ms p99",
                "p50_ms": round(lr.p50, 2),
                "p99_ms": round(lr.pct(0.99), 2),
                "requests": lr.sent,
                "errors": lr.sent - lr.ok,
                "target": "p99 <= 50 ms",
            }
        )
        rows.append(
            {
                "benchmark": f"ingest {kind}: server RSS after the runs",
                "value": round(common.rss_mb(p.pid), 1),
                "unit": "MB",
                "target": "-",
            }
        )
    return rows


def ingest_unknown_statuses(
    kind: str, *, seconds: float, connections: int, ceiling_rps: float
) -> dict[str, Any]:
    """The wrk run of ``ingest`` with statuses of messages carewindow never sent (another tool sends
    from the same number): each is kept as an orphan status instead of updating a message."""
    now = int(time.time())
    mix = common.webhook_mix(_bodies(seconds, ceiling_rps), contacts=5000, now=now, others=True)
    with common.database(kind) as url, common.processes() as procs:
        common.migrate(url)
        common.seed_outbound(url, messages=0, contacts=5000, now_ts=now)
        p = common.start_serve(procs, url, CAREWINDOW_RUN_WORKER="false")
        warm = common.webhook_mix(400, contacts=100, now=now, tag="w", others=True)
        common.load(p.port, _requests(p.port, warm), connections=8, max_seconds=20)
        cpu0 = common.cpu_seconds(p.pid)
        r = common.run_wrk(
            p.url + "/webhooks/whatsapp", mix.bodies, mix.signatures, seconds=seconds, connections=connections
        )
        cpu = common.cpu_seconds(p.pid) - cpu0
    row = _wrk_row(
        f"ingest {kind}: durable webhooks (1 msg : 3 statuses of messages sent elsewhere), "
        f"wrk -c{connections}",
        r,
        cpu,
    )
    row["ratio_to_ceiling"] = round(r.rps / ceiling_rps, 3) if ceiling_rps else None
    row["replayed_bodies"] = max(0, r.requests - len(mix.bodies))
    return row


def ingest_processes(
    kind: str, *, workers: int, seconds: float, connections: int, ceiling_rps: float
) -> dict[str, Any]:
    """The wrk run of ``ingest`` against ``serve --workers N`` (each process its own group commit)."""
    now = int(time.time())
    mix = common.webhook_mix(_bodies(seconds, ceiling_rps), contacts=5000, now=now)
    with common.database(kind) as url, common.processes() as procs:
        common.migrate(url)
        common.seed_outbound(url, messages=mix.outbound_messages, contacts=5000, now_ts=now)
        port = common.free_port()
        # Several processes cannot share the in-process sandbox; ingestion does not call the provider.
        env = common.server_env(
            url,
            port,
            CAREWINDOW_RUN_WORKER="false",
            CAREWINDOW_PROVIDER="meta",
            CAREWINDOW_META_TOKEN="unused",
        )
        argv = [*common.CAREWINDOW, "serve", "--host", "127.0.0.1", "--port", str(port)]
        p = common.start(procs, [*argv, "--workers", str(workers)], env, port=port)
        warm = common.webhook_mix(400, contacts=100, now=now, tag="w")
        common.load(p.port, _requests(p.port, warm), connections=8, max_seconds=20)
        cpu0 = common.tree_cpu_seconds(p.pid)
        r = common.run_wrk(
            p.url + "/webhooks/whatsapp", mix.bodies, mix.signatures, seconds=seconds, connections=connections
        )
        cpu = common.tree_cpu_seconds(p.pid) - cpu0
    row = _wrk_row(f"ingest {kind}, {workers} serve processes: durable webhooks, wrk -c{connections}", r, cpu)
    row["ratio_to_ceiling"] = round(r.rps / ceiling_rps, 3) if ceiling_rps else None
    row["replayed_bodies"] = max(0, r.requests - len(mix.bodies))
    return row


def _wrk_row(benchmark: str, r: common.WrkResult, cpu: float) -> dict[str, Any]:
    """A row for one wrk run of ingestion; ``cpu``: the server's CPU seconds during it."""
    return {
        "benchmark": benchmark,
        "value": round(r.rps),
        "unit": "events/s",
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "errors": r.non_2xx + r.socket_errors,
        "server_cpu_us_per_event": round(cpu / max(r.requests, 1) * 1e6),
        "target": ">= 5,000 and >= 50% of ceiling",
    }


def _shift(mix: common.WebhookMix, offset: int, now: int) -> common.WebhookMix:
    """Re-point the statuses of ``mix`` at outbound messages ``offset`` and later."""
    from carewindow.wire import signature

    bodies: list[bytes] = []
    for i, body in enumerate(mix.bodies):
        g = i // 4
        if i % 4:
            body = body.replace(common.out_wamid(g).encode(), common.out_wamid(g + offset).encode())
        bodies.append(body)
    return common.WebhookMix(
        bodies, [signature.sign(b, common.SECRET) for b in bodies], mix.outbound_messages
    )


def _requests(port: int, mix: common.WebhookMix) -> list[bytes]:
    return [
        common.http_request(
            "/webhooks/whatsapp",
            b,
            {"X-Hub-Signature-256": s, "Content-Type": "application/json"},
            port,
        )
        for b, s in zip(mix.bodies, mix.signatures, strict=True)
    ]


def _metrics(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def run(
    *,
    seconds: float = 10,
    connections: int = 64,
    fixed_rate: float = 1000,
    fixed_seconds: float = 10,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
) -> list[dict[str, Any]]:
    rows = [ceiling(seconds=seconds, connections=connections)]
    ceiling_rps = float(rows[0]["value"])
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            rows.append({"benchmark": "ingest postgresql", "value": None, "unit": "skipped: no PostgreSQL"})
            continue
        rows.extend(
            ingest(
                kind,
                seconds=seconds,
                connections=connections,
                fixed_rate=fixed_rate,
                fixed_seconds=fixed_seconds,
                ceiling_rps=ceiling_rps,
            )
        )
        rows.append(
            ingest_unknown_statuses(kind, seconds=seconds, connections=connections, ceiling_rps=ceiling_rps)
        )
        if kind == "postgresql":
            rows.append(
                ingest_processes(
                    kind, workers=2, seconds=seconds, connections=connections, ceiling_rps=ceiling_rps
                )
            )
    return rows
