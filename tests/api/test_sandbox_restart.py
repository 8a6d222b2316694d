"""Issue 23, defect 6: the embedded sandbox's templates and windows survive a restart on the same
database, as Meta's do; a state file that cannot be read is set aside, never a failed start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_support import Clock, Service, make_settings, manual_housekeeper, manual_worker

from carewindow.api.app import create_app, sandbox_state_file
from carewindow.storage.tables import messages

pytestmark = pytest.mark.anyio
WA = "34600777888"


@asynccontextmanager
async def running(db_url: str, state_dir: Path, clock: Clock) -> AsyncIterator[Service]:
    app = create_app(
        make_settings(db_url, sandbox_state_dir=str(state_dir)), clock=clock, loopback=True, run_worker=False
    )
    async with app.router.lifespan_context(app):
        app.state.runtime.worker = manual_worker(app)
        app.state.runtime.housekeeper = manual_housekeeper(app)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                yield Service(app=app, http=http, clock=clock)
        finally:
            await app.state.runtime.housekeeper.aclose()


def statuses(svc: Service) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    with svc.rt.engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.status, messages.c.error_code).where(messages.c.direction == "out")
        )
        return [(r.status, r.error_code) for r in rows]


async def test_templates_and_windows_survive_a_restart(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    async with running(db_url, tmp_path, clock) as svc:
        r = await svc.http.post(
            "/v1/templates",
            headers=svc.auth(),
            json={"name": "ticket_update", "language": "en", "category": "utility", "body": "Ticket {{1}}."},
        )
        assert r.status_code == 201, r.text
        r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "hi"})
        assert r.json()["callback_status"] == 200
        await svc.drain()
        state = Path(str(sandbox_state_file(svc.rt.settings)))
        assert state.parent == tmp_path and state.exists()
    clock.advance(minutes=5)
    async with running(db_url, tmp_path, clock) as svc:
        r = await svc.http.put(
            f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "t"}
        )
        assert r.status_code == 200
        sends: list[dict[str, Any]] = [
            {"type": "text", "text": {"body": "still here"}},
            {
                "type": "template",
                "template": {"name": "ticket_update", "language": "en", "parameters": ["7"]},
            },
        ]
        for body in sends:
            r = await svc.http.post("/v1/messages", headers=svc.auth(), json={"to": WA, **body})
            assert r.status_code == 202, r.text
        await svc.drain()
        # Before the fix: 131047 (the sandbox forgot who wrote) and 132001 (it forgot the template).
        assert sorted(statuses(svc)) == [("read", None), ("read", None)]


async def test_an_unreadable_state_file_is_set_aside(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    async with running(db_url, tmp_path, clock) as svc:
        state = Path(str(sandbox_state_file(svc.rt.settings)))
    state.write_text("{not json")
    async with running(db_url, tmp_path, clock) as svc:
        assert svc.rt.sandbox.templates == {}
        r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "hi"})
        assert r.json()["callback_status"] == 200
    assert state.with_name(state.name + ".unreadable").read_text() == "{not json"
    assert state.exists()


def test_each_database_has_its_own_state_file(tmp_path: Path) -> None:
    a = sandbox_state_file(make_settings("sqlite:////tmp/a.db", sandbox_state_dir=str(tmp_path)))
    b = sandbox_state_file(make_settings("sqlite:////tmp/b.db", sandbox_state_dir=str(tmp_path)))
    pg = sandbox_state_file(
        make_settings("postgresql://u:secret@h/carewindow", sandbox_state_dir=str(tmp_path))
    )
    assert len({a, b, pg}) == 3
    assert pg is not None and "secret" not in pg and Path(pg).name.startswith("carewindow-")
    assert sandbox_state_file(make_settings("sqlite:////tmp/a.db")) is None
