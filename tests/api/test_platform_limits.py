"""Every platform limit through the API: exactly at the limit accepted, one past refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from reliability import record
from service_support import Service

pytestmark = pytest.mark.anyio
WA = "34600333444"


async def open_window(svc: Service) -> None:
    r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "hi"})
    assert r.json()["callback_status"] == 200


def buttons(n: int, title_len: int = 5) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "Pick one"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": (str(i) + "x" * title_len)[:title_len]}}
                for i in range(n)
            ]
        },
    }


def list_message(rows: int, title_len: int = 5, desc_len: int = 5) -> dict[str, Any]:
    return {
        "type": "list",
        "body": {"text": "Choose"},
        "action": {
            "button": "Options",
            "sections": [
                {
                    "title": "S",
                    "rows": [
                        {"id": f"r{i}", "title": "t" * title_len, "description": "d" * desc_len}
                        for i in range(rows)
                    ],
                }
            ],
        },
    }


CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "text body 4096",
        {"type": "text", "text": {"body": "a" * 4096}},
        {"type": "text", "text": {"body": "a" * 4097}},
        "body",
    ),
    (
        "image caption 1024",
        {"type": "image", "image": {"link": "https://example.com/a.png", "caption": "c" * 1024}},
        {"type": "image", "image": {"link": "https://example.com/a.png", "caption": "c" * 1025}},
        "caption",
    ),
    (
        "3 reply buttons",
        {"type": "interactive", "interactive": buttons(3)},
        {"type": "interactive", "interactive": buttons(4)},
        "buttons",
    ),
    (
        "button title 20",
        {"type": "interactive", "interactive": buttons(1, 20)},
        {"type": "interactive", "interactive": buttons(1, 21)},
        "title",
    ),
    (
        "10 list rows",
        {"type": "interactive", "interactive": list_message(10)},
        {"type": "interactive", "interactive": list_message(11)},
        "sections",
    ),
    (
        "list row title 24",
        {"type": "interactive", "interactive": list_message(1, title_len=24)},
        {"type": "interactive", "interactive": list_message(1, title_len=25)},
        "title",
    ),
    (
        "list row description 72",
        {"type": "interactive", "interactive": list_message(1, desc_len=72)},
        {"type": "interactive", "interactive": list_message(1, desc_len=73)},
        "description",
    ),
]


@pytest.mark.parametrize(("name", "at_limit", "past_limit", "field"), CASES, ids=[c[0] for c in CASES])
async def test_session_message_limits(
    service: Service, name: str, at_limit: dict[str, Any], past_limit: dict[str, Any], field: str
) -> None:
    await open_window(service)
    ok = await service.http.post("/v1/messages", headers=service.auth("agent"), json={"to": WA, **at_limit})
    assert ok.status_code == 202, (name, ok.text)
    bad = await service.http.post(
        "/v1/messages", headers=service.auth("agent"), json={"to": WA, **past_limit}
    )
    assert bad.status_code == 422, (name, bad.text)
    err = bad.json()["error"]
    assert err["code"] == "validation_error"
    assert any(field in ".".join(map(str, f["loc"])) for f in err["fields"]), err
    await service.drain()
    sent = (await service.http.get("/sandbox/sent", params={"to": WA})).json()
    assert len(sent) == 1  # the one at the limit reached the (emulated) platform, which accepted it


TEMPLATE_DEFS = [
    ("name 512", {"name": "n" * 512}, {"name": "n" * 513}, "name"),
    ("body 1024", {"body": "b" * 1024}, {"body": "b" * 1025}, "body"),
    ("header 60", {"header": "h" * 60}, {"header": "h" * 61}, "header"),
    ("footer 60", {"footer": "f" * 60}, {"footer": "f" * 61}, "footer"),
    ("button text 25", {"buttons": [{"text": "t" * 25}]}, {"buttons": [{"text": "t" * 26}]}, "text"),
]


@pytest.mark.parametrize(
    ("name", "at_limit", "past_limit", "field"), TEMPLATE_DEFS, ids=[c[0] for c in TEMPLATE_DEFS]
)
async def test_template_definition_limits(
    service: Service, name: str, at_limit: dict[str, Any], past_limit: dict[str, Any], field: str
) -> None:
    base = {"name": "limits", "language": "en", "category": "utility", "body": "Hello"}
    ok = await service.http.post("/v1/templates", headers=service.auth(), json={**base, **at_limit})
    assert ok.status_code == 201, (name, ok.text)
    bad = await service.http.post(
        "/v1/templates", headers=service.auth(), json={**base, "name": "limits_b", **past_limit}
    )
    assert bad.status_code == 422, (name, bad.text)
    err = bad.json()["error"]
    assert err["code"] == "validation_error"
    assert any(field in ".".join(map(str, f["loc"])) for f in err["fields"]), err


async def test_template_parameter_limits(service: Service) -> None:
    svc = service
    body = "Note: {{note}}"
    r = await svc.http.post(
        "/v1/templates",
        headers=svc.auth(),
        json={"name": "note", "language": "en", "category": "utility", "body": body},
    )
    assert r.status_code == 201
    await svc.http.put(
        f"/v1/contacts/{WA}/consent", headers=svc.auth(), json={"status": "opted_in", "source": "t"}
    )
    await open_window(svc)  # inside the window the re-engagement limit does not apply

    async def send(value: str) -> Any:
        return await svc.http.post(
            "/v1/messages",
            headers=svc.auth("agent"),
            json={
                "to": WA,
                "type": "template",
                "template": {"name": "note", "language": "en", "parameters": {"note": value}},
            },
        )

    assert (await send("a    b")).status_code == 202  # four spaces: allowed
    for value, meta in (("a     b", 132018), ("a\tb", 132018), ("a\nb", 132018)):
        r = await send(value)
        assert r.status_code == 422 and r.json()["error"]["meta_code"] == meta, r.text
        assert r.json()["error"]["parameter"] == "note"
    room = 1024 - len(body.replace("{{note}}", ""))
    assert (await send("x" * room)).status_code == 202  # rendered body exactly 1024
    r = await send("x" * (room + 1))
    assert r.status_code == 422 and r.json()["error"]["meta_code"] == 132005, r.text
    record(
        "bad-input:platform-limits",
        area="bad input",
        fault=(
            "message bodies, captions, buttons, list rows, template names/body/header/footer/buttons and "
            "template parameters (spaces, tabs, newlines, rendered length) at and one past each limit"
        ),
        cases=2 * (len(CASES) + len(TEMPLATE_DEFS)) + 7,
        result="every value at the limit accepted; every value past it refused (422) naming the field",
        test="tests/api/test_platform_limits.py",
    )
