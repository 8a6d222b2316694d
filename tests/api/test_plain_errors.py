"""422s and 415s in plain words, on the hot send endpoint and on the FastAPI routes alike: no
"Value error, …", no "60: JSON decode error", and a body that is not JSON named as such."""

from __future__ import annotations

from typing import Any

import pytest
from service_support import Service

pytestmark = pytest.mark.anyio
MEDIA = (
    "Content-Type must be application/json: send the header 'Content-Type: application/json' "
    "with a JSON body."
)
# A comma missing on the second line, as a hand-typed curl -d body easily has.
BROKEN = b'{"to": "+34600111222", "type": "text",\n  "text": {"body": "hi"} "on_closed": "reject"}'
TEMPLATE = b'{"name": "ticket_update", "language": "es" "category": "utility", "body": "x"}'


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/templates"])
@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "text/plain"], ids=["none", "form", "text"]
)
async def test_a_body_that_is_not_json_says_so(service: Service, path: str, content_type: str | None) -> None:
    """``curl -d`` without ``-H 'content-type: application/json'`` sends a form: the answer says what
    to send instead of describing the raw bytes the model was given."""
    headers = {**service.auth(), **({"Content-Type": content_type} if content_type else {})}
    r = await service.http.post(path, headers=headers, content=b'{"to": "+34600111222"}')
    err = _error(r, 415, "unsupported_media_type")
    assert err["message"] == MEDIA
    assert "dictionary" not in r.text


async def test_broken_json_names_the_line_and_column_on_the_send_endpoint(service: Service) -> None:
    r = await service.http.post(
        "/v1/messages", headers={**service.auth(), "Content-Type": "application/json"}, content=BROKEN
    )
    err = _error(r, 422, "validation_error")
    assert err["message"] == "body is not valid JSON (line 2, column 26): Expecting ',' delimiter"
    assert err["fields"] == [
        {"loc": ["body"], "msg": err["message"], "type": "json_invalid", "line": 2, "column": 26}
    ]
    assert "JSON decode error" not in r.text


async def test_broken_json_names_the_line_and_column_on_fastapi_routes(service: Service) -> None:
    r = await service.http.post(
        "/v1/templates", headers={**service.auth(), "Content-Type": "application/json"}, content=TEMPLATE
    )
    err = _error(r, 422, "validation_error")
    assert err["message"] == "body is not valid JSON (line 1, column 44): Expecting ',' delimiter"
    assert "JSON decode error" not in r.text


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/messages", {"to": "hello", "type": "text", "text": {"body": "hi"}}, "to"),
        ("/v1/tickets/T-1/notify", {"to": "hello", "text": "hi"}, "to"),
    ],
)
async def test_a_validator_message_comes_without_the_framework_prefix(
    service: Service, path: str, body: dict[str, Any], where: str
) -> None:
    r = await service.http.post(path, headers=service.auth(), json=body)
    err = _error(r, 422, "validation_error")
    assert err["message"] == f"{where}: must be a phone number in E.164 form, e.g. +34600111222"
    assert all(not f["msg"].startswith("Value error") for f in err["fields"])
    assert "Value error" not in r.text


async def test_an_empty_or_non_object_body_is_named(service: Service) -> None:
    json_headers = {**service.auth(), "Content-Type": "application/json"}
    empty = await service.http.post("/v1/messages", headers=json_headers, content=b"")
    assert (
        _error(empty, 422, "validation_error")["message"] == "a JSON object is required as the request body"
    )
    listed = await service.http.post("/v1/messages", headers=json_headers, content=b"[]")
    assert _error(listed, 422, "validation_error")["message"] == "the body must be a JSON object"
