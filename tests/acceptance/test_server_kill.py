"""kill -9 of ``carewindow serve`` during a webhook flood, with a sender that retries every delivery it
did not see acknowledged (as Meta does). Afterwards every event is stored exactly once."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from liveserver import carewindow_env, free_port, kill9, spawn, stop, wait_ready
from reliability import record

from carewindow.wire.signature import HEADER, sign

pytestmark = pytest.mark.slow
SECRET = "acceptance-app-secret"
EVENTS = 400
SENDERS = 8


def delivery(i: int, ts: int) -> bytes:
    wa = f"3460088{i % 50:04d}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000001",
                                "phone_number_id": "100000000000001",
                            },
                            "contacts": [{"profile": {"name": f"C {i % 50}"}, "wa_id": wa}],
                            "messages": [
                                {
                                    "from": wa,
                                    "id": f"wamid.flood.{i:06d}",
                                    "timestamp": str(ts + i),
                                    "type": "text",
                                    "text": {"body": f"mensaje {i}"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def test_server_killed_during_webhook_flood_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "carewindow.db"
    env = carewindow_env(
        CAREWINDOW_DATABASE_URL=f"sqlite:///{db}",
        CAREWINDOW_META_APP_SECRET=SECRET,
        CAREWINDOW_RUN_WORKER="false",
        CAREWINDOW_LOG_LEVEL="WARNING",
        CAREWINDOW_PUBLIC_URL=url,
    )
    ts = int(time.time()) - 3600
    bodies = [delivery(i, ts) for i in range(EVENTS)]
    acked: set[int] = set()
    attempts = [0]
    lock = threading.Lock()
    todo = list(range(EVENTS))
    server = spawn(["serve", "--port", str(port)], env=env, log=tmp_path / "serve1.log")
    restarted = None
    kills = 0

    def send(i: int, http: httpx.Client) -> None:
        with lock:
            attempts[0] += 1
        try:
            r = http.post(
                "/webhooks/whatsapp",
                content=bodies[i],
                headers={HEADER: sign(bodies[i], SECRET), "Content-Type": "application/json"},
            )
        except httpx.HTTPError:
            return  # not acknowledged: will be retried
        if r.status_code == 200:
            with lock:
                acked.add(i)

    try:
        wait_ready(url, server)
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=url, timeout=5) as http, ThreadPoolExecutor(SENDERS) as pool:
            while todo and time.monotonic() < deadline:
                batch, todo = todo[:SENDERS], todo[SENDERS:]
                list(pool.map(lambda i: send(i, http), batch))
                with lock:
                    todo += [i for i in batch if i not in acked]  # Meta retries what got no 200
                if kills == 0 and len(acked) >= EVENTS // 3:
                    # Kill with requests in flight: fire a batch and kill while it runs.
                    futures = [pool.submit(send, i, http) for i in todo[:SENDERS]]
                    time.sleep(0.005)
                    kill9(server)
                    kills += 1
                    for f in futures:
                        f.result()
                    time.sleep(0.3)  # the sender sees failures for a moment, then Meta retries
                    restarted = spawn(["serve", "--port", str(port)], env=env, log=tmp_path / "serve2.log")
                    wait_ready(url, restarted)
                    todo = [i for i in range(EVENTS) if i not in acked] + [
                        i for i in range(EVENTS) if i in acked and i % 7 == 0
                    ]  # and replays some acknowledged ones too (Meta may deliver twice)
    finally:
        kill9(server)
        if restarted is not None:
            stop(restarted)

    assert kills == 1
    assert acked == set(range(EVENTS)), f"{EVENTS - len(acked)} never acknowledged"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT wamid, COUNT(*) FROM messages WHERE direction = 'in' AND wamid LIKE 'wamid.flood.%' "
            "GROUP BY wamid"
        ).fetchall()
    stored = dict(rows)
    assert len(stored) == EVENTS, f"{EVENTS - len(stored)} acknowledged events lost"
    assert max(stored.values()) == 1, "an event stored twice"
    record(
        "kill9:server",
        area="fault",
        fault=(
            f"kill -9 of `carewindow serve` during a signed webhook flood ({EVENTS} events, {SENDERS} "
            "concurrent senders retrying every unacknowledged delivery and replaying some acknowledged ones)"
        ),
        cases=attempts[0],
        result=f"0 lost, 0 duplicated: {EVENTS} events stored once each after {attempts[0]} deliveries",
        test="tests/acceptance/test_server_kill.py",
    )
