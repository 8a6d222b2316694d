"""Helpers shared by the service tests: a movable clock, settings, the in-process service.

Import from here (``from service_support import Service``), never ``from conftest import``: with
several conftest.py files in the tree, which one "conftest" names depends on import order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from carewindow.settings import Settings

API_KEYS = {"admin": "test-admin-key", "agent": "test-agent-key", "integration": "test-integration-key"}


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


def manual_housekeeper(app: FastAPI) -> Any:
    from carewindow.worker.housekeeping import Housekeeper

    rt = app.state.runtime
    return Housekeeper(
        engine=rt.engine, clock=rt.clock, leads_minutes=rt.settings.expiring_leads, publish=rt.bus.publish
    )


def manual_worker(app: FastAPI) -> Any:
    """A worker the test drives step by step (run_once), so nothing races the assertions."""
    from carewindow.worker.delivery import DeliveryWorker

    rt = app.state.runtime
    return DeliveryWorker(
        engine=rt.engine, provider=rt.provider, policy=rt.policy, clock=rt.clock, publish=rt.bus.publish
    )
