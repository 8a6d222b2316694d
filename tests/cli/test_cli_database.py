"""Which database the commands use, from any directory: the default is under CAREWINDOW_HOME (not the
current directory), only ``migrate`` and ``serve`` create one, every command says which one it used,
and configuration mistakes are one line, never a traceback."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewindow.cli import state
from carewindow.cli.main import app
from carewindow.settings import Settings, default_home, load_settings

READERS = [["keys", "list"], ["costs"], ["rates", "list"], ["analytics"], ["costs", "export"]]
WRITERS = [["keys", "create", "--role", "agent"], ["keys", "revoke", "1"], ["worker"]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """CAREWINDOW_HOME in tmp, no other CAREWINDOW_ setting, and the current directory elsewhere."""
    for name in list(os.environ):
        if name.startswith("CAREWINDOW_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CAREWINDOW_HOME", str(home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    yield home


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})
    return result.exit_code, result.stdout, result.stderr


def test_default_database_is_under_the_home_not_the_current_directory(home: Path) -> None:
    s = load_settings()
    assert s.database_url == f"sqlite:///{home / 'var' / 'carewindow.db'}"
    assert s.is_default_database
    # A relative SQLite path is under the home too; absolute paths and PostgreSQL stay as given.
    assert load_settings(database_url="sqlite:///x.db?timeout=2").database_url == (
        f"sqlite:///{home / 'x.db'}?timeout=2"
    )
    assert load_settings(database_url="sqlite:////abs/x.db").database_url == "sqlite:////abs/x.db"
    assert load_settings(database_url="sqlite:///:memory:").database_url == "sqlite:///:memory:"


def test_an_empty_variable_counts_as_unset(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWINDOW_DATABASE_URL", "")
    monkeypatch.setenv("CAREWINDOW_PORT", "")
    s = load_settings()
    assert s.is_default_database and s.port == 8000


def test_without_home_the_default_is_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREWINDOW_HOME", raising=False)
    root = Path(__file__).resolve().parents[2]
    assert default_home() == root  # the tests run from an editable checkout
    assert Settings().home_dir == root


@pytest.mark.parametrize("args", [*READERS, *WRITERS])
def test_no_command_creates_a_database_it_was_not_asked_to(home: Path, args: list[str]) -> None:
    # (the base URL only gets a separate worker past its own first check)
    code, _out, err = run(*args, CAREWINDOW_META_BASE_URL="http://127.0.0.1:9/sandbox/graph")
    assert code == 1, err
    db = home / "var" / "carewindow.db"
    assert f"no database at {db}" in " ".join(err.split())
    assert "carewindow migrate" in err and "Traceback" not in err
    assert not db.exists() and not (Path.cwd() / "var").exists()


def test_migrate_then_every_command_finds_the_same_database_from_anywhere(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run("migrate")
    assert code == 0, err
    db = home / "var" / "carewindow.db"
    assert db.is_file() and f"database SQLite {db}" in " ".join(out.split())
    code, out, err = run("keys", "create", "--role", "agent", "--name", "desk")
    assert code == 0, err
    assert f"database: SQLite {db}" in err  # says which database it used
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    code, out, err = run("keys", "list")
    assert code == 0 and "desk" in out and f"database: SQLite {db}" in err
    for args in READERS:
        code, out, err = run(*args)
        assert code == 0, (args, err)
        assert f"database: SQLite {db}" in err
    assert not (other / "var").exists()


def test_an_unmigrated_or_broken_database_is_named_not_changed(home: Path) -> None:
    db = home / "empty.db"
    sqlite3.connect(db).close()
    url = f"sqlite:///{db}"
    code, _out, err = run("keys", "list", CAREWINDOW_DATABASE_URL=url)
    assert code == 1 and "has no carewindow tables" in err and "carewindow migrate" in err
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    junk = home / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    code, _out, err = run("costs", CAREWINDOW_DATABASE_URL=f"sqlite:///{junk}")
    assert code == 1 and "cannot read the database" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"CAREWINDOW_PRICING": "meta_pnp"}, "CAREWINDOW_PRICING: unknown pricing model 'meta_pnp'"),
        ({"CAREWINDOW_PORT": "eighty"}, "CAREWINDOW_PORT: Input should be a valid integer"),
        ({"CAREWINDOW_WINDOW_HOURS": "0"}, "CAREWINDOW_WINDOW_HOURS: Input should be greater than"),
        ({"CAREWINDOW_EXPIRING_LEAD_MINUTES": "60,soon"}, "CAREWINDOW_EXPIRING_LEAD_MINUTES"),
        ({"CAREWINDOW_API_KEYS": "s3cret-key:boss"}, "CAREWINDOW_API_KEYS: unknown role 'boss'"),
        ({"CAREWINDOW_PROVIDER": "twilio"}, "CAREWINDOW_PROVIDER: Input should be 'sandbox' or 'meta'"),
        ({"CAREWINDOW_MEDIA_STORE": "s3://"}, "CAREWINDOW_MEDIA_STORE: no bucket in 's3://'"),
    ],
)
@pytest.mark.parametrize("args", [["costs"], ["keys", "list"], ["serve"], ["migrate"]])
def test_configuration_errors_are_one_line_without_traceback(
    home: Path, env: dict[str, str], said: str, args: list[str]
) -> None:
    code, out, err = run(*args, **env)
    assert code == 2, err
    assert said in " ".join(err.split()) and "configuration error" in err
    assert "Traceback" not in err + out and "inbox" not in out
    assert "s3cret" not in err  # a key is never echoed back
    assert not (home / "var").exists()


def test_a_broken_settings_file_is_named(home: Path) -> None:
    (home / "carewindow.toml").write_text("[carewindow\npricing = 'seed'\n")
    code, _out, err = run("keys", "list")
    assert code == 2 and "carewindow.toml" in err and "Traceback" not in err


def test_serve_checks_its_port_before_printing_the_inbox_url(home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run("serve", "--port", str(port))
        assert code == 1, err
        assert f"port {port} on 127.0.0.1 is in use" in err and "PORT=" in err
        assert "inbox" not in out
        code, out, err = run("serve", CAREWINDOW_PORT=str(port))  # the port setting is checked alike
        assert code == 1 and f"port {port}" in err and "inbox" not in out
    assert not (home / "var").exists()  # nothing was created before the checks passed
    code, _out, err = run("serve", "--host", "192.0.2.1", "--port", "8000")  # not this machine's
    assert code == 1 and "cannot listen on 192.0.2.1:8000" in err and "Traceback" not in err


def test_dev_key_and_server_record_are_per_database(home: Path, tmp_path: Path) -> None:
    default = load_settings()
    other = load_settings(database_url=f"sqlite:///{tmp_path / 'second.db'}")
    assert state.dev_key_file(default) == home / "var" / "dev-api-key"
    assert state.server_file(default) == home / "var" / "server.json"
    second = state.dev_key_file(other)
    assert second.parent == home / "var" and second.name.startswith("dev-api-key.second-")
    assert second != state.dev_key_file(default)
    assert state.server_file(other) != state.server_file(default)
    pg_a = load_settings(database_url="postgresql://u:pw@h/a")
    pg_b = load_settings(database_url="postgresql://u:pw@h/b")
    assert state.dev_key_file(pg_a) != state.dev_key_file(pg_b)
    assert state.database_label(pg_a.database_url) == "postgresql://u:***@h/a"

    state.record_server(other, url="http://127.0.0.1:8040", dev_key=second)
    record = state.read_server(other)
    assert record is not None and record.url == "http://127.0.0.1:8040" and record.pid == os.getpid()
    assert state.read_server(default) is None
    state.forget_server(other)
    assert state.read_server(other) is None


def test_a_record_of_a_stopped_server_is_ignored(home: Path) -> None:
    s = load_settings()
    path = state.record_server(s, url="http://127.0.0.1:8040", dev_key=None)
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999'))
    assert state.read_server(s) is None


def test_client_commands_find_the_recorded_server(home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    state.record_server(load_settings(), url=f"http://127.0.0.1:{port}", dev_key=None)
    for args in (["window", "34600111222"], ["sandbox", "say", "34600111222", "hi"]):
        code, _out, err = run(*args)
        assert code == 1 and f"cannot reach http://127.0.0.1:{port}" in err, err
        assert "carewindow serve" in err and "Traceback" not in err
    code, _out, err = run("window", "34600111222", CAREWINDOW_URL="http://127.0.0.1:9")
    assert "cannot reach http://127.0.0.1:9" in err  # an explicit URL wins
    state.forget_server(load_settings())
    code, _out, err = run("window", "34600111222", CAREWINDOW_PORT=str(port))
    assert f"cannot reach http://127.0.0.1:{port}" in err  # no record: the port setting
