"""wire.graph_errors: the code table, reading Graph answers (JSON or not), writing Meta's JSON."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pywa.errors import WhatsAppError

from carewindow.wire.graph_errors import ERROR_CODES, GraphError, is_transient, webhook_error

# Every code in whatsapp-platform.md §5, and whether that table calls it transient.
PLATFORM_CODES = {
    131047: False,
    131026: False,
    131049: False,
    131048: True,
    131050: False,
    131056: True,
    130429: True,
    131051: False,
    131008: False,
    131009: False,
    131030: False,
    131021: False,
    131031: False,
    132000: False,
    132001: False,
    132005: False,
    132007: False,
    132012: False,
    132015: False,
    132016: False,
    132018: False,
    100: False,
    190: False,
    368: False,
}


@pytest.mark.parametrize(("code", "transient"), sorted(PLATFORM_CODES.items()))
def test_table_covers_platform_codes(code: int, transient: bool) -> None:
    spec = ERROR_CODES[code]
    assert spec.transient is transient
    assert is_transient(code) is transient
    assert is_transient(code, 500) is transient  # the code decides over the HTTP status
    assert spec.title
    assert 400 <= spec.http_status < 600


def test_token_expiry_is_401() -> None:
    assert ERROR_CODES[190].http_status == 401


@pytest.mark.parametrize(
    ("code", "status", "want"),
    [
        (0, 502, True),
        (0, 503, True),
        (0, 429, True),
        (0, 400, False),
        (999999, 500, True),
        (999999, None, False),
    ],
)
def test_unknown_codes_fall_back_to_http_status(code: int, status: int | None, want: bool) -> None:
    assert is_transient(code, status) is want


META_131047 = {
    "error": {
        "message": "(#131047) Re-engagement message",
        "type": "OAuthException",
        "code": 131047,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Message failed to send because more than 24 hours have passed since the customer "
            "last replied to this number.",
        },
        "error_subcode": 2494055,
        "fbtrace_id": "AbCdEfGh123",
    }
}


@pytest.mark.parametrize("body", [orjson.dumps(META_131047), META_131047])
def test_from_response_reads_graph_json(body: Any) -> None:
    err = GraphError.from_response(400, body)
    assert (err.code, err.subcode, err.type, err.fbtrace_id, err.http_status) == (
        131047,
        2494055,
        "OAuthException",
        "AbCdEfGh123",
        400,
    )
    assert err.message == "(#131047) Re-engagement message"
    assert err.details is not None and err.details.startswith("Message failed to send")
    assert not err.transient
    assert "131047" in str(err)


def test_from_response_rate_limit_is_transient() -> None:
    err = GraphError.from_response(400, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}})
    assert err.transient and err.details is None


def test_from_response_html_502() -> None:
    html = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    err = GraphError.from_response(502, html)
    assert (err.code, err.http_status, err.transient) == (0, 502, True)
    assert err.details is not None and "502 Bad Gateway" in err.details and "\n" not in err.details


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (500, b"", True),
        (404, b"not found", False),
        (400, b"[1, 2]", False),
        (400, b'{"error": "oops"}', False),
    ],
)
def test_from_response_without_graph_body(status: int, body: bytes, transient: bool) -> None:
    err = GraphError.from_response(status, body)
    assert err.code == 0 and err.transient is transient


def test_from_response_honours_meta_is_transient_for_unknown_codes() -> None:
    err = GraphError.from_response(400, {"error": {"message": "x", "code": 2, "is_transient": True}})
    assert err.transient
    known = GraphError.from_response(400, {"error": {"message": "x", "code": 131047, "is_transient": True}})
    assert not known.transient


def test_from_response_tolerates_odd_fields() -> None:
    err = GraphError.from_response(
        400, {"error": {"message": 5, "code": "131026", "error_subcode": "x", "error_data": "plain details"}}
    )
    assert (err.code, err.subcode, err.details, err.message) == (131026, None, "plain details", "HTTP 400")


def test_to_json_round_trips_and_matches_meta_shape() -> None:
    err = GraphError.for_code(
        132000, details="expected 2 params, got 1", subcode=2494010, fbtrace_id="Atrace"
    )
    doc = err.to_json()
    assert doc == {
        "error": {
            "message": "(#132000) Number of parameters does not match the expected number of params",
            "type": "OAuthException",
            "code": 132000,
            "error_data": {"messaging_product": "whatsapp", "details": "expected 2 params, got 1"},
            "error_subcode": 2494010,
            "fbtrace_id": "Atrace",
        }
    }
    back = GraphError.from_response(err.http_status, orjson.dumps(doc))
    assert (back.code, back.message, back.details, back.subcode, back.fbtrace_id) == (
        err.code,
        err.message,
        err.details,
        err.subcode,
        err.fbtrace_id,
    )


@pytest.mark.parametrize(
    ("code", "pywa_class"),
    [
        (131047, "ReEngagementMessage"),
        (132001, "TemplateNotExists"),
        (130429, "RateLimitHit"),
        (190, "ExpiredAccessToken"),
    ],
)
def test_to_json_is_read_by_pywa(code: int, pywa_class: str) -> None:
    doc = GraphError.for_code(code).to_json()
    theirs = WhatsAppError.from_dict(doc["error"])  # type: ignore[arg-type]
    assert type(theirs).__name__ == pywa_class
    assert theirs.code == code and theirs.fbtrace_id


def test_for_code_defaults() -> None:
    err = GraphError.for_code(131056)
    assert err.transient and err.http_status == 429 and err.fbtrace_id
    assert err.details == ERROR_CODES[131056].title
    unknown = GraphError.for_code(424242)
    assert unknown.http_status == 400 and unknown.message == "(#424242) Unknown error"


def test_webhook_error_shape() -> None:
    e = webhook_error(131026)
    assert e["code"] == 131026 and e["title"] == "Message undeliverable"
    assert e["error_data"] == {"details": "Message undeliverable"}
    assert WhatsAppError.from_dict(e).code == 131026


def test_graph_error_survives_pickle() -> None:
    import pickle

    err = GraphError.for_code(131056, details="slow down", subcode=7)
    back = pickle.loads(pickle.dumps(err))
    assert (back.code, back.details, back.subcode, back.http_status, back.fbtrace_id) == (
        131056,
        "slow down",
        7,
        429,
        err.fbtrace_id,
    )
