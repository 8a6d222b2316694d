"""The gateway's media routes: Meta's error shapes, number-limited keys, and the node answer that
``GET /{id}`` still gives for the number and the WABA (docs/gateway.md, "Media")."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from service_support import API_KEYS, Service

from carewindow.api.runtime import media_fetcher
from carewindow.storage.media_store import DirectoryStore

pytestmark = pytest.mark.anyio
CUSTOMER = "34600111222"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _customer_photo(service: Service, tmp_path: Path) -> str:
    service.rt.media_store = DirectoryStore(tmp_path / "media")
    service.rt.media_fetcher = media_fetcher(service.rt)
    r = await service.http.post(
        f"/sandbox/customers/{CUSTOMER}/media",
        files={"file": ("p.png", PHOTO, "image/png")},
        data={"type": "image"},
    )
    assert r.status_code == 200, r.text
    await service.drain()
    return str(r.json()["media_id"])


async def test_pending_then_ready_and_a_number_limited_key_sees_only_its_numbers(
    service: Service, tmp_path: Path
) -> None:
    rt = service.rt
    media_id = await _customer_photo(service, tmp_path)
    key = API_KEYS["integration"]
    pending = await service.http.get(f"/graph/v23.0/{media_id}", headers=_bearer(key))
    assert pending.status_code == 400
    assert pending.json()["error"]["code"] == 131052  # still downloading: Meta's media download error
    assert await rt.media_fetcher.run_once() == 1
    ready = await service.http.get(f"/graph/v23.0/{media_id}", headers=_bearer(key))
    assert ready.status_code == 200 and ready.json()["sha256"] == hashlib.sha256(PHOTO).hexdigest()

    async def limited(numbers: list[str]) -> dict[str, str]:
        r = await service.http.post(
            "/v1/keys",
            headers=service.auth("admin"),
            json={"role": "integration", "name": "bot", "phone_number_ids": numbers},
        )
        assert r.status_code == 201, r.text
        return _bearer(r.json()["key"])

    ours, other = await limited([rt.phone_number_id]), await limited(["999999999"])
    assert (await service.http.get(f"/graph/v23.0/{media_id}", headers=ours)).status_code == 200
    hidden = await service.http.get(f"/graph/v23.0/{media_id}", headers=other)
    assert hidden.status_code == 404
    assert (hidden.json()["error"]["code"], hidden.json()["error"]["error_subcode"]) == (100, 33)
    assert (await service.http.delete(f"/graph/v23.0/{media_id}", headers=other)).status_code == 404
    up = await service.http.post(
        f"/graph/v23.0/{rt.phone_number_id}/media",
        headers=other,
        files={"file": ("p.png", PHOTO, "image/png")},
        data={"type": "image/png", "messaging_product": "whatsapp"},
    )
    assert up.json()["error"]["error_subcode"] == 33
    # ... and nothing was deleted by the key that may not see it.
    assert (await service.http.get(f"/graph/v23.0/{media_id}", headers=ours)).status_code == 200


async def test_media_errors_answer_metas_shapes(service: Service, tmp_path: Path) -> None:
    rt = service.rt
    rt.media_store = DirectoryStore(tmp_path / "media")
    key = API_KEYS["integration"]
    path = f"/graph/v23.0/{rt.phone_number_id}/media"
    form: dict[str, Any] = {"data": {"type": "image/png", "messaging_product": "whatsapp"}}
    photo = {"file": ("p.png", PHOTO, "image/png")}

    for headers in ({}, _bearer("nope")):
        r = await service.http.post(path, headers=headers, files=photo, **form)
        assert r.status_code == 401 and r.json()["error"]["code"] == 190
        r = await service.http.get("/graph/v23.0/123", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == 190
    missing = await service.http.post(path, headers=_bearer(key), **form)
    assert missing.json()["error"]["code"] == 131008
    nothing = {"file": ("e.png", b"", "image/png")}
    empty = await service.http.post(path, headers=_bearer(key), files=nothing, **form)
    assert empty.json()["error"]["code"] == 131053
    assert "empty" in empty.json()["error"]["error_data"]["details"]
    exe = {"file": ("x.exe", b"MZ" * 10, "application/x-msdownload")}
    exe_type = {"type": "application/x-msdownload"}
    odd = await service.http.post(path, headers=_bearer(key), files=exe, data=exe_type)
    assert odd.json()["error"]["code"] == 131053
    version = await service.http.post("/graph/latest/1/media", headers=_bearer(key), files=photo, **form)
    assert version.json()["error"]["code"] == 100
    unknown = await service.http.get("/graph/v23.0/424242", headers=_bearer(key))
    assert unknown.status_code == 404 and unknown.json()["error"]["error_subcode"] == 33
    gone = await service.http.delete("/graph/v23.0/424242", headers=_bearer(key))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == 100
    assert rt.sandbox.sent == []

    # GET /{phone_number_id} and GET /{waba_id} still answer the node, not a media lookup.
    node = await service.http.get(f"/graph/v23.0/{rt.phone_number_id}", headers=_bearer(key))
    assert node.status_code == 200 and node.json()["id"] == rt.phone_number_id
    assert node.json()["platform_type"] == "CLOUD_API"
    waba = await service.http.get(f"/graph/v23.0/{rt.waba_id}", headers=_bearer(key))
    assert waba.json()["id"] == rt.waba_id
