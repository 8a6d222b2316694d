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


def test_send_fallback_carries_parameters_and_wrong_forms_are_said_in_cli_terms(
    server: tuple[str, dict[str, str]],
) -> None:
    url, env = server
    env = {**env, "CAREWINDOW_URL": url, "CAREWINDOW_API_KEY": KEY}
    auth = {"Authorization": f"Bearer {KEY}"}
    created = httpx.post(
        f"{url}/v1/templates",
        headers=auth,
        json={
            "name": "ticket_update",
            "language": "en",
            "category": "utility",
            "body": "Your ticket {{ticket_id}} was updated. Reply to this message to continue.",
        },
    )
    assert created.status_code == 201, created.text
    consent = httpx.put(
        f"{url}/v1/contacts/34600777888/consent", headers=auth, json={"status": "opted_in", "source": "t"}
    )
    assert consent.status_code == 200, consent.text
    code, out = run(
        env,
        "send",
        "+34600777888",
        "--text",
        "hello",
        "--on-closed",
        "template",
        "--fallback",
        "ticket_update",
        "--fallback-param",
        "ticket_id=T-99",
    )
    assert code == 0, out
    assert "accepted" in out and "as template" in out
    code, out = run(env, "send", "+34600777888", "--template", "ticket_update", "--param", "T-99")
    flat = " ".join(out.split())
    assert code == 1 and "422 template_params_invalid" in flat
    assert "--param ticket_id=VALUE" in flat and "send them as" not in flat


def test_dev_servers_are_found_from_anywhere_and_keep_their_own_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """make run's setup (serve --dev, the default database, a chosen port): from another directory the
    CLI finds the server, its key and its database; a second dev server on another database leaves the
    first one's var/dev-api-key alone; a third on a taken port stops before printing the inbox URL."""
    home = tmp_path / "home"
    home.mkdir()
    first_port, second_port = free_port(), free_port()
    base = carewindow_env(CAREWINDOW_HOME=str(home))
    first = spawn(
        ["serve", "--dev"], env={**base, "CAREWINDOW_PORT": str(first_port)}, log=tmp_path / "first.log"
    )
    procs = [first]
    try:
        wait_ready(f"http://127.0.0.1:{first_port}", first)
        key_file = home / "var" / "dev-api-key"
        first_key = key_file.read_text()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        code, out = run(base, "sandbox", "say", "34600555777", "Hola")
        assert code == 0, out
        code, out = run(base, "window", "34600555777", "--json")  # no URL, no key given
        assert code == 0, out
        assert json.loads(out[out.index("{") :])["state"] == "open"
        code, out = run(base, "keys", "list")
        assert code == 0 and "development" in out
        assert str(home / "var" / "carewindow.db") in " ".join(out.split())
        assert not (elsewhere / "var").exists()

        second_env = {
            **base,
            "CAREWINDOW_PORT": str(second_port),
            "CAREWINDOW_DATABASE_URL": "sqlite:///two.db",
        }
        second = spawn(["serve", "--dev"], env=second_env, log=tmp_path / "second.log")
        procs.append(second)
        wait_ready(f"http://127.0.0.1:{second_port}", second)
        assert key_file.read_text() == first_key
        [second_key] = (home / "var").glob("dev-api-key.two-*")
        assert second_key.read_text() != first_key
        code, out = run(second_env, "window", "34600555777", "--json")  # the second database's server
        assert code == 0 and json.loads(out[out.index("{") :])["state"] == "closed"

        third = spawn(
            ["serve", "--dev"], env={**base, "CAREWINDOW_PORT": str(first_port)}, log=tmp_path / "third.log"
        )
        assert third.wait(30) == 1
        said = (tmp_path / "third.log").read_text()
        assert f"port {first_port} on 127.0.0.1 is in use" in " ".join(said.split())
        assert "inbox" not in said and "Traceback" not in said
    finally:
        for proc in procs:
            stop(proc)
    assert not list((home / "var").glob("server*.json"))  # a stopped server leaves no record
