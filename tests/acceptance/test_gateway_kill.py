"""kill -9 of ``carewindow serve`` while a Graph gateway send waits for Meta's answer.

The gateway answers a send after Meta answered it (docs/gateway.md): meanwhile the message is already
stored with its outbox row. Here the serving process has no delivery worker, so the request is still
waiting when the process is SIGKILLed; the client sees its connection drop. A new ``serve`` (with its
worker) delivers the stored message, and the client's retry with the same ``Idempotency-Key`` is answered
with that message's wamid: it reached the sandbox once, nothing was lost and nothing doubled.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from liveserver import carewindow_env, free_port, kill9, spawn, stop, wait_ready
from reliability import record

pytestmark = pytest.mark.slow
ADMIN = "acceptance-admin-key"
BOT = "acceptance-integration-key"
CUSTOMER = "34600777001"


def _outbound(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, wamid FROM messages WHERE direction = 'out'").fetchall()


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_killed_mid_gateway_send_loses_nothing_and_sends_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "carewindow.db"
    common = {
        "CAREWINDOW_DATABASE_URL": f"sqlite:///{db}",
        "CAREWINDOW_API_KEYS": f"{ADMIN}:admin,{BOT}:integration",
        "CAREWINDOW_META_APP_SECRET": "acceptance-app-secret",
        "CAREWINDOW_PUBLIC_URL": url,
        "CAREWINDOW_LOG_LEVEL": "WARNING",
        "CAREWINDOW_GATEWAY_ANSWER_SECONDS": "60",
    }
    serve = ["serve", "--port", str(port)]
    first = spawn(serve, env=carewindow_env(**common, CAREWINDOW_RUN_WORKER="false"), log=tmp_path / "1.log")
    second = None
    answers: list[httpx.Response | Exception] = []
    try:
        wait_ready(url, first)
        info = httpx.get(f"{url}/sandbox/info", timeout=5).json()
        r = httpx.post(f"{url}/sandbox/customers/{CUSTOMER}/messages", json={"text": "hola"}, timeout=10)
        assert r.status_code == 200, r.text
        path = f"{url}/graph/v23.0/{info['phone_number_id']}/messages"
        body = orjson.dumps(
            {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "on it"}}
        )
        headers = {
            "Authorization": f"Bearer {BOT}",
            "Content-Type": "application/json",
            "Idempotency-Key": "bot-reply-1",
        }

        def call() -> None:
            try:
                answers.append(httpx.post(path, content=body, headers=headers, timeout=30))
            except httpx.HTTPError as exc:
                answers.append(exc)

        waiting = threading.Thread(target=call)
        waiting.start()
        _wait(lambda: len(_outbound(db)) == 1, 20, "the gateway send to be stored")
        assert not answers, "the gateway answered before Meta did"
        kill9(first)
        waiting.join(10)
        assert len(answers) == 1 and isinstance(answers[0], httpx.HTTPError), answers
        assert _outbound(db) == [("queued", None)]  # stored, not sent, not lost

        second = spawn(serve, env=carewindow_env(**common), log=tmp_path / "2.log")
        wait_ready(url, second)
        retry = httpx.post(path, content=body, headers=headers, timeout=30)
        assert retry.status_code == 200, retry.text
        wamid = retry.json()["messages"][0]["id"]
        sent = httpx.get(f"{url}/sandbox/sent", params={"to": CUSTOMER}, timeout=5).json()
        items = sent if isinstance(sent, list) else sent.get("data", sent.get("sent", []))
        assert [s["wamid"] for s in items] == [wamid]  # once, with the id the client was given
        rows = _outbound(db)
        assert len(rows) == 1 and rows[0][1] == wamid and rows[0][0] in ("sent", "delivered", "read")
    finally:
        kill9(first)
        if second is not None:
            stop(second)
    record(
        "kill9:gateway",
        area="fault",
        fault="kill -9 of `carewindow serve` while a Graph gateway send waits for Meta's answer; the "
        "client retries with the same Idempotency-Key after a restart",
        cases=1,
        result="0 lost, 0 duplicated: the stored send went out once after the restart and the retry was "
        "answered with its wamid",
        test="tests/acceptance/test_gateway_kill.py",
        lost=0,
    )
