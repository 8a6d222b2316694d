"""Runtime settings: environment variables prefixed ``CAREWINDOW_`` and an optional ``carewindow.toml``.

Only entry points (api app factory, worker, cli) build Settings; everything else receives values.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./var/carewindow.db"


class Settings(BaseSettings):
    """Every knob of a carewindow deployment; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="CAREWINDOW_", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
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
    pricing: str = "seed"
    # meta_pmp_2026 (reported, not confirmed): free session messages per business number and period,
    # the period ("month": calendar month UTC, or "day"), and whether utility templates stay free in the
    # window. See docs/costs.md.
    service_free_allowance: int = Field(default=1000, ge=0)
    service_allowance_period: Literal["month", "day"] = "month"
    utility_free_in_window_2026: bool = False
    reengagement_limit: int = Field(default=1, ge=0)
    window_hours: int = Field(default=24, ge=1)
    entry_point_window_hours: int = Field(default=72, ge=1)
    opt_out_keywords: str = "STOP,BAJA,UNSUBSCRIBE,CANCELAR,ARRET"
    rate_limit_per_second: float = Field(default=80.0, gt=0)
    hold_period_hours: int = Field(default=24 * 7, ge=1)
    ticket_template_language: str = "en"
    # The sandbox gathers statuses for this long into one webhook, as Meta does under load (0: one each).
    sandbox_status_batch_seconds: float = Field(default=0.02, ge=0)
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

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, v: str) -> str:
        # Plain postgresql:// means psycopg 3 here; SQLAlchemy would otherwise pick psycopg2.
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            return "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

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


def load_settings(config_file: str | Path | None = "carewindow.toml", **overrides: Any) -> Settings:
    """Build Settings from ``carewindow.toml`` (when present), the environment, then ``overrides``."""
    file_values: dict[str, Any] = {}
    if config_file is not None and Path(config_file).is_file():
        with open(config_file, "rb") as f:
            file_values = tomllib.load(f).get("carewindow", {})
    # The environment wins over the file: pydantic-settings gives init kwargs priority, so only pass
    # file values that the environment does not set.
    env_settings = Settings()
    explicit_env = env_settings.model_fields_set
    merged = {k: v for k, v in file_values.items() if k not in explicit_env}
    merged.update(overrides)
    return Settings(**merged)
