"""The ``carewindow`` command: serve, worker, migrate, keys, sandbox, send, window, rates, costs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from carewindow.cli.common import fail, open_database, settings
from carewindow.cli.costs import analytics, costs_app, rates_app
from carewindow.cli.privacy import backup, consent_app
from carewindow.cli.state import database_label, dev_key_file, forget_server, read_server, record_server
from carewindow.gc_tuning import tune_for_serving
from carewindow.settings import Settings
from carewindow.storage.engine import Engine, connect

app = typer.Typer(
    help="WhatsApp customer care that keeps to the customer care window rules.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
sandbox_app = typer.Typer(
    help="Talk to the built-in sandbox (a simulated WhatsApp customer).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(rates_app, name="rates")
app.add_typer(costs_app, name="costs")
app.command("analytics")(analytics)
app.add_typer(consent_app, name="consent")
app.command("backup")(backup)
console = Console()

ServerOpt = Annotated[
    str | None,
    typer.Option(
        envvar="CAREWINDOW_URL",
        show_default=False,
        help="carewindow server URL (default: the one `carewindow serve` recorded for this database, "
        "CAREWINDOW_DATABASE_URL; else http://127.0.0.1 on CAREWINDOW_PORT, 8000)",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        envvar="CAREWINDOW_API_KEY",
        show_default=False,
        help="API key, Bearer (default: the development key of that server when it runs with --dev)",
    ),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(help="TCP port (default: CAREWINDOW_PORT, else 8000)", show_default=False),
    ] = None,
    workers: Annotated[int, typer.Option(help="server processes (PostgreSQL only for more than 1)")] = 1,
    migrate: Annotated[bool, typer.Option(help="apply database migrations before serving")] = True,
    dev: Annotated[
        bool, typer.Option(help="create and print a development admin key if none is configured")
    ] = False,
) -> None:
    """Run the API, webhooks, inbox and (by default) a delivery worker.

    Creates the database (CAREWINDOW_DATABASE_URL, default var/carewindow.db under CAREWINDOW_HOME)
    when it does not exist, and records its URL there (var/server.json) for the other commands."""
    import uvicorn

    s = settings()
    port = port if port is not None else s.port
    if not 1 <= port <= 65535:
        raise fail(f"--port {port}: a TCP port is 1 to 65535", 2)
    if workers > 1 and s.database_url.startswith("sqlite"):
        raise fail("several server processes need PostgreSQL (set CAREWINDOW_DATABASE_URL)")
    if workers > 1 and s.provider == "sandbox":
        raise fail(
            "the in-process sandbox keeps its state in one process: use --workers 1 with it, "
            "and add delivery capacity with `carewindow worker`"
        )
    problem = _port_problem(host, port)
    if problem:
        raise fail(problem)
    public_url = os.environ.get("CAREWINDOW_PUBLIC_URL") or f"http://{_url_host(host)}:{port}"
    os.environ["CAREWINDOW_PUBLIC_URL"] = public_url
    # uvicorn's processes read the settings again: give them the very database resolved here.
    os.environ["CAREWINDOW_DATABASE_URL"] = s.database_url
    if s.provider == "sandbox" and not s.sandbox_state_dir:
        # The sandbox remembers templates and windows across restarts, as Meta does (issue 23).
        os.environ["CAREWINDOW_SANDBOX_STATE_DIR"] = str(s.home_dir / "var" / "sandbox")
    if s.provider == "sandbox" and not s.meta_app_secret:
        # One secret for this run, shared with uvicorn's process, so sandbox webhooks verify.
        os.environ["CAREWINDOW_META_APP_SECRET"] = secrets.token_hex(16)
    engine = _serving_database(s, migrate=migrate)
    key_file = None
    try:
        if dev and not s.api_keys:
            key_file = dev_key_file(s)
            key = _ensure_dev_key(engine, key_file)
            os.environ["CAREWINDOW_API_KEYS"] = f"{key}:admin"
            console.print(f"development admin key: [bold]{key}[/bold] (kept in {key_file})", soft_wrap=True)
    finally:
        engine.dispose()
    record_server(s, url=f"http://{_url_host(_local(host))}:{port}", dev_key=key_file)
    console.print(
        f"carewindow {s.provider} provider, database {escape(database_label(s.database_url))}", soft_wrap=True
    )
    console.print(f"inbox:    [bold]{public_url}/inbox[/bold]")
    console.print(f"API docs: {public_url}/docs")
    logging.basicConfig(level=s.log_level)

    def on_term(signum: int, _frame: object) -> None:
        # uvicorn answers SIGTERM by shutting down and then raising it again, to this handler.
        forget_server(s)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        uvicorn.run(
            "carewindow.api.asgi:app",
            host=host,
            port=port,
            http="httptools",  # uvicorn's own C-parser protocol (a dependency of carewindow)
            workers=workers,
            log_level=s.log_level.lower(),
            access_log=False,
            proxy_headers=True,
        )
    finally:
        forget_server(s)


def _local(host: str) -> str:
    """The address this machine reaches a server bound to ``host`` at."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _port_problem(host: str, port: int) -> str | None:
    """Why ``serve`` could not listen on ``host``:``port`` (None: it can), checked before anything is
    printed. SO_REUSEADDR as uvicorn sets it: a port a stopped server just left is free."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"--host {host!r} is not an address of this machine ({exc})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is in use (another carewindow serve?). Choose another port: "
                    "--port N, CAREWINDOW_PORT=N, or make run PORT=N"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _serving_database(s: Settings, *, migrate: bool) -> Engine:
    """serve's database: created and migrated (``--migrate``, the default), else as it is."""
    from carewindow.storage.engine import make_engine
    from carewindow.storage.errors import StorageError
    from carewindow.storage.migrate import upgrade

    if not migrate:
        return open_database(s)
    try:
        engine = make_engine(s.database_url)
    except StorageError as exc:
        raise fail(f"cannot open the database {database_label(s.database_url)}: {exc.reason}") from None
    try:
        upgrade(engine)
    except (StorageError, OSError) as exc:
        engine.dispose()
        reason = exc.reason if isinstance(exc, StorageError) else str(exc)
        raise fail(f"cannot migrate the database {database_label(s.database_url)}: {reason}") from None
    return engine


def _run_fast(coro: Any) -> None:
    """Run on uvloop (as uvicorn does for serve) when it is installed: the worker's event loop carries
    every provider call, and the standard loop's Python parts were a visible share of its CPU."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows: the standard loop works, only slower
        asyncio.run(coro)
        return
    uvloop.run(coro)


def _ensure_dev_key(engine: Engine, path: Path) -> str:
    """Reuse the development key kept at ``path`` (one file per database, cli/state.py) so the printed
    key stays the same across restarts."""
    from datetime import UTC, datetime

    from carewindow.actions.keys import do_create_key
    from carewindow.storage import api_keys as key_store

    if path.exists():
        key = path.read_text().strip()
        with connect(engine) as conn:
            if key_store.find_active(conn, key) is not None:
                return key
    key = "cw_dev_" + secrets.token_urlsafe(24)
    do_create_key(engine, role="admin", name="development", now=datetime.now(UTC), key=key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="provider calls in flight at once")] = 64,
) -> None:
    """Run a delivery worker on its own (several may run against PostgreSQL)."""
    from carewindow.actions.retention import Retention
    from carewindow.api.runtime import build_runtime, make_provider, media_fetcher, start_event_bridge
    from carewindow.worker.delivery import DeliveryWorker
    from carewindow.worker.housekeeping import Housekeeper

    s = settings()
    if s.provider == "sandbox" and not s.meta_base_url:
        raise fail(
            "a separate worker with the sandbox needs CAREWINDOW_META_BASE_URL (the serving process's "
            "/sandbox/graph URL), or run the worker inside `carewindow serve`"
        )
    open_database(s).dispose()  # it must exist and be migrated: a worker never creates one
    logging.basicConfig(level=s.log_level)
    tune_for_serving()
    rt = build_runtime(s)

    async def main() -> None:
        provider = make_provider(rt)
        start_event_bridge(rt, listen=False)  # inboxes in serving processes hear about our sends
        w = DeliveryWorker(
            engine=rt.engine,
            provider=provider,
            policy=rt.policy,
            clock=rt.clock,
            publish=rt.bus.publish,
            batch_size=s.worker_batch_size,
            poll_seconds=s.worker_poll_seconds,
            lease_seconds=s.lease_seconds,
            max_attempts=s.max_attempts,
            rate_per_second=s.rate_limit_per_second,
            hold_seconds=s.hold_period_hours * 3600.0,
            marketing_messages_api=s.marketing_messages_api,
            concurrency=concurrency,
        )
        keeper = Housekeeper(
            engine=rt.engine,
            clock=rt.clock,
            leads_minutes=s.expiring_leads,
            publish=rt.bus.publish,
            retention=Retention.from_settings(s),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"worker {w.worker_id} started")
        rt.provider = provider
        fetcher = media_fetcher(rt)  # inbound media downloads (worker/media.py)
        try:
            await asyncio.gather(w.run(stop), keeper.run(stop), *([fetcher.run(stop)] if fetcher else []))
        finally:
            await provider.aclose()
            if rt.bridge is not None:
                rt.bridge.stop()
        console.print(f"worker stopped: {w.sent} sent, {w.failed} failed")

    _run_fast(main())


@app.command()
def migrate() -> None:
    """Create the database when there is none and bring it to this carewindow's schema (Alembic):
    CAREWINDOW_DATABASE_URL, default var/carewindow.db under CAREWINDOW_HOME."""
    from carewindow.storage.migrate import current

    s = settings()
    engine = _serving_database(s, migrate=True)
    try:
        label = escape(database_label(s.database_url))
        console.print(f"database {label} at revision [bold]{current(engine)}[/bold]", soft_wrap=True)
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | agent | integration")],
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    number: Annotated[
        list[str] | None, typer.Option(help="restrict to this business phone_number_id")
    ] = None,
) -> None:
    """Create an API key in the database a server uses; it is printed once and stored hashed."""
    from datetime import UTC, datetime

    from carewindow.actions.keys import ROLES, do_create_key

    if role not in ROLES:
        raise fail(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", 2)
    engine = open_database(settings())
    try:
        key, row = do_create_key(engine, role=role, name=name, now=datetime.now(UTC), phone_number_ids=number)
    finally:
        engine.dispose()
    console.print(f"created key {row.id} ({role}): [bold]{key}[/bold]")
    console.print("store it now: it cannot be shown again")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secret part)."""
    from carewindow.storage import api_keys as key_store

    engine = open_database(settings())
    table = Table("id", "name", "prefix", "role", "numbers", "created", "revoked")
    try:
        with connect(engine) as conn:
            rows = key_store.list_all(conn)
    finally:
        engine.dispose()
    for r in rows:
        table.add_row(
            str(r.id),
            r.name or "",
            r.prefix + "…",
            r.role,
            r.phone_number_ids or "all",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key at once."""
    from datetime import UTC, datetime

    from carewindow.actions.errors import NotFound
    from carewindow.actions.keys import do_revoke_key

    engine = open_database(settings())
    try:
        do_revoke_key(engine, key_id, now=datetime.now(UTC))
    except NotFound:
        raise fail(f"no active key {key_id}") from None
    finally:
        engine.dispose()
    console.print(f"revoked key {key_id}")


def _server(server: str | None) -> str:
    """The server to talk to: --server / CAREWINDOW_URL, else the one ``serve`` recorded for the
    configured database, else 127.0.0.1 on CAREWINDOW_PORT."""
    if server:
        return server
    s = settings()
    record = read_server(s)
    return record.url if record is not None else f"http://127.0.0.1:{s.port}"


def _target(server: str | None, key: str | None) -> tuple[str, str]:
    """(server URL, API key): the key given, else the recorded server's development key."""
    url = _server(server)
    if key:
        return url, key
    record = read_server(settings())
    if record is not None and record.dev_key_file and record.url == url.rstrip("/"):
        with contextlib.suppress(OSError):
            return url, Path(record.dev_key_file).read_text().strip()
    return url, ""


def _unreachable(server: str, exc: httpx.HTTPError) -> typer.Exit:
    return fail(
        f"cannot reach {server}: {exc or type(exc).__name__}. Is `carewindow serve` (or `make run`) "
        "running? Point to it with --server or CAREWINDOW_URL."
    )


def _client(server: str, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=30)


def _check(r: httpx.Response) -> Any:
    try:
        data = r.json()
    except ValueError:
        data = {"error": {"code": "http_error", "message": r.text[:300]}}
    if r.status_code >= 400:
        e = data.get("error", {}) if isinstance(data, dict) else {}
        e = e if isinstance(e, dict) else {}
        message = _in_cli_terms(e) or str(e.get("message", r.text[:300]))
        if r.status_code == 401:
            message += " (the API key: --api-key or CAREWINDOW_API_KEY)"
        raise fail(f"{r.status_code} {e.get('code', '')}: {message}")
    return data


def _in_cli_terms(e: dict[str, Any]) -> str | None:
    """A template parameter refusal said with the CLI's flags instead of the API's JSON."""
    if e.get("code") != "template_params_invalid":
        return None
    flag = "--fallback-param" if e.get("role") == "fallback_template" else "--param"
    which = f"{'fallback ' if flag != '--param' else ''}template {e.get('template')!r}"
    expected = e.get("expected")
    reason = e.get("reason")
    if reason == "named parameters expected" and isinstance(expected, list):
        wanted = " ".join(f"{flag} {k}=VALUE" for k in expected)
        return f"{which} has named placeholders: give them by name, {wanted}"
    if reason == "positional parameters expected" and isinstance(expected, list):
        return (
            f"{which} has numbered placeholders ({', '.join('{{' + str(k) + '}}' for k in expected)}): "
            f"give {flag} VALUE {len(expected)} time{'s' if len(expected) != 1 else ''}, in order, "
            "without names"
        )
    if reason == "no parameters expected":
        return f"{which} takes no parameters: leave out {flag}"
    missing = e.get("missing")
    if isinstance(missing, list) and missing:
        if all(str(k).isdigit() for k in missing):
            add = f"add {flag} VALUE for " + ", ".join("{{" + str(k) + "}}" for k in missing)
        else:
            add = "add " + " ".join(f"{flag} {k}=VALUE" for k in missing)
        return f"{e.get('message', '')} ({add})"
    return None


@sandbox_app.command("serve")
def sandbox_serve(
    callback_url: Annotated[str, typer.Option(help="where the sandbox POSTs its signed webhooks")],
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8040,
) -> None:
    """Run the sandbox on its own, like Meta's servers: carewindow reaches it by
    CAREWINDOW_META_BASE_URL=http://HOST:PORT/sandbox/graph and gets its webhooks at CALLBACK_URL.
    Signs with CAREWINDOW_META_APP_SECRET and accepts CAREWINDOW_META_TOKEN (or the sandbox default)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from carewindow.api.runtime import (
        SANDBOX_PHONE_NUMBER_ID,
        SANDBOX_TOKEN,
        SANDBOX_WABA_ID,
        policy_settings,
    )
    from carewindow.providers.sandbox.app import create_sandbox_app
    from carewindow.providers.sandbox.config import SandboxConfig

    s = settings()
    if not s.meta_app_secret:
        raise fail("set CAREWINDOW_META_APP_SECRET: the sandbox signs its webhooks with it", 2)
    public = f"http://{host}:{port}"
    sandbox = create_sandbox_app(
        SandboxConfig(
            access_token=s.meta_token or SANDBOX_TOKEN,
            phone_number_id=s.phone_number_id or SANDBOX_PHONE_NUMBER_ID,
            waba_id=s.waba_id or SANDBOX_WABA_ID,
            graph_version=s.meta_graph_version,
            base_url=f"{public}/sandbox/graph",
            callback_url=callback_url,
            app_secret=s.meta_app_secret,
            status_batch_window=s.sandbox_status_batch_seconds,
            media_dir=str(s.home_dir / "var" / "sandbox" / "media"),
        ),
        policy_settings=policy_settings(s),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await sandbox.state.sandbox.aclose()

    console.print(f"sandbox Graph API: [bold]{public}/sandbox/graph[/bold]; webhooks to {callback_url}")
    tune_for_serving()
    uvicorn.run(
        Starlette(routes=[Mount("/sandbox", sandbox)], lifespan=lifespan),
        host=host,
        port=port,
        log_level=s.log_level.lower(),
        access_log=False,
    )


@sandbox_app.command("say")
def sandbox_say(
    wa_id: Annotated[str, typer.Argument(help="the simulated customer's number (digits)")],
    text: Annotated[str, typer.Argument(help="what the customer writes")],
    timestamp: Annotated[int | None, typer.Option(help="Unix seconds of the message (default now)")] = None,
    name: Annotated[str | None, typer.Option(help="the customer's profile name")] = None,
    username: Annotated[
        bool, typer.Option(help="the customer hides the number: the webhook carries only a user id")
    ] = False,
    server: ServerOpt = None,
) -> None:
    """Make a simulated customer write to the business (the sandbox sends the signed webhook)."""
    body: dict[str, Any] = {"text": text}
    if timestamp is not None:
        body["timestamp"] = timestamp
    if name:
        body["profile_name"] = name
    if username:
        body["username_only"] = True
    url = _server(server)
    try:
        with _client(url) as c:
            data = _check(c.post(f"/sandbox/customers/{wa_id.lstrip('+')}/messages", json=body))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    console.print(
        f"customer {wa_id} wrote {text!r} ({data.get('wamid')}); webhook status {data.get('callback_status')}"
    )


_PARAM_HELP = (
    "template parameter, once per placeholder: NAME=VALUE for {{name}} placeholders "
    "(--param ticket_id=T-99), a plain VALUE in order for {{1}}, {{2}} (--param T-99)"
)


@app.command()
def send(
    to: Annotated[str, typer.Argument(help="recipient: E.164 (+34600111222), a wa_id or a user id")],
    text: Annotated[str | None, typer.Option(help="free-form text (needs an open window)")] = None,
    template: Annotated[str | None, typer.Option(help="template name")] = None,
    language: Annotated[str, typer.Option(help="template language (the fallback's too)")] = "en",
    param: Annotated[list[str] | None, typer.Option(help=_PARAM_HELP)] = None,
    on_closed: Annotated[
        str, typer.Option(help="when the window is closed: reject | template | defer (both need --fallback)")
    ] = "reject",
    fallback: Annotated[
        str | None, typer.Option(help="template to send while the window is closed (same language)")
    ] = None,
    fallback_param: Annotated[
        list[str] | None,
        typer.Option(help="a parameter of the --fallback template, in the same form as --param"),
    ] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Send a message through the API (the window rules decide).

    Examples: carewindow send +34600111222 --template ticket_update --language es
    --param ticket_id=T-42; carewindow send +34600111222 --text "hi" --on-closed template
    --fallback ticket_update --fallback-param ticket_id=T-42"""
    if (text is None) == (template is None):
        raise fail("give exactly one of --text or --template", 2)
    if param and template is None:
        raise fail("--param belongs to --template (a --text message has no parameters)", 2)
    if fallback_param and not fallback:
        raise fail("--fallback-param needs --fallback (the template it belongs to)", 2)
    body: dict[str, Any] = {"to": to, "on_closed": on_closed}
    if text is not None:
        body.update(type="text", text={"body": text})
    else:
        body.update(
            type="template",
            template={"name": template, "language": language, "parameters": _params(param, "--param")},
        )
    if fallback:
        body["fallback_template"] = {
            "name": fallback,
            "language": language,
            "parameters": _params(fallback_param, "--fallback-param"),
        }
    url, key = _target(server, api_key)
    try:
        with _client(url, key) as c:
            data = _check(c.post("/v1/messages", json=body))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    charge = data.get("charge") or {}
    console.print(
        f"[green]accepted[/green] {data['id']} as {data['kind']} ({data['status']}); "
        f"charge {charge.get('amount')} {charge.get('currency') or ''} ({charge.get('pricing_model')})",
        soft_wrap=True,
    )


# What counts as NAME in NAME=VALUE: anything else with "=" (a URL with a query) is a plain value.
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _params(values: list[str] | None, flag: str) -> list[str] | dict[str, str]:
    """``--param`` values as the API takes them: a list (plain values) or an object (NAME=VALUE)."""
    values = values or []
    pairs = [v.partition("=") for v in values]
    named = [bool(sep) and _PARAM_NAME.fullmatch(k) is not None for k, sep, _ in pairs]
    if not any(named):
        return list(values)
    if not all(named):
        raise fail(
            f"{flag}: give every parameter as NAME=VALUE (a template with {{{{name}}}} placeholders: "
            f"{flag} ticket_id=T-99) or every one as a plain VALUE, in order (a template with {{{{1}}}}, "
            f"{{{{2}}}}: {flag} T-99); these mix both: {', '.join(repr(v) for v in values)}",
            2,
        )
    out: dict[str, str] = {}
    for k, _, v in pairs:
        if k in out:
            raise fail(f"{flag} {k}=…: given twice", 2)
        out[k] = v
    return out


@app.command()
def window(
    wa_id: Annotated[
        str, typer.Argument(help="customer: a wa_id, a number as typed (+52 1 442 …) or a user id (US.134…)")
    ],
    server: ServerOpt = None,
    api_key: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a customer's care window, re-engagement count and consent."""
    url, key = _target(server, api_key)
    try:
        with _client(url, key) as c:
            data = _check(c.get(f"/v1/contacts/{quote(wa_id.strip(), safe='')}/window"))
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table(show_header=False)
    state = data["state"]
    left = data["seconds_left"]
    table.add_row(
        "state",
        f"[green]open[/green] ({left // 3600} h {left % 3600 // 60} m left)"
        if state == "open"
        else "[red]closed[/red]",
    )
    for k in ("opened_at", "expires_at", "last_inbound_at"):
        table.add_row(k, str(data.get(k) or "-"))
    r = data["reengagement"]
    table.add_row("re-engagement", f"{r['templates_sent_since_close']} of {r['limit'] or 'unlimited'} used")
    table.add_row("consent", f"{data['consent']['status']} ({data['consent'].get('source') or '-'})")
    if data.get("held"):
        table.add_row("held", str(len(data["held"])))
    console.print(table)


if __name__ == "__main__":
    app()
