"""What every ``carewindow`` command shares: settings checked up front, errors said in one line, and
the database opened only when it exists (only ``migrate`` and ``serve`` create or upgrade one)."""

from __future__ import annotations

from collections.abc import Mapping

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from carewindow.cli.state import database_label
from carewindow.settings import Settings, config_path, load_settings, sqlite_path
from carewindow.storage.engine import Engine

err = Console(stderr=True)

# Settings whose values are never echoed back in an error.
_SECRET = frozenset({"meta_token", "meta_app_secret", "meta_verify_token", "api_keys", "session_secret"})


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say ``message`` on stderr; the caller raises the returned Exit (exit status ``code``)."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings() -> Settings:
    """The settings, checked as the server would check them: a configuration error (a mistyped
    ``CAREWINDOW_PRICING``, a port that is not a number, a broken carewindow.toml) is one clear line
    naming the variable, exit status 2, never a traceback."""
    try:
        s = load_settings()
    except ValidationError as exc:
        raise _config_error("; ".join(_explain(e) for e in exc.errors())) from None
    except Exception as exc:  # e.g. carewindow.toml that is not TOML
        where = config_path()
        raise _config_error(f"{where}: {exc}" if where is not None else str(exc)) from None
    problem = check(s)
    if problem:
        raise _config_error(problem)
    return s


def check(s: Settings) -> str | None:
    """What is wrong with settings that parsed but that the service could not run with, or None."""
    from carewindow.actions.keys import ROLES
    from carewindow.policy import PRICING_MODELS

    if s.pricing not in PRICING_MODELS:
        choices = ", ".join(PRICING_MODELS)
        return f"CAREWINDOW_PRICING: unknown pricing model {s.pricing!r}; choose one of: {choices}"
    try:
        _ = s.expiring_leads  # parses the list
    except ValueError:
        return (
            f"CAREWINDOW_EXPIRING_LEAD_MINUTES: {s.expiring_lead_minutes!r} is not a list of minutes "
            "separated by commas (e.g. 60,15)"
        )
    for key, role in s.api_key_pairs:
        if not key:
            return "CAREWINDOW_API_KEYS: an entry has no key (use key:role pairs, e.g. k1:admin,k2:agent)"
        if role not in ROLES:
            return f"CAREWINDOW_API_KEYS: unknown role {role!r} (choose one of {', '.join(ROLES)})"
    return _media_store_problem(s)


def _media_store_problem(s: Settings) -> str | None:
    """An ``s3://`` media store needs a bucket and boto3 (the ``s3`` extra)."""
    import importlib.util

    spec = s.media_store
    if not spec.startswith("s3://"):
        return None
    if not spec[5:].partition("/")[0]:
        return f"CAREWINDOW_MEDIA_STORE: no bucket in {spec!r} (expected s3://bucket/prefix)"
    if importlib.util.find_spec("boto3") is None:
        return "CAREWINDOW_MEDIA_STORE: an s3:// media store needs boto3: pip install 'carewindow[s3]'"
    return None


def _config_error(message: str) -> typer.Exit:
    return fail(f"configuration error: {message}", 2)


def _explain(e: Mapping[str, object]) -> str:
    where = e.get("loc")
    loc = [str(p) for p in where] if isinstance(where, tuple | list) else []
    field = loc[0] if loc else ""
    name = f"CAREWINDOW_{field.upper()}" if field else "settings"
    message = str(e.get("msg", "invalid"))
    value = e.get("input")
    if field in _SECRET or not isinstance(value, str | int | float | bool):
        return f"{name}: {message}"
    if field == "database_url":
        value = database_label(str(value))
    return f"{name}: {message} (got {value!r})"


def open_database(s: Settings) -> Engine:
    """The engine for the settings' database, which must exist and carry this carewindow's tables.

    Never creates a database nor changes its schema: a missing SQLite file, a database without
    carewindow's tables or one at an older revision is one line saying so and what to run (exit
    status 1). Says on stderr which database it uses."""
    from carewindow.storage.engine import make_engine
    from carewindow.storage.errors import StorageError
    from carewindow.storage.migrate import revision_state

    label = database_label(s.database_url)
    path = sqlite_path(s.database_url)
    if path is not None and not path.is_file():
        raise fail(
            f"no database at {path}. Start the server (`make run`, or `carewindow serve`) or run "
            "`carewindow migrate` to create it, or set CAREWINDOW_DATABASE_URL to the one to use "
            "(a relative SQLite path is under CAREWINDOW_HOME, "
            f"here {s.home_dir})."
        )
    try:
        engine = make_engine(s.database_url)
    except StorageError as exc:
        raise fail(f"cannot open the database {label}: {exc.reason}") from None
    try:
        current, head = revision_state(engine)
    except StorageError as exc:
        engine.dispose()
        raise fail(f"cannot read the database {label}: {exc.reason}") from None
    if current is None:
        engine.dispose()
        raise fail(f"the database {label} has no carewindow tables: run `carewindow migrate` first")
    if current != head:
        engine.dispose()
        raise fail(
            f"the database {label} is at revision {current}, this carewindow needs {head}: "
            "run `carewindow migrate`"
        )
    err.print(f"database: {escape(label)}", style="dim", highlight=False, soft_wrap=True)
    return engine
