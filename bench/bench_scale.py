"""Cost per request as contacts grow: send-decision and window-lookup latency at 10 k and 1 M contacts.

Contacts are seeded fast with bulk inserts (COPY on PostgreSQL, executemany on SQLite), all with an
open window, then a real ``carewindow serve`` answers sequential requests to random contacts.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from bench import common


def _rows(n: int) -> Any:
    now = datetime.now(UTC)
    exp = now + timedelta(hours=24)
    for i in range(n):
        yield (common.PHONE_NUMBER_ID, common.wa_id_for(i), "opted_in", 0, 0, 0, now, now, exp, now, now)


COLS = (
    "phone_number_id, wa_id, consent_status, reengagement_count, unread_count, held_count, "
    "last_inbound_at, window_opened_at, window_expires_at, created_at, updated_at"
)


def seed(url: str, n: int) -> float:
    start = time.perf_counter()
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        marks = ",".join("?" * 11)
        with db:
            db.executemany(
                f"INSERT INTO contacts ({COLS}) VALUES ({marks})",
                ((*r[:6], *(d.isoformat(" ") for d in r[6:])) for r in _rows(n)),
            )
        db.close()
    else:
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY contacts ({COLS}) FROM STDIN") as copy:
                for r in _rows(n):
                    copy.write_row(r)
            cur.execute("ANALYZE contacts")
    return time.perf_counter() - start


def _timed(client: httpx.Client, method: str, path: str, n: int, contacts: int, **kw: Any) -> float:
    rng = random.Random(1)
    times = []
    for _ in range(n):
        wa_id = common.wa_id_for(rng.randrange(contacts))
        t = time.perf_counter()
        r = client.request(
            method, path.format(wa_id=wa_id), **({"json": {**kw["json"], "to": wa_id}} if kw else {})
        )
        times.append(time.perf_counter() - t)
        if r.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return statistics.median(times) * 1000


def scale(kind: str, contacts: int, *, requests: int) -> dict[str, Any]:
    with common.database(kind) as url, common.processes() as procs:
        common.migrate(url)
        seconds = seed(url, contacts)
        p = common.start_serve(procs, url, CAREWINDOW_RUN_WORKER="false")
        headers = {"Authorization": f"Bearer {common.API_KEY}"}
        with httpx.Client(base_url=p.url, headers=headers, timeout=30) as c:
            _timed(c, "GET", "/v1/contacts/{wa_id}/window", 50, contacts)  # warm up
            window = _timed(c, "GET", "/v1/contacts/{wa_id}/window", requests, contacts)
            body = {"type": "text", "text": {"body": "hola"}}
            send = _timed(c, "POST", "/v1/messages", requests, contacts, json=body)
        rss = common.rss_mb(p.pid)
    return {
        "benchmark": f"scale {kind}: {contacts:,} contacts",
        "value": round(send, 2),
        "unit": "ms p50 send decision",
        "window_lookup_p50_ms": round(window, 2),
        "seed_seconds": round(seconds, 1),
        "server_rss_mb": round(rss, 1),
        "target": "1 M within 1.2x of 10 k; RSS < 300 MB",
    }


def run(
    *,
    sizes: tuple[int, ...] = (10_000, 1_000_000),
    requests: int = 300,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
) -> list[dict[str, Any]]:
    rows = []
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            continue
        rows.extend(scale(kind, n, requests=requests) for n in sizes)
    return rows
