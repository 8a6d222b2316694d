"""The Graph gateway with an unmodified pywa (from PyPI, pinned in the test extra), both halves.

carewindow serves under uvicorn in a thread with the sandbox as its provider, its real delivery worker
and housekeeper. The sending pywa client's only change is its session's base URL
(``{server}/graph/v23.0``) and an integration key as its token. The receiving pywa is a webhook
server on its own port, with the fan-out subscription's secret as its app secret and verify token:
carewindow runs Meta's hub.challenge handshake against it, then forwards Meta's webhooks to it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from liveserver import bound_socket, thread_server
from pywa import WhatsApp
from pywa import errors as pywa_errors
from pywa import filters as pywa_filters
from pywa.types import Message, MessageStatus
from service_support import API_KEYS, make_settings

from carewindow.api.app import create_app
from carewindow.storage import messages as message_store

CUSTOMER = "34600111222"
STRANGER = "34600999000"  # never wrote: its window is closed
FANOUT_SECRET = "fan-out-secret-0123456789"


@dataclass
class Gateway:
    base: str
    app: Any
    http: httpx.Client

    @property
    def rt(self) -> Any:
        return self.app.state.runtime

    def client(self, token: str) -> WhatsApp:
        session = httpx.Client(timeout=30)
        wa = WhatsApp(phone_id=self.rt.phone_number_id, token=token, session=session, api_version="23.0")
        session.base_url = httpx.URL(f"{self.base}/graph/v23.0")  # the one change: carewindow, not Meta
        return wa

    def customer_says(self, wa_id: str, text: str) -> str:
        r = self.http.post(f"{self.base}/sandbox/customers/{wa_id}/messages", json={"text": text})
        assert r.status_code == 200, r.text
        return str(r.json()["wamid"])

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.base}/sandbox/sent", params={"to": wa_id})
        return list(r.json())


@pytest.fixture
def gateway(db_url: str) -> Iterator[Gateway]:
    sock = bound_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(db_url, public_url=public, sandbox_status_batch_seconds=0)
    app = create_app(settings, loopback=True, migrate=False, run_worker=True)
    with thread_server(app, sock) as base, httpx.Client(timeout=30) as http:
        yield Gateway(base=base, app=app, http=http)


class PywaReceiver:
    """An unmodified pywa webhook server (FastAPI) collecting the messages and statuses it parsed."""

    def __init__(self, phone_id: str) -> None:
        self.api = FastAPI()
        self.messages: list[Message] = []
        self.statuses: list[MessageStatus] = []
        self.lock = threading.Lock()
        self.wa = WhatsApp(
            phone_id=phone_id,  # pywa handles only updates about its own number
            token="unused",
            server=self.api,
            verify_token=FANOUT_SECRET,
            app_secret=FANOUT_SECRET,
            validate_updates=True,
        )

        @self.wa.on_message(pywa_filters.text)
        def on_message(_: WhatsApp, msg: Message) -> None:
            with self.lock:
                self.messages.append(msg)

        @self.wa.on_message_status()
        def on_status(_: WhatsApp, status: MessageStatus) -> None:
            with self.lock:
                self.statuses.append(status)

    def wait(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return
            time.sleep(0.05)
        raise AssertionError(f"timed out; messages={self.messages} statuses={self.statuses}")


@pytest.fixture
def receiver(gateway: Gateway) -> Iterator[tuple[PywaReceiver, str]]:
    r = PywaReceiver(gateway.rt.phone_number_id)
    with thread_server(r.api, bound_socket()) as base:
        yield r, base


def test_pywa_sends_through_the_gateway_and_receives_the_fanned_out_webhooks(
    gateway: Gateway, receiver: tuple[PywaReceiver, str]
) -> None:
    pywa_rx, rx_url = receiver
    sub = gateway.http.post(
        f"{gateway.base}/v1/subscriptions",
        headers={"Authorization": f"Bearer {API_KEYS['integration']}"},
        json={"url": rx_url + "/", "events": ["whatsapp.webhook"], "secret": FANOUT_SECRET, "verify": True},
    )
    assert sub.status_code == 201, sub.text

    wa = gateway.client(API_KEYS["integration"])
    inbound = gateway.customer_says(CUSTOMER, "Hola, ¿tenéis cita el lunes?")
    pywa_rx.wait(lambda: any(m.id == inbound for m in pywa_rx.messages))
    [got] = [m for m in pywa_rx.messages if m.id == inbound]
    assert got.text == "Hola, ¿tenéis cita el lunes?"
    assert got.from_user.wa_id == CUSTOMER

    sent = wa.send_message(to=CUSTOMER, text="Sí, a las 10.")
    assert sent.id.startswith("wamid.")
    assert [s["wamid"] for s in gateway.sent_to(CUSTOMER)] == [sent.id]  # Meta's id, sent once
    pywa_rx.wait(lambda: {"sent", "delivered", "read"} <= {s.status.value for s in pywa_rx.statuses})
    assert {s.id for s in pywa_rx.statuses} == {sent.id}

    # The same send path as /v1: the message is in the thread with Meta's wamid.
    with gateway.rt.engine.connect() as conn:
        found = message_store.get_by_wamid(conn, sent.id)
        row = message_store.get_by_seq(conn, found.seq)
    assert row is not None and row.direction == "out" and row.text == "Sí, a las 10."
    assert row.charge_category is not None  # priced like a /v1 send

    # Outside the window: Meta's 131047, and nothing reached the provider.
    with pytest.raises(pywa_errors.ReEngagementMessage) as refused:
        wa.send_message(to=STRANGER, text="¿Sigues ahí?")
    assert refused.value.code == 131047
    assert "window_closed" in (refused.value.details or "")
    assert gateway.sent_to(STRANGER) == []

    # A wrong key: Meta's 190.
    with pytest.raises(pywa_errors.ExpiredAccessToken):
        gateway.client("not-a-carewindow-key").send_message(to=CUSTOMER, text="x")

    # pywa marks the customer's message read through the same endpoint.
    assert wa.mark_message_as_read(message_id=inbound)


def test_wrong_and_missing_bearer_answer_metas_190_shape(gateway: Gateway) -> None:
    url = f"{gateway.base}/graph/v21.0/{gateway.rt.phone_number_id}/messages"
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        r = gateway.http.post(url, json=body, headers=headers)
        assert r.status_code == 401
        err = r.json()["error"]
        assert err["code"] == 190 and err["type"] == "OAuthException" and "fbtrace_id" in err
    assert gateway.sent_to(CUSTOMER) == []


# ---------------------------------------------------------------- media through the gateway

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
PDF = b"%PDF-1.7\n" + bytes(range(255, -1, -1)) * 48


@pytest.fixture
def media_gateway(db_url: str, tmp_path: Any) -> Iterator[Gateway]:
    """The gateway with its own media directory (the real media fetcher runs with the worker)."""
    sock = bound_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        db_url, public_url=public, sandbox_status_batch_seconds=0, home=str(tmp_path / "home")
    )
    app = create_app(settings, loopback=True, migrate=False, run_worker=True)
    with thread_server(app, sock) as base, httpx.Client(timeout=30) as http:
        yield Gateway(base=base, app=app, http=http)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pywa_uploads_sends_by_id_and_downloads_the_customers_photo(
    media_gateway: Gateway, tmp_path: Any
) -> None:
    gw = media_gateway
    wa = gw.client(API_KEYS["integration"])
    gw.customer_says(CUSTOMER, "Os mando la foto")

    # upload_media: Meta's multipart upload, answered with a media id; send_document / send_image by it.
    uploaded = wa.upload_media(media=PDF, mime_type="application/pdf", filename="presupuesto.pdf")
    sent_doc = wa.send_document(to=CUSTOMER, document=uploaded.id, filename="presupuesto.pdf")
    image = wa.upload_media(media=PHOTO, mime_type="image/png", filename="plano.png")
    sent_img = wa.send_image(to=CUSTOMER, image=image.id, caption="El plano")
    bodies = {s["wamid"]: s["body"] for s in gw.sent_to(CUSTOMER)}
    assert bodies[sent_doc.id]["document"]["id"] == uploaded.id
    assert bodies[sent_img.id]["image"] == {"id": image.id, "caption": "El plano"}
    with gw.rt.engine.connect() as conn:
        assert message_store.get_by_wamid(conn, sent_img.id) is not None  # the /v1 send path
    # Meta (the sandbox) has the very bytes that pywa uploaded.
    token = {"Authorization": "Bearer sandbox-access-token"}
    at_meta = gw.http.get(f"{gw.base}/sandbox/graph/v23.0/{uploaded.id}", headers=token).json()
    assert at_meta["sha256"] == _sha(PDF)

    # The customer's photo: the media id of Meta's webhook, fetched by carewindow, read by pywa.
    r = gw.http.post(
        f"{gw.base}/sandbox/customers/{CUSTOMER}/media",
        files={"file": ("router.png", PHOTO, "image/png")},
        data={"type": "image", "caption": "no enciende"},
    )
    assert r.status_code == 200, r.text
    media_id = r.json()["media_id"]
    deadline = time.monotonic() + 20
    while True:  # carewindow downloads it from Meta in the background (a durable job)
        try:
            url = wa.get_media_url(media_id)
            break
        except pywa_errors.WhatsAppError as exc:
            assert exc.code == 131052, exc  # still downloading
            assert time.monotonic() < deadline, "the photo was never fetched"
            time.sleep(0.1)
    assert (url.id, url.mime_type) == (media_id, "image/png")
    assert (url.file_size, url.sha256) == (len(PHOTO), _sha(PHOTO))
    path = wa.download_media(url=url.url, path=tmp_path)
    assert _sha(path.read_bytes()) == _sha(PHOTO)
    assert _sha(wa.get_media_bytes(url.url)) == _sha(PHOTO)

    # A wrong key reads nothing (Meta's 190); delete answers Meta's {"success": true}.
    with pytest.raises(pywa_errors.ExpiredAccessToken):
        gw.client("not-a-carewindow-key").get_media_url(media_id)
    assert wa.delete_media(uploaded.id).success is True
    with pytest.raises(pywa_errors.WhatsAppError) as unknown:
        wa.get_media_url(uploaded.id)
    assert unknown.value.code == 100
