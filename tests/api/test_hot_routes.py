"""The HTTP edge (api/edge.py): the two hot POSTs have one implementation each, outside FastAPI's
routing, and answer every case in the contract's shape, with the project's middleware headers.

The expected answers of the error cases are the ones the FastAPI routes gave before the routes were
replaced (status, code, message and ``fields``), so the public contract is unchanged.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.exceptions import RequestValidationError
from service_support import API_KEYS, Clock, Service, make_settings, manual_housekeeper, manual_worker
from starlette.exceptions import HTTPException as StarletteHTTPException

from carewindow.actions.errors import NotFound
from carewindow.api.app import create_app
from carewindow.api.errors import ApiError, error_answer, handled_classes
from carewindow.storage.errors import Conflict, Unavailable
from carewindow.wire import signature

pytestmark = pytest.mark.anyio
SECRET = "edge-secret"
LIMIT = 4096
WEBHOOK = orjson.dumps(
    {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550000001", "phone_number_id": "1"},
                            "contacts": [{"profile": {"name": "A"}, "wa_id": "34600300001"}],
                            "messages": [
                                {
                                    "from": "34600300001",
                                    "id": "wamid.edge.1",
                                    "timestamp": "1751364000",
                                    "type": "text",
                                    "text": {"body": "hola"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
)
SECURITY = ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy")


@pytest.fixture
async def svc(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Service]:
    """The service on SQLite with a known app secret and a small webhook limit (the edge does not
    depend on the database; the hot paths' storage is tested on both elsewhere)."""
    path = tmp_path / "carewindow.db"
    shutil.copy(sqlite_template, path)
    clock = Clock()
    settings = make_settings(f"sqlite:///{path}", meta_app_secret=SECRET, max_webhook_bytes=LIMIT)
    app = create_app(settings, clock=clock, loopback=True, run_worker=False)
    async with app.router.lifespan_context(app):
        app.state.runtime.worker = manual_worker(app)
        app.state.runtime.housekeeper = manual_housekeeper(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Service(app=app, http=http, clock=clock)  # type: ignore[arg-type]
        finally:
            await app.state.runtime.housekeeper.aclose()


class Submits:
    """Counts the webhook jobs given to the ingest group commit; ``fail`` makes each one raise."""

    def __init__(self, svc: Service, monkeypatch: pytest.MonkeyPatch, fail: Exception | None = None) -> None:
        self.jobs: list[Any] = []
        self._real = svc.rt.ingest.submit
        self._fail = fail
        monkeypatch.setattr(svc.rt.ingest, "submit", self)

    async def __call__(self, job: Any) -> Any:
        self.jobs.append(job)
        if self._fail is not None:
            raise self._fail
        return await self._real(job)


def signed(body: bytes) -> dict[str, str]:
    return {signature.HEADER: signature.sign(body, SECRET), "Content-Type": "application/json"}


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


async def _chunks(n: int) -> AsyncIterable[bytes]:
    for _ in range(n):
        yield b"x" * 1000


# ------------------------------------------------------------------------------------------ webhooks


async def test_webhook_is_stored_once_and_answered_after_its_commit(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    submits = Submits(svc, monkeypatch)
    r = await svc.http.post("/webhooks/whatsapp", content=WEBHOOK, headers=signed(WEBHOOK))
    assert (r.status_code, r.content) == (200, b'{"status":"ok"}')
    assert r.headers["content-type"] == "application/json"
    assert [job.body for job in submits.jobs] == [WEBHOOK]


async def test_the_200_waits_for_the_commit(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    committed = asyncio.Event()
    real = svc.rt.ingest.submit

    async def slow_commit(job: Any) -> Any:
        await committed.wait()
        return await real(job)

    monkeypatch.setattr(svc.rt.ingest, "submit", slow_commit)
    request = asyncio.ensure_future(
        svc.http.post("/webhooks/whatsapp", content=WEBHOOK, headers=signed(WEBHOOK))
    )
    await asyncio.sleep(0.05)
    assert not request.done()  # no answer while the commit is pending
    committed.set()
    assert (await request).status_code == 200


@pytest.mark.parametrize(
    ("case", "status", "code", "message"),
    [
        ("declared_too_large", 413, "payload_too_large", f"Webhook body exceeds {LIMIT} bytes."),
        ("streamed_too_large", 413, "payload_too_large", f"Webhook body exceeds {LIMIT} bytes."),
        ("no_signature", 401, "unauthorized", "Missing or invalid X-Hub-Signature-256 for this body."),
        ("wrong_signature", 401, "unauthorized", "Missing or invalid X-Hub-Signature-256 for this body."),
        (
            "not_json",
            400,
            "invalid_webhook",
            "Not a WhatsApp webhook: body is not valid JSON: unexpected end of data: "
            "line 1 column 2 (char 1)",
        ),
        (
            "not_a_webhook",
            400,
            "invalid_webhook",
            "Not a WhatsApp webhook: object is 'page', expected 'whatsapp_business_account'",
        ),
    ],
)
async def test_webhook_error_answers(
    svc: Service, monkeypatch: pytest.MonkeyPatch, case: str, status: int, code: str, message: str
) -> None:
    submits = Submits(svc, monkeypatch)
    kwargs: dict[str, Any] = {
        "declared_too_large": {"content": b"x" * (LIMIT + 1), "headers": signed(b"x" * (LIMIT + 1))},
        "streamed_too_large": {"content": _chunks(LIMIT // 1000 + 1)},  # chunked: no length declared
        "no_signature": {"content": WEBHOOK},
        "wrong_signature": {"content": WEBHOOK, "headers": {signature.HEADER: "sha256=" + "0" * 64}},
        "not_json": {"content": b"{", "headers": signed(b"{")},
        "not_a_webhook": {"content": b'{"object":"page"}', "headers": signed(b'{"object":"page"}')},
    }[case]
    r = await svc.http.post("/webhooks/whatsapp", **kwargs)
    assert r.status_code == status, r.text
    err = error(r)
    assert (err["code"], err["message"]) == (code, message)
    if status == 413:
        assert err["limit"] == LIMIT
    assert r.headers.get("www-authenticate") == ("Bearer" if status == 401 else None)
    assert submits.jobs == []  # nothing reached the store


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Unavailable("OperationalError: database is locked"), 503, "unavailable"),
        (Conflict("IntegrityError: duplicate key"), 500, "internal_error"),
        (RuntimeError("a bug"), 500, "internal_error"),
    ],
    ids=["unavailable", "storage_error", "bug"],
)
async def test_an_error_while_storing_is_answered_once_and_not_submitted_again(
    svc: Service, monkeypatch: pytest.MonkeyPatch, fault: Exception, status: int, code: str
) -> None:
    submits = Submits(svc, monkeypatch, fail=fault)
    r = await svc.http.post("/webhooks/whatsapp", content=WEBHOOK, headers=signed(WEBHOOK))
    assert r.status_code == status, r.text
    assert error(r)["code"] == code
    assert r.headers.get("retry-after") == ("1" if status == 503 else None)
    assert len(submits.jobs) == 1  # the one implementation tried once; nothing handed on to retry
    for name in SECURITY:
        assert name in r.headers, name


async def test_a_client_that_leaves_mid_body_gets_no_answer_and_nothing_is_stored(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    submits = Submits(svc, monkeypatch)
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": WEBHOOK[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/whatsapp",
        "raw_path": b"/webhooks/whatsapp",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await svc.app(scope, receive, send)
    assert sent == [] and submits.jobs == []


async def test_verification_stays_a_framework_route(svc: Service) -> None:
    svc.rt.settings.meta_verify_token = "verify-me"
    params = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}
    r = await svc.http.get("/webhooks/whatsapp", params=params)
    assert (r.status_code, r.text) == (200, "42")
    r = await svc.http.put("/webhooks/whatsapp", content=WEBHOOK)
    assert r.status_code == 405 and error(r)["code"] == "method_not_allowed"


# ------------------------------------------------------------------------------------------ sends


def _auth(role: str = "agent") -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEYS[role]}"}


TEXT = {"to": "34600300002", "type": "text", "text": {"body": "hi"}}
JSON = {"Content-Type": "application/json"}
EXTRA = {"loc": ["body", "colour"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
BAD_JSON = "body is not valid JSON (line 1, column 8): Expecting value"
NO_BODY = "a JSON object is required as the request body"
NOT_JSON = (
    "Content-Type must be application/json: send the header 'Content-Type: application/json' "
    "with a JSON body."
)


@pytest.mark.parametrize(
    ("case", "request_", "status", "message", "fields"),
    [
        ("no_key", {"json": TEXT}, 401, "Missing API key: send 'Authorization: Bearer <key>'.", None),
        (
            "unknown_key",
            {"json": TEXT, "headers": {"Authorization": "Bearer nope"}},
            401,
            "Unknown or revoked API key.",
            None,
        ),
        (
            "malformed_auth",
            {"json": TEXT, "headers": {"Authorization": "Basic abc"}},
            401,
            "Malformed Authorization header: expected 'Bearer <key>'.",
            None,
        ),
        (
            "bad_json",
            {"content": b'{"to": ', "headers": {**_auth(), **JSON}},
            422,
            BAD_JSON,
            [{"loc": ["body"], "msg": BAD_JSON, "type": "json_invalid", "line": 1, "column": 8}],
        ),
        (  # the body is read as JSON before the key is looked at
            "bad_json_without_key",
            {"content": b'{"to": ', "headers": JSON},
            422,
            BAD_JSON,
            [{"loc": ["body"], "msg": BAD_JSON, "type": "json_invalid", "line": 1, "column": 8}],
        ),
        (
            "not_utf8",
            {"content": b'{"to": "\xff"}', "headers": {**_auth(), **JSON}},
            400,
            "There was an error parsing the body",
            None,
        ),
        (
            "empty_body",
            {"content": b"", "headers": {**_auth(), **JSON}},
            422,
            NO_BODY,
            [{"loc": ["body"], "msg": NO_BODY, "type": "missing"}],
        ),
        (
            "not_json_content_type",
            {"content": b"to=1", "headers": {**_auth(), "Content-Type": "text/plain"}},
            415,
            NOT_JSON,
            None,
        ),
        (  # what curl -d sends unless told otherwise
            "form_content_type",
            {
                "content": b'{"to": "1"}',
                "headers": {**_auth(), "Content-Type": "application/x-www-form-urlencoded"},
            },
            415,
            NOT_JSON,
            None,
        ),
        (
            "no_content_type",
            {"content": b'{"to": "1"}', "headers": _auth()},
            415,
            NOT_JSON,
            None,
        ),
        (
            "not_an_object",
            {"json": [], "headers": _auth()},
            422,
            "the body must be a JSON object",
            [{"loc": ["body"], "msg": "the body must be a JSON object", "type": "model_attributes_type"}],
        ),
        (
            "nan_is_json_to_python",
            {"content": b'{"to": NaN}', "headers": {**_auth(), **JSON}},
            422,
            "to: Input should be a valid string",
            [
                {"loc": ["body", "to"], "msg": "Input should be a valid string", "type": "string_type"},
                {"loc": ["body", "type"], "msg": "Field required", "type": "missing"},
            ],
        ),
        (
            "extra_field",
            {"json": {**TEXT, "colour": "red"}, "headers": _auth()},
            422,
            "colour: Extra inputs are not permitted",
            [EXTRA],
        ),
        (
            "long_idempotency_key_and_extra_field",
            {"json": {**TEXT, "colour": "red"}, "headers": {**_auth(), "Idempotency-Key": "k" * 257}},
            422,
            "header.idempotency-key: String should have at most 256 characters",
            [
                {
                    "loc": ["header", "idempotency-key"],
                    "msg": "String should have at most 256 characters",
                    "type": "string_too_long",
                },
                {
                    "loc": ["body", "colour"],
                    "msg": "Extra inputs are not permitted",
                    "type": "extra_forbidden",
                },
            ],
        ),
        (  # the key before the body's fields
            "extra_field_without_key",
            {"json": {**TEXT, "colour": "red"}, "headers": {"Idempotency-Key": "k" * 257}},
            401,
            "Missing API key: send 'Authorization: Bearer <key>'.",
            None,
        ),
        (
            "missing_content_object",
            {"json": {"to": TEXT["to"], "type": "text"}, "headers": _auth()},
            422,
            "text: a text message needs a 'text' object.",
            [{"loc": ["text"], "msg": "required"}],
        ),
    ],
)
async def test_send_error_answers(
    svc: Service, case: str, request_: dict[str, Any], status: int, message: str, fields: Any
) -> None:
    r = await svc.http.post("/v1/messages", **request_)
    assert r.status_code == status, r.text
    err = error(r)
    expected_code = {
        400: "bad_request",
        401: "unauthorized",
        415: "unsupported_media_type",
        422: "validation_error",
    }[status]
    assert (err["code"], err["message"]) == (expected_code, message)
    assert err.get("fields") == fields
    assert r.headers.get("www-authenticate") == ("Bearer" if status == 401 else None)
    assert r.headers["content-type"] == "application/json"


async def test_send_refusals_answer_with_the_contract_status(svc: Service) -> None:
    r = await svc.http.post("/v1/messages", json=TEXT, headers=_auth())
    assert r.status_code == 409, r.text
    err = error(r)
    assert (err["code"], err["meta_code"]) == ("window_closed", 131047)
    template = {"name": "nope", "language": "en", "parameters": []}
    r = await svc.http.post(
        "/v1/messages", json={"to": TEXT["to"], "type": "template", "template": template}, headers=_auth()
    )
    assert r.status_code == 404 and error(r)["code"] == "template_not_found"


async def test_a_key_for_another_number_may_not_send(svc: Service) -> None:
    r = await svc.http.post(
        "/v1/keys", headers=_auth("admin"), json={"role": "agent", "name": "n", "phone_number_ids": ["999"]}
    )
    assert r.status_code == 201, r.text
    r = await svc.http.post("/v1/messages", json=TEXT, headers={"Authorization": f"Bearer {r.json()['key']}"})
    assert r.status_code == 403, r.text
    assert error(r)["code"] == "forbidden"


async def test_a_stored_key_that_cannot_be_read_is_503(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(_key: str) -> None:
        raise Unavailable("OperationalError: database is down")

    monkeypatch.setattr(svc.rt.keys, "resolve", down)
    r = await svc.http.post("/v1/messages", json=TEXT, headers={"Authorization": "Bearer stored-key"})
    assert r.status_code == 503, r.text
    assert error(r)["code"] == "unavailable" and r.headers["retry-after"] == "1"


async def test_storage_down_while_sending_is_503(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    await _customer_writes(svc, TEXT["to"])

    async def down(_job: Any) -> None:
        raise Unavailable("OperationalError: database is down")

    monkeypatch.setattr(svc.rt.sends, "submit", down)
    r = await svc.http.post("/v1/messages", json=TEXT, headers=_auth())
    assert r.status_code == 503, r.text
    assert error(r)["code"] == "unavailable" and r.headers["retry-after"] == "1"


async def _customer_writes(svc: Service, wa_id: str) -> None:
    r = await svc.http.post(f"/sandbox/customers/{wa_id}/messages", json={"text": "hola"})
    assert r.status_code == 200, r.text
    await svc.drain()


async def test_an_accepted_send_and_its_idempotency_key(svc: Service) -> None:
    await _customer_writes(svc, TEXT["to"])
    headers = {**_auth(), "Idempotency-Key": "edge-1"}
    r = await svc.http.post("/v1/messages", json=TEXT, headers=headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["status"], body["kind"], body["to"]) == ("queued", "session", TEXT["to"])
    assert None not in body.values()  # exclude_none, as the documented response model
    again = await svc.http.post("/v1/messages", json=TEXT, headers=headers)
    assert again.status_code == 202 and again.json()["id"] == body["id"]
    stored = await svc.http.get(f"/v1/messages/{body['id']}", headers=_auth())
    assert stored.status_code == 200 and stored.json()["id"] == body["id"]


async def test_other_methods_on_the_send_path_are_405(svc: Service) -> None:
    for method in ("GET", "PUT", "OPTIONS"):
        r = await svc.http.request(method, "/v1/messages", headers=_auth())
        assert r.status_code == 405, (method, r.text)
        assert error(r)["code"] == "method_not_allowed" and r.headers["allow"] == "POST"


# ------------------------------------------------------------------------------------------ the edge


async def test_hot_answers_carry_the_middleware_headers_of_a_normal_route(svc: Service) -> None:
    normal = await svc.http.get("/healthz")
    assert normal.status_code == 200
    expected = {name: normal.headers[name] for name in SECURITY}
    await _customer_writes(svc, TEXT["to"])
    hot = [
        await svc.http.post("/webhooks/whatsapp", content=WEBHOOK, headers=signed(WEBHOOK)),  # 200
        await svc.http.post("/webhooks/whatsapp", content=WEBHOOK),  # 401
        await svc.http.post("/v1/messages", json=TEXT, headers=_auth()),  # 202
        await svc.http.post("/v1/messages", json={"to": 1}, headers=_auth()),  # 422
        await svc.http.post("/v1/messages", json=TEXT),  # 401
        await svc.http.get("/v1/messages", headers=_auth()),  # 405
    ]
    assert [r.status_code for r in hot] == [200, 401, 202, 422, 401, 405]
    for r in hot:
        assert {name: r.headers.get(name) for name in SECURITY} == expected, (r.request.url, r.headers)


async def test_fastapi_has_no_route_for_the_hot_posts_and_the_schema_still_documents_them(
    svc: Service,
) -> None:
    api = svc.app.api  # type: ignore[attr-defined]  # the FastAPI app inside the edge
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as inner:
        assert (await inner.post("/v1/messages", json=TEXT, headers=_auth())).status_code == 404
        assert (
            await inner.post("/webhooks/whatsapp", content=WEBHOOK, headers=signed(WEBHOOK))
        ).status_code == 405
    paths = svc.app.openapi()["paths"]
    send = paths["/v1/messages"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageCreate"
    }
    assert send["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessagePublic"
    }
    assert {p["name"] for p in send["parameters"]} == {"idempotency-key", "authorization"}
    webhook = paths["/webhooks/whatsapp"]
    assert set(webhook) == {"get", "post"}
    assert {"200", "400", "401", "413", "503"} <= set(webhook["post"]["responses"])
    served = (await svc.http.get("/openapi.json")).json()
    assert served["paths"]["/v1/messages"]["post"] == send


async def test_the_apps_exception_handlers_answer_through_the_one_renderer(svc: Service) -> None:
    api = svc.app.api  # type: ignore[attr-defined]
    handlers = {api.exception_handlers[cls] for cls in handled_classes()}
    assert len(handlers) == 1  # one handler for every class, ``error_answer`` behind it
    [handler] = handlers
    faults: list[Exception] = [
        ApiError(401, "unauthorized", "no key"),
        NotFound("No message 'x'.", id="x"),
        Unavailable("OperationalError: down"),
        RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}]),
        StarletteHTTPException(405, headers={"Allow": "POST"}),
        RuntimeError("a bug"),
    ]
    for exc in faults:
        ours = error_answer(exc)
        theirs = await handler(None, exc)
        assert (theirs.status_code, theirs.body, theirs.headers) == (
            ours.status_code,
            ours.body,
            ours.headers,
        )
    assert [error_answer(exc).status_code for exc in faults] == [401, 404, 503, 422, 405, 500]
