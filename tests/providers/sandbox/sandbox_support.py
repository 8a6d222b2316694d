"""Test support for the sandbox: a settable clock, a signature-checking receiver and an Env wrapper."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from carewindow.providers.sandbox import Sandbox
from carewindow.wire.signature import HEADER, verify

TOKEN = "sandbox-test-token"
SECRET = "sandbox-app-secret"
CALLBACK = "http://receiver.test/webhooks/whatsapp"
GRAPH = "/graph/v23.0"
PHONE_ID = "100000000000001"
WABA_ID = "200000000000001"
CUSTOMER = "34600111222"
START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the sandbox (it reads time only through its config)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Receiver:
    """An in-process webhook endpoint: records every POST, verifies the signature, can fail on demand."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.bad_signatures = 0
        self.fail_next = 0
        self.attempts = 0
        self.app = Starlette(routes=[Route("/webhooks/whatsapp", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.attempts += 1
        raw = await request.body()
        if not verify(raw, request.headers.get(HEADER), SECRET):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.fail_next:
            self.fail_next -= 1
            return JSONResponse({"error": "try later"}, status_code=503)
        assert request.headers["content-type"] == "application/json"
        self.raw.append(raw)
        self.bodies.append(json.loads(raw))
        return JSONResponse({"ok": True})

    def statuses(self, wamid: str | None = None) -> list[dict[str, Any]]:
        """Status items in arrival order (optionally for one wamid)."""
        out = []
        for body in self.bodies:
            for change in body["entry"][0]["changes"]:
                for status in change["value"].get("statuses", []):
                    if wamid is None or status["id"] == wamid:
                        out.append(status)
        return out

    def messages(self) -> list[dict[str, Any]]:
        return [
            m for b in self.bodies for c in b["entry"][0]["changes"] for m in c["value"].get("messages", [])
        ]

    def of_field(self, field: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b["entry"][0]["changes"][0]["field"] == field]


@dataclasses.dataclass
class Env:
    """One sandbox, a client to it and the receiver behind its callback URL."""

    app: Starlette
    sandbox: Sandbox
    client: httpx.AsyncClient
    receiver: Receiver
    clock: Clock

    async def send(self, body: dict[str, Any], *, token: str = TOKEN) -> httpx.Response:
        return await self.client.post(
            f"{GRAPH}/{PHONE_ID}/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    async def send_text(self, to: str = CUSTOMER, text: str = "Hola") -> httpx.Response:
        return await self.send(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"body": text},
            }
        )

    async def send_template(
        self, name: str, params: list[Any] | None = None, *, to: str = CUSTOMER, language: str = "es"
    ) -> httpx.Response:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if params is not None:
            template["components"] = [{"type": "body", "parameters": params}]
        return await self.send(
            {"messaging_product": "whatsapp", "to": to, "type": "template", "template": template}
        )

    async def customer(self, wa_id: str = CUSTOMER, text: str = "Hola", **extra: Any) -> dict[str, Any]:
        response = await self.client.post(f"/customers/{wa_id}/messages", json={"text": text, **extra})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def graph(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return await self.client.request(method, f"{GRAPH}/{WABA_ID}{path}", headers=headers, **kwargs)

    async def create_template(
        self,
        name: str,
        body: str,
        *,
        category: str = "UTILITY",
        language: str = "es",
        example: list[str] | None = None,
        parameter_format: str | None = None,
    ) -> httpx.Response:
        component: dict[str, Any] = {"type": "BODY", "text": body}
        if example:
            component["example"] = {"body_text": [example]}
        definition: dict[str, Any] = {
            "name": name,
            "language": language,
            "category": category,
            "components": [component],
        }
        if parameter_format:
            definition["parameter_format"] = parameter_format
        return await self.graph("POST", "/message_templates", json=definition)
