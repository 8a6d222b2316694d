"""Shared fixtures: a database per test on SQLite and PostgreSQL, and the service in process.

PostgreSQL: one migrated template database per test process, cloned per test (CREATE DATABASE ...
TEMPLATE), dropped afterwards. Without a reachable server the PostgreSQL variants are skipped with
the reason printed in pytest's summary (make test also says so up front).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from carewindow.api.app import create_app
from carewindow.settings import Settings
from carewindow.storage.engine import make_engine
from carewindow.storage.migrate import upgrade

PG_URL = os.environ.get("CAREWINDOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
API_KEYS = {"admin": "test-admin-key", "agent": "test-agent-key", "integration": "test-integration-key"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


_pg_state: dict[str, Any] = {}


def _pg_unavailable_reason() -> str | None:
    if "reason" in _pg_state:
        return _pg_state["reason"]  # type: ignore[no-any-return]
    reason = None
    if not PG_URL:
        reason = "no PostgreSQL configured (CAREWINDOW_TEST_PG_URL is empty)"
    else:
        try:
            psycopg.connect(_pg_admin_url(), connect_timeout=3, autocommit=True).close()
        except Exception as exc:
            reason = f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
    _pg_state["reason"] = reason
    return reason


def _pg_exec(sql: str) -> None:
    with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
        conn.execute(sql)


def _swap_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    reason = _pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    name = f"cw_tpl_{WORKER}_{os.getpid()}"
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_exec(f'CREATE DATABASE "{name}"')
    engine = make_engine(_swap_db(_pg_admin_url(), name))
    upgrade(engine)
    engine.dispose()
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test: SQLite file or PostgreSQL clone."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "carewindow.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    tpl: str = request.getfixturevalue("pg_template")
    name = f"cw_t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
    try:
        yield _swap_db(_pg_admin_url(), name)
    finally:
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Clock:
    """A clock tests can move; starts at the real time so sandbox timestamps look natural."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "provider": "sandbox",
        "public_url": "http://testserver",
        "api_keys": ",".join(f"{k}:{role}" for role, k in API_KEYS.items()),
        "worker_poll_seconds": 0.01,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    """The service in process: an HTTP client for it, its app, runtime and clock."""

    app: FastAPI
    http: httpx.AsyncClient
    clock: Clock

    @property
    def rt(self) -> Any:
        return self.app.state.runtime

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEYS[role]}"}

    async def drain(self) -> None:
        """Wait until the worker has sent everything queued and the sandbox's webhooks were processed."""
        import asyncio

        for _ in range(500):
            worker = self.rt.worker
            if worker is not None:
                while await worker.run_once():
                    pass
            if self.rt.housekeeper is not None:
                await self.rt.housekeeper.run_once()
            if self.rt.sandbox is not None:
                await self.rt.sandbox.drain(10)
            with self.rt.engine.connect() as conn:
                from carewindow.storage.outbox import due_count

                if due_count(conn, self.clock.now) == 0:
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("outbox did not drain")


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[Service]:
    clock = Clock()
    app = create_app(make_settings(db_url), clock=clock, loopback=True, run_worker=False)
    async with app.router.lifespan_context(app):
        app.state.runtime.worker = _manual_worker(app)
        app.state.runtime.housekeeper = _manual_housekeeper(app)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Service(app=app, http=http, clock=clock)
        finally:
            await app.state.runtime.housekeeper.aclose()


def _manual_housekeeper(app: FastAPI) -> Any:
    from carewindow.worker.housekeeping import Housekeeper

    rt = app.state.runtime
    return Housekeeper(
        engine=rt.engine, clock=rt.clock, leads_minutes=rt.settings.expiring_leads, publish=rt.bus.publish
    )


def _manual_worker(app: FastAPI) -> Any:
    """A worker the test drives step by step (run_once), so nothing races the assertions."""
    from carewindow.worker.delivery import DeliveryWorker

    rt = app.state.runtime
    return DeliveryWorker(
        engine=rt.engine, provider=rt.provider, policy=rt.policy, clock=rt.clock, publish=rt.bus.publish
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Render the reliability table (docs/reliability.md) from what this run's tests recorded.

    Only the controlling process does it (xdist workers have ``workerinput``)."""
    if hasattr(session.config, "workerinput"):
        return
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "reliability-report"
    subprocess.run([sys.executable, str(script)], check=False)
