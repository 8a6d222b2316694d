"""The ``carewindow`` command against a real ``carewindow serve`` process (loopback only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from liveserver import carewindow_env, free_port, spawn, stop, wait_ready
from typer.testing import CliRunner

from carewindow.cli.main import app

pytestmark = pytest.mark.slow
KEY = "cli-test-admin-key"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("cli")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = carewindow_env(
        CAREWINDOW_DATABASE_URL=f"sqlite:///{tmp / 'cw.db'}",
        CAREWINDOW_API_KEYS=f"{KEY}:admin",
        CAREWINDOW_PUBLIC_URL=url,
    )
    proc = spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env=env, log=tmp / "serve.log")
    try:
        wait_ready(url, proc)
        yield url, env
    finally:
        stop(proc)


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    return result.exit_code, result.output


def test_send_window_and_sandbox_say(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    env = {**env, "CAREWINDOW_URL": url, "CAREWINDOW_API_KEY": KEY}
    code, out = run(env, "send", "+34600555666", "--text", "hello")
    assert code == 1
    assert "409 window_closed" in out and "template" in out
    code, out = run(env, "sandbox", "say", "34600555666", "Hola", "--name", "Lucía")
    assert code == 0, out
    assert "webhook status 200" in out
    code, out = run(env, "window", "34600555666")
    assert code == 0, out
    assert "open" in out and ("23 h 59 m left" in out or "24 h 0 m left" in out)
    code, out = run(env, "window", "34600555666", "--json")
    assert code == 0 and json.loads(out)["state"] == "open"
    code, out = run(env, "send", "+34600555666", "--text", "hello")
    assert code == 0, out
    assert "accepted" in out and "as session" in out
    code, out = run(env, "send", "+34600555666")
    assert code == 2 and "exactly one of --text or --template" in out


def test_bad_key_and_unreachable_server_fail_clearly(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    code, out = run({**env, "CAREWINDOW_URL": url, "CAREWINDOW_API_KEY": "nope"}, "window", "34600555666")
    assert code == 1 and "401 unauthorized" in out
    code, out = run({**env, "CAREWINDOW_URL": f"http://127.0.0.1:{free_port()}"}, "window", "34600555666")
    assert code == 1 and "cannot reach" in out


def test_keys_and_migrate(tmp_path: Path) -> None:
    env = carewindow_env(CAREWINDOW_DATABASE_URL=f"sqlite:///{tmp_path / 'k.db'}")
    code, out = run(env, "migrate")
    assert code == 0 and "revision" in out
    code, out = run(env, "keys", "create", "--role", "agent", "--name", "desk")
    assert code == 0, out
    key = next(word for word in out.split() if word.startswith("cw_"))
    code, out = run(env, "keys", "list")
    assert code == 0 and "desk" in out and key not in out
    code, out = run(env, "keys", "create", "--role", "root")
    assert code == 2 and "unknown role" in out
    code, out = run(env, "keys", "revoke", "1")
    assert code == 0 and "revoked key 1" in out
    code, out = run(env, "keys", "revoke", "1")
    assert code == 1 and "no active key 1" in out


def test_serve_answers_health_and_docs(server: tuple[str, dict[str, str]]) -> None:
    url, _env = server
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "carewindow"
    assert "carewindow_outbox_pending" in httpx.get(f"{url}/metrics").text
