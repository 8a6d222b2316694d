"""Cost per request as contacts grow: send decision, window lookup and webhook ingestion at 10 k and
1 M contacts.

Contacts are seeded fast with bulk inserts (COPY on PostgreSQL, executemany on SQLite), all with an
open window, then a real ``carewindow serve`` per size answers sequential requests to random contacts,
the sizes in interleaved rounds. The webhooks are customer messages from random existing contacts
(a contact lookup, a message insert and a contact update each).
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from bench import common
from carewindow.wire import signature


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


def _timed(
    client: httpx.Client, method: str, path: str, n: int, contacts: int, rng: random.Random, **kw: Any
) -> list[float]:
    times = []
    for _ in range(n):
        wa_id = common.wa_id_for(rng.randrange(contacts))
        t = time.perf_counter()
        r = client.request(method, path.format(wa_id=wa_id), json={**kw["json"], "to": wa_id} if kw else None)
        times.append(time.perf_counter() - t)
        if r.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return times


def _timed_webhooks(client: httpx.Client, n: int, contacts: int, rng: random.Random, tag: str) -> list[float]:
    times = []
    for i in range(n):
        wa_id = common.wa_id_for(rng.randrange(contacts))
        body = common.message_payload(wa_id, f"wamid.scale-{tag}-{i}", int(time.time()), "hola")
        headers = {signature.HEADER: signature.sign(body, common.SECRET), "Content-Type": "application/json"}
        t = time.perf_counter()
        r = client.post("/webhooks/whatsapp", content=body, headers=headers)
        times.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"POST /webhooks/whatsapp: {r.status_code} {r.text[:300]}")
    return times


def scale(kind: str, sizes: tuple[int, ...], *, requests: int, rounds: int = 6) -> list[dict[str, Any]]:
    """Every size gets its own database and server, all up at once; requests go to them in interleaved
    rounds, so a change in the shared machine's speed during the run weighs on every size alike."""
    with contextlib.ExitStack() as stack:
        procs = stack.enter_context(common.processes())
        setups: list[tuple[Any, ...]] = []
        for n in sizes:
            url = stack.enter_context(common.database(kind))
            common.migrate(url)
            seconds = seed(url, n)
            p = common.start_serve(procs, url, CAREWINDOW_RUN_WORKER="false")
            client = stack.enter_context(
                httpx.Client(
                    base_url=p.url, headers={"Authorization": f"Bearer {common.API_KEY}"}, timeout=30
                )
            )
            _timed(client, "GET", "/v1/contacts/{wa_id}/window", 50, n, random.Random(0))  # warm up
            setups.append((n, seconds, p, client, random.Random(1), [], [], []))
        body = {"type": "text", "text": {"body": "hola"}}
        per_round = max(1, requests // rounds)
        for r in range(rounds):
            for n, _s, _p, client, rng, window, send, hooks in setups:
                window += _timed(client, "GET", "/v1/contacts/{wa_id}/window", per_round, n, rng)
                send += _timed(client, "POST", "/v1/messages", per_round, n, rng, json=body)
                hooks += _timed_webhooks(client, per_round, n, rng, f"{n}-{r}")
        rows = []
        base_send = base_window = base_hook = 0.0
        for i, (n, seconds, p, _c, _r, window, send, hooks) in enumerate(setups):
            send_ms, window_ms = statistics.median(send) * 1000, statistics.median(window) * 1000
            hook_ms = statistics.median(hooks) * 1000
            if i == 0:
                base_send, base_window, base_hook = send_ms, window_ms, hook_ms
            rows.append(
                {
                    "benchmark": f"scale {kind}: {n:,} contacts",
                    "value": round(send_ms, 2),
                    "unit": "ms p50 send decision",
                    "window_lookup_p50_ms": round(window_ms, 2),
                    "webhook_p50_ms": round(hook_ms, 2),
                    "ratio_to_smallest": {
                        "send": round(send_ms / base_send, 2),
                        "window": round(window_ms / base_window, 2),
                        "webhook": round(hook_ms / base_hook, 2),
                    },
                    "seed_seconds": round(seconds, 1),
                    "server_rss_mb": round(common.rss_mb(p.pid), 1),
                    "target": "1 M within 1.2x of 10 k; RSS < 300 MB",
                }
            )
    return rows


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
        rows.extend(scale(kind, sizes, requests=requests))
    return rows
