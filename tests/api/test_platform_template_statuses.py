"""Issue 23, defect 2: every template status Meta documents, and any it adds, without a 5xx.

Driven by the recorded ``message_template_status_update`` payloads (tests/fixtures/meta/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from service_support import Service

from carewindow.wire import signature

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
WA = "34600111444"
DISABLE_AT = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)  # the flagged fixture's disable_info.disable_date
DOCUMENTED = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "FLAGGED",
    "IN_APPEAL",
    "REINSTATED",
    "PENDING_DELETION",
    "DELETED",
    "ARCHIVED",
    "LIMIT_EXCEEDED",
]
SENDABLE = {"APPROVED", "REINSTATED", "FLAGGED"}


async def post_body(svc: Service, body: bytes) -> None:
    headers = {signature.HEADER: signature.sign(body, svc.rt.app_secret), "Content-Type": "application/json"}
    r = await svc.http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert r.status_code == 200, r.text


def status_update(event: str) -> bytes:
    """The recorded FLAGGED payload with another ``event`` (and, but for FLAGGED, no disable_info)."""
    doc = orjson.loads((FIXTURES / "message_template_status_update__flagged.json").read_bytes())
    value = doc["entry"][0]["changes"][0]["value"]
    value["event"] = event
    if event != "FLAGGED":
        del value["disable_info"]
    return orjson.dumps(doc)


async def ready(svc: Service) -> None:
    svc.clock.now = DISABLE_AT - timedelta(days=3)
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={
            "name": "ticket_update",
            "language": "es",
            "category": "utility",
            "body": "Tu caso {{1}} avanzó.",
        },
    )
    assert r.status_code == 201, r.text
    await svc.drain()  # the sandbox's approval webhook lands first
    r = await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "test"}
    )
    assert r.status_code == 200


async def send(svc: Service) -> Any:
    return await svc.http.post(
        "/v1/messages",
        headers=svc.auth(),
        json={
            "to": WA,
            "type": "template",
            "template": {"name": "ticket_update", "language": "es", "parameters": ["T-9"]},
        },
    )


async def test_a_flagged_template_is_sent_until_its_disable_date(service: Service) -> None:
    await ready(service)
    await post_body(service, (FIXTURES / "message_template_status_update__flagged.json").read_bytes())
    r = await service.http.get("/v1/templates/ticket_update/es", headers=service.auth())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "FLAGGED"
    assert (await send(service)).status_code == 202
    service.clock.now = DISABLE_AT
    r = await send(service)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "template_not_approved"
    assert err["status"] == "DISABLED"
    assert err["meta_code"] == 132016


@pytest.mark.parametrize("event", [*DOCUMENTED, "LOCKED", "SOMETHING_META_ADDS_IN_2027", "X" * 80])
async def test_every_status_is_stored_read_back_and_answered_without_a_5xx(
    service: Service, event: str
) -> None:
    await ready(service)
    await post_body(service, status_update(event))
    for path in ("/v1/templates", "/v1/templates/ticket_update/es"):
        r = await service.http.get(path, headers=service.auth())
        assert r.status_code == 200, r.text
    r = await service.http.get("/v1/templates/ticket_update/es", headers=service.auth())
    assert r.json()["status"] == event[:64]  # Meta's own word, kept
    r = await send(service)
    if event in SENDABLE:
        assert r.status_code == 202, r.text
    else:
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["code"] == "template_not_approved"
        assert event[:64] in err["message"]


async def test_the_recorded_locked_update_is_kept_as_text(service: Service) -> None:
    await ready(service)
    await post_body(service, (FIXTURES / "message_template_status_update__locked.json").read_bytes())
    r = await service.http.get("/v1/templates/ticket_update/es", headers=service.auth())
    assert r.json()["status"] == "LOCKED"
    r = await send(service)
    assert r.status_code == 409
    assert "LOCKED" in r.json()["error"]["message"]
