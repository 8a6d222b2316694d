"""wire.signature: X-Hub-Signature-256 over the raw bytes, as Meta and pywa compute it."""

from __future__ import annotations

import json

import pytest
from pywa.utils import webhook_updates_validator

from carewindow.wire.signature import HEADER, sign, verify

SECRET = "0123456789abcdef0123456789abcdef"
PAYLOAD = {
    "object": "whatsapp_business_account",
    "entry": [{"id": "1", "changes": []}],
    "text": "¿Qué tal? 👋 مرحبا",
}
# Meta escapes non-ASCII characters; the same JSON written as UTF-8 is different bytes.
ESCAPED = json.dumps(PAYLOAD).encode()
UTF8 = json.dumps(PAYLOAD, ensure_ascii=False).encode()


def test_header_name() -> None:
    assert HEADER == "X-Hub-Signature-256"


@pytest.mark.parametrize("body", [ESCAPED, UTF8, b"", b"\x00\xff"])
def test_sign_verify_and_agree_with_pywa(body: bytes) -> None:
    header = sign(body, SECRET)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify(body, header, SECRET)
    assert webhook_updates_validator(SECRET, body, header)


def test_signature_is_over_bytes_not_json() -> None:
    assert ESCAPED != UTF8
    assert not verify(UTF8, sign(ESCAPED, SECRET), SECRET)


def test_non_ascii_secret() -> None:
    assert verify(ESCAPED, sign(ESCAPED, "sécret"), "sécret")
    assert not verify(ESCAPED, sign(ESCAPED, "sécret"), "secret")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        sign(ESCAPED, SECRET).removeprefix("sha256="),  # right digest, missing prefix
        sign(ESCAPED, "other-secret"),
        sign(ESCAPED + b" ", SECRET),
        sign(ESCAPED, SECRET)[:-1],
        "sha256=" + "z" * 64,
        "sha256=ü" + "0" * 63,
    ],
)
def test_rejects_wrong_or_missing_headers(header: str | None) -> None:
    assert not verify(ESCAPED, header, SECRET)


def test_trailing_whitespace_is_tolerated() -> None:
    assert verify(ESCAPED, sign(ESCAPED, SECRET) + " \r\n", SECRET)
