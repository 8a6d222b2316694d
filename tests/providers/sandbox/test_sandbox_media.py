"""The sandbox's media endpoints: upload, metadata with a short-lived signed url that checks the
token and expires, download, delete; the simulated customer's media webhook; files kept on disk."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import GRAPH, PHONE_ID, TOKEN

from carewindow.providers.sandbox.media import URL_SECONDS, SandboxMedia

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def upload(env: Any, data: bytes, mime: str = "application/pdf") -> str:
    r = await env.client.post(
        f"{GRAPH}/{PHONE_ID}/media",
        files={"file": ("q.pdf", data, mime)},
        data={"messaging_product": "whatsapp", "type": mime},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    media_id: str = r.json()["id"]
    return media_id


async def test_upload_info_download_delete(make_env: Any, tmp_path: Path) -> None:
    env = await make_env(media_dir=str(tmp_path))
    data = os.urandom(5000)
    media_id = await upload(env, data)
    info = (await env.client.get(f"{GRAPH}/{media_id}", headers=AUTH)).json()
    assert info["messaging_product"] == "whatsapp"
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["file_size"] == len(data)
    assert info["mime_type"] == "application/pdf"
    r = await env.client.get(info["url"], headers=AUTH)
    assert r.status_code == 200 and r.content == data
    assert (await env.client.delete(f"{GRAPH}/{media_id}", headers=AUTH)).json() == {"success": True}
    r = await env.client.get(f"{GRAPH}/{media_id}", headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 100


async def test_the_url_needs_the_token_and_expires(make_env: Any, tmp_path: Path) -> None:
    env = await make_env(media_dir=str(tmp_path))
    media_id = await upload(env, b"%PDF-1.4 x")
    url = (await env.client.get(f"{GRAPH}/{media_id}", headers=AUTH)).json()["url"]
    assert (await env.client.get(url)).status_code == 401
    assert (await env.client.get(url, headers={"Authorization": "Bearer wrong"})).status_code == 401
    tampered = url.replace("sig=", "sig=0")
    assert (await env.client.get(tampered, headers=AUTH)).status_code == 404
    env.clock.advance(seconds=URL_SECONDS + 1)
    r = await env.client.get(url, headers=AUTH)
    assert r.status_code == 404
    assert "expired" in r.json()["error"]["error_data"]["details"]


async def test_metadata_needs_the_token(make_env: Any, tmp_path: Path) -> None:
    env = await make_env(media_dir=str(tmp_path))
    media_id = await upload(env, b"x")
    assert (await env.client.get(f"{GRAPH}/{media_id}")).status_code == 401


async def test_upload_needs_messaging_product(make_env: Any, tmp_path: Path) -> None:
    env = await make_env(media_dir=str(tmp_path))
    r = await env.client.post(
        f"{GRAPH}/{PHONE_ID}/media", files={"file": ("a.txt", b"a", "text/plain")}, headers=AUTH
    )
    assert r.status_code == 400


async def test_customer_media_sends_a_signed_webhook_whose_id_downloads(
    make_env: Any, tmp_path: Path
) -> None:
    env = await make_env(media_dir=str(tmp_path))
    data = os.urandom(2000)
    r = await env.client.post(
        "/customers/15551112222/media",
        files={"file": ("v.ogg", data, "audio/ogg")},
        data={"type": "audio", "caption": "ignored for audio"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["delivered"] is True
    assert env.receiver.bad_signatures == 0
    message = env.receiver.bodies[-1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["type"] == "audio"
    assert "caption" not in message["audio"]
    assert base64.b64decode(message["audio"]["sha256"]) == hashlib.sha256(data).digest()
    info = (await env.client.get(f"{GRAPH}/{message['audio']['id']}", headers=AUTH)).json()
    assert (await env.client.get(info["url"], headers=AUTH)).content == data


async def test_customer_media_needs_a_file_and_a_type(make_env: Any, tmp_path: Path) -> None:
    env = await make_env(media_dir=str(tmp_path))
    r = await env.client.post("/customers/15551112222/media", data={"type": "image"})
    assert r.status_code == 422
    r = await env.client.post(
        "/customers/15551112222/media", files={"file": ("a", b"a", "image/png")}, data={"type": "gif"}
    )
    assert r.status_code == 422


def test_files_survive_a_restart(tmp_path: Path) -> None:
    first = SandboxMedia(tmp_path, secret="s")
    meta = first.put(b"kept", mime_type="image/png", filename="a.png")
    again = SandboxMedia(tmp_path, secret="s")
    found = again.get(meta["id"])
    assert found is not None
    assert found[1].read_bytes() == b"kept"
    assert again.get("../../etc/passwd") is None
