"""Secrets never reach the logs: a real server at DEBUG, exercised through auth, keys, webhooks and sends,
then its whole output is searched for every secret it was given or handed out."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from liveserver import carewindow_env, free_port, spawn, stop, wait_ready
from reliability import record
from test_server_kill import delivery

from carewindow.wire.signature import HEADER, sign

pytestmark = pytest.mark.slow
ADMIN = "cwk-admin-0f9e8d7c6b5a"
AGENT = "cwk-agent-1a2b3c4d5e6f"
APP_SECRET = "app-secret-7d6c5b4a3f2e"
TOKEN = "meta-token-EAAG9x8y7z6w"
VERIFY = "verify-token-5u4t3s2r"


def test_no_secret_in_debug_logs(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = spawn(
        ["serve", "--port", str(port)],
        env=carewindow_env(
            CAREWINDOW_DATABASE_URL=f"sqlite:///{tmp_path / 'cw.db'}",
            CAREWINDOW_API_KEYS=f"{ADMIN}:admin,{AGENT}:agent",
            CAREWINDOW_META_APP_SECRET=APP_SECRET,
            CAREWINDOW_META_TOKEN=TOKEN,
            CAREWINDOW_META_VERIFY_TOKEN=VERIFY,
            CAREWINDOW_PUBLIC_URL=url,
            CAREWINDOW_LOG_LEVEL="DEBUG",
        ),
        log=log,
    )
    created = ""
    try:
        wait_ready(url, server)
        with httpx.Client(base_url=url, timeout=10) as http:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            http.get("/v1/conversations", headers={"Authorization": f"Bearer {ADMIN}x"})  # bad key
            http.get("/v1/keys", headers={"Authorization": f"Bearer {AGENT}"})  # forbidden
            created = http.post("/v1/keys", headers=admin, json={"role": "integration"}).json()["key"]
            http.get("/v1/conversations", headers={"Authorization": f"Bearer {created}"})
            http.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                                   "hub.challenge": "1"})  # fmt: skip
            body = delivery(1, int(time.time()))
            http.post("/webhooks/whatsapp", content=body, headers={HEADER: sign(body, APP_SECRET)})
            http.post("/webhooks/whatsapp", content=body, headers={HEADER: "sha256=00"})
            http.post("/sandbox/customers/34600555000/messages", json={"text": "hola"})
            r = http.post(
                "/v1/messages",
                headers=admin,
                json={"to": "34600555000", "type": "text", "text": {"body": "hi"}},
            )
            assert r.status_code == 202, r.text
            http.post(
                "/sandbox/graph/v23.0/100000000000001/messages", json={}
            )  # no token: 401 at the sandbox
            time.sleep(1.0)  # let the worker send and the status webhooks come back
    finally:
        stop(server)
    text = log.read_text(errors="replace")
    assert "DEBUG" in text or len(text) > 0
    secrets = {"admin key": ADMIN, "agent key": AGENT, "created key": created, "app secret": APP_SECRET,
               "meta token": TOKEN, "verify token": VERIFY}  # fmt: skip
    leaked = [name for name, s in secrets.items() if s and s in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    record(
        "secrets:logs",
        area="access control",
        fault="real server at DEBUG: good, bad and revoked-style keys, key creation, webhook handshake, "
        "signed and badly signed webhooks, a send through the sandbox",
        cases=len(secrets),
        result=f"0 of {len(secrets)} secrets in {len(text.splitlines())} log lines",
        test="tests/acceptance/test_secrets_in_logs.py",
    )
