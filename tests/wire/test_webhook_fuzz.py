"""Fuzz parse_webhook: whatever arrives, it returns a batch or raises WebhookFormatError, nothing else.

CAREWINDOW_FUZZ=long runs 100x more examples.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carewindow.wire.errors import WebhookFormatError
from carewindow.wire.webhook import WebhookBatch, parse_webhook

LONG = os.environ.get("CAREWINDOW_FUZZ") == "long"
FUZZ = settings(
    max_examples=20_000 if LONG else 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "meta").glob("*.json"))
DOCS = [orjson.loads(p.read_bytes()) for p in FIXTURES]

# Keys the parser looks at, so random objects hit real code paths instead of being ignored.
KEYS = st.sampled_from(
    [
        "object",
        "entry",
        "id",
        "changes",
        "field",
        "value",
        "metadata",
        "phone_number_id",
        "display_phone_number",
        "contacts",
        "profile",
        "name",
        "wa_id",
        "user_id",
        "messages",
        "statuses",
        "from",
        "from_user_id",
        "timestamp",
        "type",
        "text",
        "body",
        "context",
        "referral",
        "errors",
        "code",
        "error_data",
        "details",
        "pricing",
        "billable",
        "conversation",
        "origin",
        "expiration_timestamp",
        "status",
        "recipient_id",
        "event",
        "message_template_id",
        "message_template_name",
        "message_template_language",
        "reason",
        "interactive",
        "button_reply",
        "list_reply",
        "title",
        "caption",
        "emoji",
    ]
) | st.text(max_size=8)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "whatsapp_business_account",
            "messages",
            "message_template_status_update",
            "text",
            "sent",
            "1751364000",
            "wamid.X",
            "",
            "-1",
            "٣٤٥",
            "𝟙𝟚𝟛",
            "9" * 30,
        ]
    )
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=40,
)


def check(body: bytes) -> None:
    try:
        result = parse_webhook(body)
    except WebhookFormatError as exc:
        assert exc.reason
    else:
        assert isinstance(result, WebhookBatch)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(body: bytes) -> None:
    check(body)


@FUZZ
@given(JSONISH)
def test_arbitrary_json(doc: Any) -> None:
    check(orjson.dumps(doc))


@FUZZ
@given(st.dictionaries(KEYS, JSONISH, max_size=4), JSONISH)
def test_whatsapp_envelope_with_arbitrary_entries(extra: dict[str, Any], entry: Any) -> None:
    check(orjson.dumps({**extra, "object": "whatsapp_business_account", "entry": entry}))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_fixture(draw: st.DrawFn) -> Any:
    doc = orjson.loads(orjson.dumps(draw(st.sampled_from(DOCS))))  # a private deep copy
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSONISH)
    return doc


@FUZZ
@given(mutated_fixture())
def test_mutated_recorded_payloads(doc: Any) -> None:
    check(orjson.dumps(doc))


@FUZZ
@given(st.integers(min_value=1, max_value=2000), st.sampled_from(["[", '{"entry": [']))
def test_deep_nesting(depth: int, opener: str) -> None:
    check(('{"object": "whatsapp_business_account", "entry": ' + "[" * depth + "]" * depth + "}").encode())
    check((opener * depth).encode())
    # Deep values where the parser reports a type mismatch (its reason must not repr them).
    nested = "[" * depth + "]" * depth
    check(('{"object": ' + nested + "}").encode())
    check(
        (
            '{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": ' + nested + "}]}]}"
        ).encode()
    )
    deep: Any = "x"
    for _ in range(min(depth, 120)):  # orjson.dumps stops at 254 levels
        deep = {"metadata": {"phone_number_id": "1"}, "messages": [deep]} if depth % 2 else {"value": [deep]}
    check(
        orjson.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": deep}]}],
            }
        )
    )
