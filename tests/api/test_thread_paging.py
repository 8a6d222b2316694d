"""``GET /v1/contacts/{wa_id}/messages``: the thread, newest first, paged back with ``before``."""

from __future__ import annotations

import pytest
from service_support import Service

pytestmark = pytest.mark.anyio
WA = "34600444555"


async def test_pages_walk_back_through_the_thread_without_gaps(service: Service) -> None:
    start = int(service.clock.now.timestamp()) - 600
    for i in range(5):
        r = await service.http.post(
            f"/sandbox/customers/{WA}/messages", json={"text": f"m{i}", "timestamp": start + i}
        )
        assert r.json()["callback_status"] == 200, r.text
    url = f"/v1/contacts/{WA}/messages"
    seen: list[str] = []
    before = None
    for expected in (["m4", "m3"], ["m2", "m1"], ["m0"]):
        params = {"limit": 2, **({"before": before} if before else {})}
        page = (await service.http.get(url, params=params, headers=service.auth())).json()
        assert [m["text"] for m in page["data"]] == expected
        seen += [m["id"] for m in page["data"]]
        before = page.get("next_before")
        assert before == (page["data"][-1]["id"] if len(expected) == 2 else None)
    assert len(set(seen)) == 5


async def test_paging_back_from_an_unknown_message_is_not_found(service: Service) -> None:
    r = await service.http.post(f"/sandbox/customers/{WA}/messages", json={"text": "hola"})
    assert r.json()["callback_status"] == 200
    r = await service.http.get(
        f"/v1/contacts/{WA}/messages", params={"before": "msg_nope"}, headers=service.auth()
    )
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "not_found",
        "message": "No message 'msg_nope' to page back from.",
        "before": "msg_nope",
    }
