"""Wire compatibility: the unmodified pywa client sends through the sandbox and parses its webhooks.

pywa is synchronous (an ``httpx.Client``), so the sandbox runs as carewindow serves it: mounted at
``/sandbox`` in a host app under uvicorn, in a background thread on a free loopback port, posting its
webhooks by URL to the host's ``/webhooks/whatsapp``. pywa pins its session's base URL to
graph.facebook.com; the only change is pointing that base URL at ``{public_url}/sandbox/graph/v23.0``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pywa import WhatsApp
from pywa import errors as pywa_errors
from pywa.types import Message, MessageStatus
from pywa.types.message_status import MessageStatusType, PricingCategory
from pywa.types.templates import (
    BodyText,
    Template,
    TemplateCategory,
    TemplateLanguage,
    TemplateStatus,
    TemplateStatusUpdate,
)
from sandbox_support import CUSTOMER, PHONE_ID, SECRET, TOKEN, WABA_ID, Receiver
from starlette.applications import Starlette
from starlette.routing import Mount

from carewindow.providers.sandbox import SandboxConfig, create_sandbox_app


class Harness:
    def __init__(self, root: str, session: httpx.Client, receiver: Receiver) -> None:
        self.root = root
        self.session = session
        self.receiver = receiver
        self.wa = WhatsApp(
            phone_id=PHONE_ID, token=TOKEN, session=session, api_version="23.0", waba_id=WABA_ID
        )
        # The one override: pywa pinned graph.facebook.com; point it at the sandbox's graph root.
        session.base_url = httpx.URL(f"{root}/graph/v23.0")

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.root + path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def drain(self) -> None:
        assert self.control("POST", "/drain", json={"timeout": 5}) == {"pending": 0}


@pytest.fixture
def harness() -> Iterator[Harness]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    receiver = Receiver()
    config = SandboxConfig(
        access_token=TOKEN,
        callback_url=f"{public_url}/webhooks/whatsapp",
        app_secret=SECRET,
        status_delays=(0, 0, 0),
        base_url=f"{public_url}/sandbox/graph",
    )
    sandbox_app = create_sandbox_app(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await sandbox_app.state.sandbox.aclose()  # mounted apps get no lifespan of their own

    host = Starlette(routes=[Mount("/sandbox", sandbox_app), *receiver.app.routes], lifespan=lifespan)
    server = uvicorn.Server(
        uvicorn.Config(host, log_level="warning", http="h11", ws="none", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(timeout=10) as session:
            yield Harness(f"{public_url}/sandbox", session, receiver)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_pywa_sends_text_and_parses_inbound_and_status_webhooks(harness: Harness) -> None:
    wa = harness.wa
    with pytest.raises(pywa_errors.ReEngagementMessage):
        wa.send_message(to=CUSTOMER, text="Hola")
    inbound = harness.control(
        "POST", f"/customers/{CUSTOMER}/messages", json={"text": "Hola", "profile_name": "Ana"}
    )
    [update] = harness.receiver.bodies
    message = Message.from_update(client=wa, update=update)
    assert message.id == inbound["wamid"]
    assert message.text == "Hola"
    assert message.from_user.wa_id == CUSTOMER
    assert message.from_user.name == "Ana"
    assert message.metadata.phone_number_id == PHONE_ID

    sent = wa.send_message(to=CUSTOMER, text="¿En qué te ayudo?")
    assert sent.id.startswith("wamid.")
    accepted = harness.control("GET", "/sent", params={"to": CUSTOMER})
    assert [(s["wamid"], s["body"]["text"]["body"]) for s in accepted] == [(sent.id, "¿En qué te ayudo?")]

    harness.drain()
    statuses = [
        MessageStatus.from_update(client=wa, update=body)
        for body in harness.receiver.bodies
        if "statuses" in body["entry"][0]["changes"][0]["value"]
    ]
    assert [s.status for s in statuses] == [
        MessageStatusType.SENT,
        MessageStatusType.DELIVERED,
        MessageStatusType.READ,
    ]
    assert {s.id for s in statuses} == {sent.id}
    assert statuses[0].pricing is not None
    assert statuses[0].pricing.billable is False
    assert statuses[0].pricing.category is PricingCategory.SERVICE
    # pywa marks the inbound message as read through the same send endpoint.
    assert message.mark_as_read()


def test_pywa_creates_lists_sends_and_deletes_templates(harness: Harness) -> None:
    wa = harness.wa
    created = wa.create_template(
        template=Template(
            name="ticket_update",
            category=TemplateCategory.UTILITY,
            language=TemplateLanguage.SPANISH,
            components=[BodyText("Tu ticket {{1}} está listo.", "T-1")],
        )
    )
    assert created.status is TemplateStatus.APPROVED
    harness.drain()
    approval = TemplateStatusUpdate.from_update(client=wa, update=harness.receiver.bodies[-1])
    assert approval.new_status is TemplateStatus.APPROVED
    assert approval.template_name == "ticket_update"

    listed = wa.get_templates()
    assert [t.name for t in listed] == ["ticket_update"]

    # Templates need no open window.
    sent = wa.send_template(
        to=CUSTOMER, name="ticket_update", language=TemplateLanguage.SPANISH, params=[BodyText.params("T-42")]
    )
    accepted = harness.control("GET", "/sent")
    assert accepted[-1]["wamid"] == sent.id
    assert accepted[-1]["body"]["template"]["components"][0]["parameters"][0]["text"] == "T-42"
    harness.drain()
    first_status = next(
        MessageStatus.from_update(client=wa, update=b)
        for b in harness.receiver.bodies
        if b["entry"][0]["changes"][0]["value"].get("statuses", [{}])[0].get("id") == sent.id
    )
    assert first_status.pricing is not None
    assert first_status.pricing.billable is True
    assert first_status.pricing.category is PricingCategory.UTILITY

    with pytest.raises(pywa_errors.TemplateParamCountMismatch):
        wa.send_template(to=CUSTOMER, name="ticket_update", language=TemplateLanguage.SPANISH, params=[])
    harness.control("POST", "/templates/ticket_update/es/status", json={"status": "PAUSED"})
    with pytest.raises(pywa_errors.TemplatePaused):
        wa.send_template(
            to=CUSTOMER,
            name="ticket_update",
            language=TemplateLanguage.SPANISH,
            params=[BodyText.params("T-1")],
        )
    assert wa.delete_template(template_name="ticket_update")
    with pytest.raises(pywa_errors.TemplateNotExists):
        wa.send_template(to=CUSTOMER, name="ticket_update", language=TemplateLanguage.SPANISH)
