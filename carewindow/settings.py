"""Runtime settings: environment variables prefixed ``CAREWINDOW_`` and an optional ``carewindow.toml``.

Only entry points (api app factory, worker, cli) build Settings; everything else receives values.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Relative, so under the carewindow home (``Settings.home_dir``), never the current directory.
DEFAULT_SQLITE_URL = "sqlite:///var/carewindow.db"
CONFIG_FILE = "carewindow.toml"
_SQLITE_URL = re.compile(r"^(sqlite(?:\+\w+)?):///(.*)$", re.DOTALL)


def default_home() -> Path:
    """Where carewindow keeps its default database and development files when ``CAREWINDOW_HOME`` is
    not set: the source checkout it runs from (an editable install, as ``make run`` makes), else
    ``$XDG_DATA_HOME/carewindow`` (``~/.local/share/carewindow``). Never the current directory: every
    command finds the same database wherever it is run from."""
    checkout = Path(__file__).resolve().parent.parent
    try:
        if 'name = "carewindow"' in (checkout / "pyproject.toml").read_text(encoding="utf-8"):
            return checkout
    except OSError:
        pass
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "carewindow"


def resolve_sqlite_url(url: str, home: Path) -> str:
    """``url`` with a relative SQLite path made absolute under ``home``; other URLs (absolute paths,
    ``:memory:``, ``file:`` URIs, PostgreSQL) unchanged."""
    m = _SQLITE_URL.match(url)
    if m is None:
        return url
    scheme, rest = m.groups()
    path, sep, query = rest.partition("?")
    if not path or path == ":memory:" or path.startswith("file:") or Path(path).is_absolute():
        return url
    return f"{scheme}:///{(home / path).resolve()}{sep}{query}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    m = _SQLITE_URL.match(url)
    if m is None:
        return None
    path = m.group(2).partition("?")[0]
    return None if not path or path == ":memory:" or path.startswith("file:") else Path(path)


class Settings(BaseSettings):
    """Every knob of a carewindow deployment; see the README's configuration table."""

    # An empty variable (CAREWINDOW_X=) means the default, as if it were not set.
    model_config = SettingsConfigDict(env_prefix="CAREWINDOW_", extra="ignore", env_ignore_empty=True)

    # Where relative SQLite paths (the default database among them) and the development files
    # (var/dev-api-key, var/server.json) live. Empty: default_home(), the checkout carewindow runs from.
    home: str = ""
    database_url: str = DEFAULT_SQLITE_URL
    # serve's TCP port, and the port the CLI looks for a server on when none is recorded.
    port: int = Field(default=8000, ge=1, le=65535)
    provider: Literal["sandbox", "meta"] = "sandbox"
    # Where the Graph API lives. Empty with the sandbox provider: serve points it at its own /sandbox.
    meta_base_url: str = ""
    meta_graph_version: str = "v23.0"
    meta_token: str = Field(default="", repr=False)
    meta_app_secret: str = Field(default="", repr=False)
    meta_verify_token: str = Field(default="", repr=False)
    meta_timeout_seconds: float = 10.0
    phone_number_id: str = ""
    waba_id: str = ""
    display_phone_number: str = ""
    api_keys: str = Field(default="", repr=False)  # "key:role,key:role"
    # The pricing model: "auto" prices each message by the era in force on its send date (docs/costs.md);
    # "seed" keeps the seed's rules (everything in the window free); or one era by name.
    pricing: str = "auto"
    # meta_pmp_2026 (quoted from Meta's pages, allowance contested): free session messages per business
    # number and period, the period ("month": calendar month UTC, or "day"), and whether utility
    # templates stay free in the window. See docs/costs.md.
    service_free_allowance: int = Field(default=1000, ge=0)
    service_allowance_period: Literal["month", "day"] = "month"
    utility_free_in_window_2026: bool = False
    # false: no payment method on file with Meta, so past the free tier (meta_pmp_2026) service messages
    # are refused before sending (code payment_method_required) instead of being sent and not delivered.
    payment_method_on_file: bool = True
    reengagement_limit: int = Field(default=1, ge=0)
    window_hours: int = Field(default=24, ge=1)
    entry_point_window_hours: int = Field(default=72, ge=1)
    opt_out_keywords: str = "STOP,BAJA,UNSUBSCRIBE,CANCELAR,ARRET"
    rate_limit_per_second: float = Field(default=80.0, gt=0)
    hold_period_hours: int = Field(default=24 * 7, ge=1)
    ticket_template_language: str = "en"
    # The sandbox gathers statuses for this long into one webhook, as Meta does under load (0: one each).
    sandbox_status_batch_seconds: float = Field(default=0.02, ge=0)
    # Where the embedded sandbox keeps its templates and customers' windows across restarts, one file
    # per database (docs/subsystems/sandbox.md). Empty: `serve` uses var/sandbox under the home;
    # an app built in process (tests) keeps them in memory.
    sandbox_state_dir: str = ""
    # Send marketing templates through the Marketing Messages API (POST /{phone_number_id}/
    # marketing_messages), as Meta advises once a business disables marketing on the Cloud API (131063).
    marketing_messages_api: bool = False
    expiring_lead_minutes: str = "60,15"
    max_webhook_bytes: int = Field(default=1_000_000, ge=1024)
    # Transactions each group commit (webhooks, sends) keeps in flight on PostgreSQL; SQLite uses one.
    # One: a batch is four statements now, and a second committer only made batches smaller
    # (docs/performance.md, item 27).
    commit_threads: int = Field(default=1, ge=1, le=16)
    run_worker: bool = True  # serve runs a delivery worker in-process
    worker_batch_size: int = Field(default=100, ge=1)
    worker_poll_seconds: float = Field(default=0.05, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    public_url: str = "http://127.0.0.1:8000"
    session_secret: str = Field(default="", repr=False)
    log_level: str = "INFO"
    # Where media bytes are kept: a directory (relative: under the carewindow home) or
    # s3://bucket/prefix (needs carewindow[s3]; credentials from the AWS_* variables).
    media_store: str = "var/media"
    # An S3-compatible server other than AWS (MinIO, R2, ...): its endpoint URL. Empty: AWS.
    media_s3_endpoint_url: str = ""
    # Inbound media downloads the worker runs at once.
    media_fetch_concurrency: int = Field(default=4, ge=1, le=64)
    # How long a failing inbound download is retried before it is given up (Meta keeps media 30 days).
    media_retry_days: float = Field(default=30.0, gt=0)
    # The Graph gateway (/graph/{version}/..., docs/gateway.md) answers a send once Meta answered it; a
    # message not handed to Meta within this many seconds is cancelled unsent and answered 131016.
    gateway_answer_seconds: float = Field(default=30.0, gt=0)
    # Consent (docs/rules.md "Consent"): an opt-in within this many seconds of an opt-out, in either
    # order (clock skew, Meta's whole seconds, late redelivery), loses to the opt-out.
    reengagement_horizon_hours: int = Field(
        default=168,
        ge=1,
        description="re-engagement templates older than this stop counting; a plain template re-engages "
        "only while the last window closed less than this ago, else it is a notification (docs/rules.md)",
    )
    consent_tolerance_seconds: float = Field(
        default=300.0,
        ge=0,
        description="an opt-in this close to an opt-out (either order) loses to it (docs/rules.md)",
    )
    # Retention (docs/rules.md "Retention"), in days; 0 keeps forever. The housekeeper prunes in batches
    # of retention_batch_size rows, one short transaction each.
    retention_webhook_raw_days: int = Field(
        default=30, ge=0, description="days raw webhook bodies are kept (0: forever)"
    )
    retention_message_body_days: int = Field(
        default=0, ge=0, description="days message texts and bodies are kept; the ledger stays (0: forever)"
    )
    retention_orphan_status_days: int = Field(
        default=7, ge=0, description="days statuses of messages carewindow never sent wait (0: forever)"
    )
    retention_delivery_log_days: int = Field(
        default=30, ge=0, description="days finished outgoing-webhook deliveries are kept (0: forever)"
    )
    retention_idempotency_key_days: int = Field(
        default=7, ge=0, description="days an Idempotency-Key replays its message (0: forever)"
    )
    retention_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="rows the housekeeper prunes per transaction"
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, v: str) -> str:
        # Plain postgresql:// means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2.
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @model_validator(mode="after")
    def _resolve_sqlite_path(self) -> Settings:
        self.database_url = resolve_sqlite_url(self.database_url, self.home_dir)
        return self

    @property
    def home_dir(self) -> Path:
        """``home`` as an absolute path, else ``default_home()``."""
        return Path(self.home).expanduser().resolve() if self.home else default_home()

    @property
    def is_default_database(self) -> bool:
        """Whether this is the default database (``var/carewindow.db`` under the home)."""
        return self.database_url == resolve_sqlite_url(DEFAULT_SQLITE_URL, self.home_dir)

    @property
    def api_key_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for item in filter(None, (p.strip() for p in self.api_keys.split(","))):
            key, _, role = item.rpartition(":")
            pairs.append((key, role) if key else (item, "admin"))
        return pairs

    @property
    def opt_out_keyword_list(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.opt_out_keywords.split(",") if k.strip())

    @property
    def expiring_leads(self) -> tuple[int, ...]:
        return tuple(
            sorted({int(x) for x in self.expiring_lead_minutes.split(",") if x.strip()}, reverse=True)
        )


def config_path(config_file: str | Path | None = CONFIG_FILE) -> Path | None:
    """The settings file that applies: ``config_file`` as given (relative: the current directory's),
    else for the default name the one in the carewindow home; None when there is none."""
    if config_file is None:
        return None
    path = Path(config_file)
    if path.is_file():
        return path
    if str(config_file) == CONFIG_FILE:
        home = os.environ.get("CAREWINDOW_HOME")
        in_home = (Path(home).expanduser() if home else default_home()) / CONFIG_FILE
        if in_home.is_file():
            return in_home
    return None


def load_settings(config_file: str | Path | None = CONFIG_FILE, **overrides: Any) -> Settings:
    """Build Settings from ``carewindow.toml`` (the current directory's, else the carewindow home's),
    the environment, then ``overrides``."""
    file_values: dict[str, Any] = {}
    path = config_path(config_file)
    if path is not None:
        with open(path, "rb") as f:
            file_values = tomllib.load(f).get("carewindow", {})
    # The environment wins over the file: pydantic-settings gives init kwargs priority, so only pass
    # file values that the environment does not set.
    env_settings = Settings()
    explicit_env = env_settings.model_fields_set
    merged = {k: v for k, v in file_values.items() if k not in explicit_env}
    merged.update(overrides)
    return Settings(**merged)
