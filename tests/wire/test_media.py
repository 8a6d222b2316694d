"""Meta's media limits and checks (wire/media.py), against the recorded webhooks."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carewindow.wire.media import MAX_BYTES, MIME_TYPES, inline_safe, media_ref, refusal, sha256_matches

FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"


@pytest.mark.parametrize("kind", ["image", "audio", "document", "sticker"])
def test_recorded_media_messages_give_their_media(kind: str) -> None:
    payload = orjson.loads((FIXTURES / f"messages__{kind}.json").read_bytes())
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    ref = media_ref(kind, raw)
    assert ref is not None
    assert ref.media_id == raw[kind]["id"]
    assert ref.sha256 == raw[kind]["sha256"]
    assert refusal(kind, ref.mime_type, None) is None  # every recorded type is one Meta allows


def test_no_media_without_an_id() -> None:
    assert media_ref("image", {"image": {"link": "https://x"}}) is None
    assert media_ref("text", {"text": {"body": "hi"}}) is None
    assert media_ref("image", {"image": "nope"}) is None


@given(kind=st.sampled_from(sorted(MAX_BYTES)), delta=st.integers(-1000, 1000))
def test_size_limits_at_the_boundary(kind: str, delta: int) -> None:
    mime = sorted(MIME_TYPES[kind])[0]
    size = MAX_BYTES[kind] + delta
    reason = refusal(kind, mime, size)
    assert (reason is None) == (size <= MAX_BYTES[kind])
    if reason:
        assert str(MAX_BYTES[kind]) in reason


@pytest.mark.parametrize(
    ("kind", "mime"),
    [("image", "image/svg+xml"), ("document", "text/html"), ("image", None), ("sticker", "image/png")],
)
def test_unexpected_types_are_refused_with_the_type_named(kind: str, mime: str | None) -> None:
    reason = refusal(kind, mime, 10)
    assert reason is not None
    assert (mime or "unknown") in reason


def test_mime_parameters_are_ignored() -> None:
    assert refusal("audio", "audio/ogg; codecs=opus", 10) is None


@given(data=st.binary(max_size=200))
def test_sha256_hex_or_base64(data: bytes) -> None:
    digest = hashlib.sha256(data).digest()
    assert sha256_matches(digest.hex(), digest)
    assert sha256_matches(digest.hex().upper(), digest)
    assert sha256_matches(base64.b64encode(digest).decode(), digest)
    assert sha256_matches(base64.urlsafe_b64encode(digest).decode().rstrip("="), digest)
    other = hashlib.sha256(data + b"x").digest()
    assert not sha256_matches(digest.hex(), other)
    assert not sha256_matches(base64.b64encode(digest).decode(), other)
    assert not sha256_matches("not a hash!", digest)


@pytest.mark.parametrize(
    ("mime", "inline"),
    [
        ("image/png", True),
        ("audio/ogg; codecs=opus", True),
        ("video/mp4", True),
        ("image/svg+xml", False),
        ("text/html", False),
        ("application/pdf", False),
        (None, False),
    ],
)
def test_only_inert_types_are_inline(mime: str | None, inline: bool) -> None:
    assert inline_safe(mime) is inline
