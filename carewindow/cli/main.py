"""The ``carewindow`` command: serve, worker, migrate, keys, sandbox, send, window, rates, costs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from carewindow.cli.costs import analytics, costs_app, rates_app
from carewindow.gc_tuning import tune_for_serving
from carewindow.settings import Settings, load_settings
from carewindow.storage.engine import connect

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
console = Console()
err = Console(stderr=True)

ServerOpt = Annotated[str, typer.Option(envvar="CAREWINDOW_URL", help="carewindow server URL")]
KeyOpt = Annotated[str, typer.Option(envvar="CAREWINDOW_API_KEY", help="API key (Bearer)")]


def _settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="server processes (PostgreSQL only for more than 1)")] = 1,
    migrate: Annotated[bool, typer.Option(help="apply database migrations before serving")] = True,
    dev: Annotated[
        bool, typer.Option(help="create and print a development admin key if none is configured")
    ] = False,
) -> None:
    """Run the API, webhooks, inbox and (by default) a delivery worker."""
    import uvicorn

    from carewindow.storage.engine import make_engine
    from carewindow.storage.migrate import upgrade

    s = _settings()
    public_url = os.environ.get("CAREWINDOW_PUBLIC_URL") or f"http://{host}:{port}"
    os.environ["CAREWINDOW_PUBLIC_URL"] = public_url
    if workers > 1 and s.database_url.startswith("sqlite"):
        raise _fail("several server processes need PostgreSQL (set CAREWINDOW_DATABASE_URL)")
    if workers > 1 and s.provider == "sandbox":
        raise _fail(
            "the in-process sandbox keeps its state in one process: use --workers 1 with it, "
            "and add delivery capacity with `carewindow worker`"
        )
    if s.provider == "sandbox" and not s.meta_app_secret:
        # One secret for this run, shared with uvicorn's process, so sandbox webhooks verify.
        os.environ["CAREWINDOW_META_APP_SECRET"] = secrets.token_hex(16)
    engine = make_engine(s.database_url)
    if migrate:
        upgrade(engine)
    if dev and not s.api_keys:
        key = _ensure_dev_key(engine)
        os.environ["CAREWINDOW_API_KEYS"] = f"{key}:admin"
        console.print(f"development admin key: [bold]{key}[/bold]")
    engine.dispose()
    console.print(f"carewindow {s.provider} provider, database {s.database_url.split('://')[0]}")
    console.print(f"inbox:    [bold]{public_url}/inbox[/bold]")
    console.print(f"API docs: {public_url}/docs")
    logging.basicConfig(level=s.log_level)
    uvicorn.run(
        "carewindow.api.asgi:app",
        host=host,
        port=port,
        http="httptools",  # uvicorn's own C-parser protocol (uvicorn[standard] installs it)
        workers=workers,
        log_level=s.log_level.lower(),
        access_log=False,
        proxy_headers=True,
    )


def _run_fast(coro: Any) -> None:
    """Run on uvloop (as uvicorn does for serve) when it is installed: the worker's event loop carries
    every provider call, and the standard loop's Python parts were a visible share of its CPU."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows: the standard loop works, only slower
        asyncio.run(coro)
        return
    uvloop.run(coro)


def _ensure_dev_key(engine: Any) -> str:
    """Reuse the development key kept in ./var so the printed key stays the same across restarts."""
    from datetime import UTC, datetime
    from pathlib import Path

    from carewindow.actions.keys import do_create_key
    from carewindow.storage import api_keys as key_store

    path = Path("var/dev-api-key")
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
    from carewindow.api.runtime import build_runtime, make_provider, start_event_bridge
    from carewindow.worker.delivery import DeliveryWorker
    from carewindow.worker.housekeeping import Housekeeper

    s = _settings()
    if s.provider == "sandbox" and not s.meta_base_url:
        raise _fail(
            "a separate worker with the sandbox needs CAREWINDOW_META_BASE_URL (the serving process's "
            "/sandbox/graph URL), or run the worker inside `carewindow serve`"
        )
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
            concurrency=concurrency,
        )
        keeper = Housekeeper(
            engine=rt.engine, clock=rt.clock, leads_minutes=s.expiring_leads, publish=rt.bus.publish
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(f"worker {w.worker_id} started")
        try:
            await asyncio.gather(w.run(stop), keeper.run(stop))
        finally:
            await provider.aclose()
            if rt.bridge is not None:
                rt.bridge.stop()
        console.print(f"worker stopped: {w.sent} sent, {w.failed} failed")

    _run_fast(main())


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) to CAREWINDOW_DATABASE_URL."""
    from carewindow.storage.engine import make_engine
    from carewindow.storage.migrate import current, upgrade

    s = _settings()
    engine = make_engine(s.database_url)
    try:
        upgrade(engine)
        console.print(f"database at revision [bold]{current(engine)}[/bold]")
    except Exception as exc:
        raise _fail(f"migration failed: {exc}") from None
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
    """Create an API key; it is printed once and stored hashed."""
    from datetime import UTC, datetime

    from carewindow.actions.keys import ROLES, do_create_key
    from carewindow.storage.engine import make_engine
    from carewindow.storage.migrate import upgrade

    if role not in ROLES:
        raise _fail(f"unknown role {role!r}; choose one of {', '.join(ROLES)}", 2)
    engine = make_engine(_settings().database_url)
    upgrade(engine)
    key, row = do_create_key(engine, role=role, name=name, now=datetime.now(UTC), phone_number_ids=number)
    console.print(f"created key {row.id} ({role}): [bold]{key}[/bold]")
    console.print("store it now: it cannot be shown again")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secret part)."""
    from carewindow.storage import api_keys as key_store
    from carewindow.storage.engine import make_engine

    engine = make_engine(_settings().database_url)
    table = Table("id", "name", "prefix", "role", "numbers", "created", "revoked")
    with connect(engine) as conn:
        for r in key_store.list_all(conn):
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
    from carewindow.storage.engine import make_engine

    engine = make_engine(_settings().database_url)
    try:
        do_revoke_key(engine, key_id, now=datetime.now(UTC))
    except NotFound:
        raise _fail(f"no active key {key_id}") from None
    console.print(f"revoked key {key_id}")


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
        raise _fail(f"{r.status_code} {e.get('code', '')}: {e.get('message', r.text[:300])}")
    return data


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

    s = _settings()
    if not s.meta_app_secret:
        raise _fail("set CAREWINDOW_META_APP_SECRET: the sandbox signs its webhooks with it", 2)
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
    server: ServerOpt = "http://127.0.0.1:8000",
) -> None:
    """Make a simulated customer write to the business (the sandbox sends the signed webhook)."""
    body: dict[str, Any] = {"text": text}
    if timestamp is not None:
        body["timestamp"] = timestamp
    if name:
        body["profile_name"] = name
    try:
        with _client(server) as c:
            data = _check(c.post(f"/sandbox/customers/{wa_id.lstrip('+')}/messages", json=body))
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    console.print(
        f"customer {wa_id} wrote {text!r} ({data.get('wamid')}); webhook status {data.get('callback_status')}"
    )


@app.command()
def send(
    to: Annotated[str, typer.Argument(help="recipient, E.164 (+34600111222)")],
    text: Annotated[str | None, typer.Option(help="free-form text (needs an open window)")] = None,
    template: Annotated[str | None, typer.Option(help="template name")] = None,
    language: Annotated[str, typer.Option(help="template language")] = "en",
    param: Annotated[list[str] | None, typer.Option(help="template parameter: value or name=value")] = None,
    on_closed: Annotated[str, typer.Option(help="reject | template | defer")] = "reject",
    fallback: Annotated[str | None, typer.Option(help="fallback template name (same language)")] = None,
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = "",
) -> None:
    """Send a message through the API (the window rules decide)."""
    if (text is None) == (template is None):
        raise _fail("give exactly one of --text or --template", 2)
    body: dict[str, Any] = {"to": to, "on_closed": on_closed}
    if text is not None:
        body.update(type="text", text={"body": text})
    else:
        params = param or []
        named = all("=" in p for p in params) and params
        parameters: Any = dict(p.split("=", 1) for p in params) if named else list(params)
        body.update(
            type="template", template={"name": template, "language": language, "parameters": parameters}
        )
    if fallback:
        body["fallback_template"] = {"name": fallback, "language": language, "parameters": []}
    try:
        with _client(server, api_key) as c:
            data = _check(c.post("/v1/messages", json=body))
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    charge = data.get("charge") or {}
    console.print(
        f"[green]accepted[/green] {data['id']} as {data['kind']} ({data['status']}); "
        f"charge {charge.get('amount')} {charge.get('currency') or ''} ({charge.get('pricing_model')})"
    )


@app.command()
def window(
    wa_id: Annotated[str, typer.Argument(help="customer number")],
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = "",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show a customer's care window, re-engagement count and consent."""
    try:
        with _client(server, api_key) as c:
            data = _check(c.get(f"/v1/contacts/{wa_id.lstrip('+')}/window"))
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
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
