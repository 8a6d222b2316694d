"""The ingest group commit's unit of work in one process, without HTTP: ``do_ingest_batch`` on batches
of the ingest bench's mix (1 customer message : 3 statuses), one transaction each; once with statuses
of messages carewindow sent (known) and once of messages it never sent (unknown: sent by another tool
from the same number; they are kept as orphan statuses).

It isolates the write path from the event loop and from wrk, and reports CPU time per event (10th
percentile and median over the batches: the 10th percentile moves least when the shared machine is
busy), wall time per batch and statements per batch.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from bench import common
from carewindow.actions.ingest import IngestJob, do_ingest_batch
from carewindow.policy import PolicySettings
from carewindow.storage.engine import HeldConnection, make_engine
from carewindow.wire.webhook import parse_webhook


def batch(kind: str, *, events: int, size: int, unknown: bool = False, media: float = 0.0) -> dict[str, Any]:
    now = int(time.time())
    mix = common.webhook_mix(events, contacts=5000, now=now, others=unknown, media=media)
    with common.database(kind) as url:
        common.migrate(url)
        common.seed_outbound(url, messages=mix.outbound_messages, contacts=5000, now_ts=now)
        engine = make_engine(url)
        statements = [0]

        def count(*_args: Any) -> None:
            statements[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        settings = PolicySettings()
        cpu, wall = [], []
        pg0 = common.postgres_cpu_seconds() if kind == "postgresql" else 0.0
        held = HeldConnection(engine)  # as the group commit's thread keeps its connection
        try:
            for start in range(0, len(mix.bodies) - size + 1, size):
                jobs = [
                    IngestJob(body=b, batch=parse_webhook(b), received_at=datetime.now(UTC))
                    for b in mix.bodies[start : start + size]
                ]
                c0, t0 = time.process_time(), time.perf_counter()
                with held.write_tx() as conn:
                    do_ingest_batch(conn, jobs, settings=settings)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)
            # Before the pool closes: an exited backend's CPU time is no longer counted.
            pg = common.postgres_cpu_seconds() - pg0 if kind == "postgresql" else 0.0
        finally:
            held.close()
            engine.dispose()
    n = len(cpu)
    ordered = sorted(cpu)
    return {
        "benchmark": (
            f"ingest batch {kind}: do_ingest_batch in process, {size} webhooks per commit"
            + (", statuses of messages sent elsewhere" if unknown else "")
            + (f", {media:.0%} of the customer messages media" if media else "")
        ),
        "value": round(ordered[n // 10] / size * 1e6, 1),
        "unit": "µs CPU/event (p10)",
        "cpu_us_per_event_median": round(statistics.median(cpu) / size * 1e6, 1),
        "wall_ms_per_batch": round(statistics.median(wall) * 1e3, 2),
        "statements_per_batch": round(statements[0] / n, 1),
        "postgresql_cpu_us_per_event": round(pg / (n * size) * 1e6, 1) if kind == "postgresql" else None,
        "batches": n,
        "target": "-",
    }


def run(
    *, databases: tuple[str, ...] = ("sqlite", "postgresql"), events: int = 6000, size: int = 24
) -> list[Any]:
    rows = []
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            continue
        rows.append(batch(kind, events=events, size=size))
        rows.append(batch(kind, events=events, size=size, unknown=True))
    return rows
