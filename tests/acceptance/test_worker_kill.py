"""kill -9 of a delivery worker mid-flood, with Meta faults (no answer, 503) on the way.

A ``carewindow serve`` process hosts the API and the sandbox (no worker in it); a separate ``carewindow
worker`` process delivers and is SIGKILLed while sends are in flight; a second worker finishes. Then the
sandbox's record of what it accepted is compared with the messages table: no wamid twice, no body twice,
every message sent, failed with a reason, or ``uncertain`` (and each uncertain one at most once at Meta).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from liveserver import carewindow_env, free_port, kill9, spawn, stop, wait_ready
from reliability import record

pytestmark = pytest.mark.slow
KEY = "acceptance-admin-key"
CONTACTS = 10
MESSAGES = 150


def _pending(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("carewindow_outbox_pending "))
    return int(float(line.split()[1]))


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_delivery_sends_nothing_twice(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "carewindow.db"
    common = {
        "CAREWINDOW_DATABASE_URL": f"sqlite:///{db}",
        "CAREWINDOW_API_KEYS": f"{KEY}:admin",
        "CAREWINDOW_META_APP_SECRET": "acceptance-app-secret",
        "CAREWINDOW_PUBLIC_URL": url,
        "CAREWINDOW_LOG_LEVEL": "WARNING",
    }
    server = spawn(
        ["serve", "--port", str(port)],
        env=carewindow_env(**common, CAREWINDOW_RUN_WORKER="false"),
        log=tmp_path / "serve.log",
    )
    worker_env = carewindow_env(
        **common,
        CAREWINDOW_META_BASE_URL=f"{url}/sandbox/graph",
        CAREWINDOW_LEASE_SECONDS="2",
        CAREWINDOW_META_TIMEOUT_SECONDS="1",
        CAREWINDOW_RATE_LIMIT_PER_SECOND="40",
        CAREWINDOW_WORKER_BATCH_SIZE="10",
    )
    workers = []
    try:
        wait_ready(url, server)
        h = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=url, timeout=10) as http:
            contacts = [f"3460099{i:04d}" for i in range(CONTACTS)]
            for wa in contacts:
                r = http.post(f"/sandbox/customers/{wa}/messages", json={"text": "hola"})
                assert r.status_code == 200, r.text
            for i in range(MESSAGES):
                r = http.post(
                    "/v1/messages",
                    headers=h,
                    json={"to": contacts[i % CONTACTS], "type": "text", "text": {"body": f"flood {i}"}},
                )
                assert r.status_code == 202, r.text
            # Two sends that Meta accepts but never answers: the worker must not send them again.
            r = http.post(
                "/sandbox/faults", json={"fail_next": 2, "mode": "accept_timeout", "timeout_seconds": 20}
            )
            assert r.status_code == 200, r.text
            workers.append(spawn(["worker"], env=worker_env, log=tmp_path / "worker1.log"))
            _wait(lambda: http.get("/sandbox/stats").json()["accepted"] >= 50, 30, "the first sends")
            kill9(workers[0])  # mid-flood: a batch is typically in flight right now
            killed_at = http.get("/sandbox/stats").json()["accepted"]
            # Three 503s for the next worker: retried with backoff, never duplicated.
            r = http.post("/sandbox/faults", json={"fail_next": 3, "status": 503, "mode": "error"})
            assert r.status_code == 200, r.text
            workers.append(spawn(["worker"], env=worker_env, log=tmp_path / "worker2.log"))
            _wait(lambda: _pending(url) == 0, 60, "the outbox to drain")
            sent = http.get("/sandbox/sent").json()
            stats = http.get("/sandbox/stats").json()
            # Sends that reached Meta unanswered are confirmed by their status webhooks, which carry
            # our message id (biz_opaque_callback_data): wait for them to settle.
            at_meta = {s["body"]["text"]["body"] for s in sent}
            _wait(lambda: not (_uncertain_bodies(db) & at_meta), 30, "statuses to settle uncertain sends")
    finally:
        for w in workers:
            kill9(w)
        stop(server)

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT content, status, wamid, error_code FROM messages WHERE direction = 'out'"
        ).fetchall()
    assert len(rows) == MESSAGES
    wamids = [s["wamid"] for s in sent]
    assert len(wamids) == len(set(wamids)), "a wamid listed twice"
    assert stats["duplicates"] == 0, stats["duplicate_sends"]
    bodies_at_meta: dict[str, int] = {}
    for s in sent:
        text = s["body"]["text"]["body"]
        bodies_at_meta[text] = bodies_at_meta.get(text, 0) + 1
    assert max(bodies_at_meta.values()) == 1, "a message reached Meta twice"
    by_status: dict[str, int] = {}
    uncertain_at_meta = 0
    for content, status, wamid, error_code in rows:
        body = json.loads(content)["text"]["body"]
        by_status[status] = by_status.get(status, 0) + 1
        if status in ("sent", "delivered", "read"):
            assert wamid in set(wamids) and bodies_at_meta.get(body) == 1
        elif status == "uncertain":
            assert bodies_at_meta.get(body, 0) <= 1 and error_code == "delivery_uncertain"
            uncertain_at_meta += bodies_at_meta.get(body, 0)
        else:
            assert status == "failed" and error_code, (body, status)
    assert uncertain_at_meta == 0  # every send that reached Meta was confirmed by its statuses
    lost = MESSAGES - sum(by_status.values())
    record(
        "kill9:worker",
        area="fault",
        fault=(
            f"kill -9 of a `carewindow worker` mid-flood ({MESSAGES} messages, killed after {killed_at} "
            "accepted), 2 sends accepted but unanswered, then 3 × HTTP 503; a second worker finishes"
        ),
        cases=MESSAGES,
        result=(
            f"0 lost, 0 duplicated (sandbox duplicates = {stats['duplicates']}); "
            + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
            + "; every uncertain send never reached Meta, and the ones that did were confirmed by their"
            " status webhooks (biz_opaque_callback_data)"
        ),
        test="tests/acceptance/test_worker_kill.py",
        lost=lost,
    )


def _uncertain_bodies(db: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT content FROM messages WHERE status = 'uncertain'").fetchall()
    return {json.loads(content)["text"]["body"] for (content,) in rows}
