"""Send API + delivery workers to the sandbox, end to end: accepted -> provider answered -> wamid stored.

One ``carewindow serve`` (API, sandbox at /sandbox, webhooks; no in-process worker) and N
``carewindow worker`` processes on PostgreSQL. The sandbox sends its status webhooks back (sent,
delivered, read) as it does by default: that is realistic load on the same server. The reported rate
is messages whose wamid is stored, divided by the time from the first acceptance to the last wamid.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import func, select

from bench import common

CONTACTS = 500


def _open_windows(serve: common.Proc) -> None:
    """Each customer writes first, through the sandbox: both the sandbox and carewindow see an open
    window (the sandbox answers after its webhook to us was accepted). ``serve`` is the process that
    hosts the sandbox."""
    reqs = [
        common.http_request(
            f"/sandbox/customers/{common.wa_id_for(i)}/messages",
            orjson.dumps({"type": "text", "text": "Hola"}),
            {"Content-Type": "application/json"},
            serve.port,
        )
        for i in range(CONTACTS)
    ]
    r = common.load(serve.port, reqs, connections=16, max_seconds=60)
    if r.ok != CONTACTS:
        raise RuntimeError(f"only {r.ok} of {CONTACTS} sandbox customers could write first")


def _progress(url: str) -> tuple[int, int]:
    from carewindow.storage.engine import make_engine
    from carewindow.storage.tables import messages

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(messages).where(messages.c.direction == "out")
            ).scalar_one()
            done = conn.execute(
                select(func.count())
                .select_from(messages)
                .where(messages.c.direction == "out", messages.c.wamid.is_not(None))
            ).scalar_one()
    finally:
        engine.dispose()
    return int(total), int(done)


def _timings(url: str) -> tuple[float, list[float]]:
    """(seconds from first acceptance to last wamid, per-message accepted -> sent latencies in ms)."""
    from carewindow.storage.engine import make_engine
    from carewindow.storage.tables import message_events, messages

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(messages.c.created_at, message_events.c.at)
                .join(message_events, message_events.c.message_seq == messages.c.seq)
                .where(messages.c.direction == "out", message_events.c.status == "sent")
            ).all()
    finally:
        engine.dispose()
    if not rows:
        return 0.0, []
    first = min(r[0] for r in rows)
    last = max(r[1] for r in rows)
    return (last - first).total_seconds(), [(r[1] - r[0]).total_seconds() * 1000 for r in rows]


def delivery(*, workers: int, messages: int, max_seconds: float) -> dict[str, Any]:
    with common.database("postgresql") as url, common.processes() as procs:
        common.migrate(url)
        fast = {"CAREWINDOW_RATE_LIMIT_PER_SECOND": "100000"}  # the bench measures us, not the limit
        # Three processes as in production: carewindow serve (API + webhooks), the sandbox standing in
        # for Meta, and N delivery workers. The sandbox batches statuses into webhooks as Meta does.
        serve_port, sandbox_port = common.free_port(), common.free_port()
        meta = common.meta_env(sandbox_port)
        sandbox = common.start_sandbox(procs, port=sandbox_port, callback_port=serve_port)
        serve = common.start_serve_on(procs, url, serve_port, CAREWINDOW_RUN_WORKER="false", **meta, **fast)
        _open_windows(sandbox)
        worker_procs = [common.start_worker(procs, url, serve, **meta, **fast) for _ in range(workers)]
        measured = {
            "serve": serve,
            "sandbox": sandbox,
            **{f"worker{i + 1}": w for i, w in enumerate(worker_procs)},
        }
        cpu0 = {name: common.cpu_seconds(p.pid) for name, p in measured.items()}
        cpu0["postgresql"] = common.postgres_cpu_seconds()
        busy0, wall0 = common.machine_busy_seconds(), time.monotonic()
        headers = {"Authorization": f"Bearer {common.API_KEY}", "Content-Type": "application/json"}
        reqs = [
            common.http_request(
                "/v1/messages",
                orjson.dumps(
                    {"to": common.wa_id_for(i % CONTACTS), "type": "text", "text": {"body": f"Hola {i}"}}
                ),
                headers,
                serve.port,
            )
            for i in range(messages)
        ]
        load_cpu = time.process_time()
        lr = common.load(serve.port, reqs, connections=32, max_seconds=max_seconds)
        load_cpu = time.process_time() - load_cpu
        deadline = time.monotonic() + max_seconds
        total, done = _progress(url)
        while done < total and time.monotonic() < deadline:
            time.sleep(0.5)
            total, done = _progress(url)
        cpu = {name: common.cpu_seconds(p.pid) - cpu0[name] for name, p in measured.items()}
        cpu["postgresql"] = common.postgres_cpu_seconds() - cpu0["postgresql"]
        cpu["load generator"] = load_cpu
        cpu["machine"] = common.machine_busy_seconds() - busy0
        cores_busy = cpu["machine"] / (time.monotonic() - wall0)
        seconds, lat = _timings(url)
        lat.sort()
        rss = common.rss_mb(serve.pid)
    # Where the machine's CPU went, per message stored: every process of the run shares the 2 cores.
    cpu_per_message = {name: round(c / max(done, 1) * 1000, 3) for name, c in cpu.items()}
    return {
        "benchmark": f"delivery postgresql: send API + {workers} worker(s) -> sandbox, end to end",
        "value": round(done / seconds) if seconds else None,
        "unit": "messages/s",
        "accepted": lr.ok,
        "wamid_stored": done,
        "api_accept_rate": round(lr.rps),
        "api_p99_ms": round(lr.pct(0.99), 1),
        "accept_to_sent_p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "accept_to_sent_p99_ms": round(lat[int(len(lat) * 0.99)], 1) if lat else None,
        "server_rss_mb": round(rss, 1),
        "cpu_ms_per_message": cpu_per_message,
        "machine_cores_busy": round(cores_busy, 2),
        "target": ">= 1,000",
    }


def run(
    *, messages: int = 6000, workers: tuple[int, ...] = (1, 3), max_seconds: float = 90
) -> list[dict[str, Any]]:
    if not common.pg_available():
        return [{"benchmark": "delivery", "value": None, "unit": "skipped: no PostgreSQL"}]
    return [delivery(workers=w, messages=messages, max_seconds=max_seconds) for w in workers]
