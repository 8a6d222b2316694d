"""Access control: keys scoped to business numbers on every endpoint, no CORS, security headers."""

from __future__ import annotations

from typing import Any

import pytest
from reliability import record
from service_support import Service

pytestmark = pytest.mark.anyio
WA = "34600111999"
OTHER = "999999999999999"  # a business number the default one is not


async def _key(svc: Service, role: str, numbers: list[str] | None) -> dict[str, str]:
    r = await svc.http.post(
        "/v1/keys", headers=svc.auth(), json={"role": role, "name": "scoped", "phone_number_ids": numbers}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def _seed(svc: Service) -> str:
    r = await svc.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "hola"})
    assert r.status_code == 200, r.text
    r = await svc.http.post(
        "/v1/messages", headers=svc.auth(), json={"to": WA, "type": "text", "text": {"body": "hi"}}
    )
    assert r.status_code == 202, r.text
    await svc.drain()
    return str(r.json()["id"])


def _denied(r: Any) -> None:
    assert r.status_code in (403, 404), (r.request.url, r.status_code, r.text)
    assert r.json()["error"]["code"] in ("forbidden", "not_found")


async def test_a_key_sees_only_its_own_business_numbers(service: Service) -> None:
    mid = await _seed(service)
    number = service.rt.phone_number_id
    for role in ("agent", "admin"):
        other = await _key(service, role, [OTHER])
        own = await _key(service, role, [number])
        reads = [
            f"/v1/messages/{mid}",
            f"/v1/contacts/{WA}/messages",
            f"/v1/contacts/{WA}/window",
            f"/v1/contacts/{WA}/consent",
        ]
        for path in reads:
            _denied(await service.http.get(path, headers=other))
            assert (await service.http.get(path, headers=own)).status_code == 200, path
        # Asking for the number explicitly does not help.
        _denied(await service.http.get(f"/v1/contacts/{WA}/messages?phone_number_id={number}", headers=other))
        _denied(
            await service.http.put(
                f"/v1/contacts/{WA}/consent", headers=other, json={"status": "opted_in", "source": "x"}
            )
        )
        _denied(
            await service.http.post(
                "/v1/messages", headers=other, json={"to": WA, "type": "text", "text": {"body": "x"}}
            )
        )
        conv = await service.http.get("/v1/conversations", headers=other)
        assert conv.status_code == 200 and conv.json()["data"] == []
        assert [c["wa_id"] for c in (await service.http.get("/v1/conversations", headers=own)).json()["data"]]
        costs = await service.http.get("/v1/costs", headers=other)
        assert costs.status_code == 200 and costs.json()["total"]["messages"] == 0
        own_costs = (await service.http.get("/v1/costs", headers=own)).json()
        assert own_costs["total"]["messages"] >= 1
    record(
        "access:numbers",
        area="access control",
        fault="keys restricted to another business number (agent and admin) on every endpoint that reads "
        "or writes a contact: message, thread, window, consent (get/put), send, conversations, costs",
        cases=2 * 13,
        result="0 leaks: 403/404 or empty lists; the key for the right number sees everything",
        test="tests/api/test_access_control.py",
    )


async def test_no_cors_and_security_headers(service: Service) -> None:
    origin = {"Origin": "https://evil.example"}
    pre = await service.http.options(
        "/v1/messages",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    responses = [
        pre,
        await service.http.get("/v1/conversations", headers={**service.auth(), **origin}),
        await service.http.get("/healthz", headers=origin),
        await service.http.get("/docs", headers=origin),
        await service.http.get("/v1/conversations", headers=origin),  # 401
    ]
    for r in responses:
        assert not any(h.lower().startswith("access-control-") for h in r.headers), r.headers
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in responses[2].headers["content-security-policy"]  # JSON: nothing loads
    record(
        "access:cors-headers",
        area="access control",
        fault="cross-origin preflight and requests (Origin: https://evil.example) on API, health, docs, 401",
        cases=len(responses),
        result="no Access-Control-Allow-* header; nosniff, DENY, strict CSP on every answer",
        test="tests/api/test_access_control.py",
    )
