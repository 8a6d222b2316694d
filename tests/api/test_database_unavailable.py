"""SQLite busy (a lock held past busy_timeout) and full (no page left): 503 with the contract's error,
nothing half-written, and the same requests succeed once the database is back, without a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability import record
from service_support import API_KEYS, Clock, make_settings
from sqlalchemy import Engine, event, text

from carewindow.api.app import create_app
from carewindow.storage.engine import make_engine
from carewindow.storage.tables import metadata
from carewindow.wire.signature import HEADER, sign

pytestmark = pytest.mark.anyio
WA = "34600111444"
SECRET = "outage-secret"


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(t.select()).all())) for t in metadata.sorted_tables}


@pytest.fixture
def db_path(tmp_path: Path, sqlite_template: Path) -> Iterator[Path]:
    import shutil

    path = tmp_path / "carewindow.db"
    shutil.copy(sqlite_template, path)
    yield path


@pytest.fixture
async def client(db_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Engine]]:
    url = f"sqlite:///{db_path}?timeout=0.2"
    engine = make_engine(url)
    app = create_app(
        make_settings(url, meta_app_secret=SECRET),
        clock=Clock(),
        engine=engine,
        loopback=True,
        run_worker=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, engine
    engine.dispose()


def webhook(i: int) -> bytes:
    return (
        '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550000001",'
        f'"phone_number_id":"100000000000001"}},"contacts":[{{"profile":{{"name":"A"}},"wa_id":"{WA}"}}],'
        f'"messages":[{{"from":"{WA}","id":"wamid.outage.{i}","timestamp":"1751364000","type":"text",'
        '"text":{"body":"hola"}}]}}]}]}'
    ).encode()


async def _requests(http: httpx.AsyncClient, i: int) -> list[httpx.Response]:
    admin = {"Authorization": f"Bearer {API_KEYS['admin']}"}
    body = webhook(i)
    return [
        await http.post("/webhooks/whatsapp", content=body, headers={HEADER: sign(body, SECRET)}),
        await http.put(
            f"/v1/contacts/{WA}/consent", headers=admin, json={"status": "opted_in", "source": f"s{i}"}
        ),
        await http.post("/v1/keys", headers=admin, json={"role": "agent", "name": f"k{i}"}),
    ]


def _assert_503(responses: list[httpx.Response]) -> None:
    for r in responses:
        assert r.status_code == 503, (r.request.url, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "unavailable" and "retry" in err["message"].lower()
        assert r.headers["Retry-After"]


async def test_sqlite_locked_beyond_busy_timeout_is_503_then_recovers(
    client: tuple[httpx.AsyncClient, Engine], db_path: Path
) -> None:
    http, engine = client
    before = snapshot(engine)
    blocker = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        responses = [r for i in range(3) for r in await _requests(http, i)]
        _assert_503(responses)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert snapshot(engine) == before  # nothing half-written
    assert [r.status_code for r in await _requests(http, 0)] == [200, 200, 201]
    record(
        "sqlite:locked",
        area="fault",
        fault="SQLite file locked by another connection (BEGIN EXCLUSIVE) beyond busy_timeout: "
        "webhook, consent and key writes",
        cases=len(responses),
        result="every write 503 `unavailable` with Retry-After; 0 rows changed; recovered without restart",
        test="tests/api/test_database_unavailable.py",
    )


async def test_sqlite_full_is_503_then_recovers(client: tuple[httpx.AsyncClient, Engine]) -> None:
    http, engine = client
    before = snapshot(engine)
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    def full(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    # "Disk full" as SQLite reports it (SQLITE_FULL), for every connection of the pool.
    engine.dispose()
    event.listen(engine, "connect", full)
    try:
        responses = []
        for i in range(3):
            # Big enough to need new pages: a consent proof of 10,000 characters.
            admin = {"Authorization": f"Bearer {API_KEYS['admin']}"}
            responses.append(
                await http.put(
                    f"/v1/contacts/{WA}/consent",
                    headers=admin,
                    json={"status": "opted_in", "source": f"s{i}", "proof": "x" * 10_000},
                )
            )
            body = webhook(100 + i).replace(b'"hola"', b'"' + b"y" * 50_000 + b'"')
            responses.append(
                await http.post("/webhooks/whatsapp", content=body, headers={HEADER: sign(body, SECRET)})
            )
        _assert_503(responses)
    finally:
        event.remove(engine, "connect", full)
        engine.dispose()
    assert snapshot(engine) == before
    assert [r.status_code for r in await _requests(http, 1)] == [200, 200, 201]
    record(
        "sqlite:full",
        area="fault",
        fault='SQLite "database or disk is full" (max_page_count reached) on webhook and consent writes',
        cases=len(responses),
        result="every write 503 `unavailable`; 0 rows changed; recovered without restart",
        test="tests/api/test_database_unavailable.py",
    )
