"""A hostile file stays inert when served: never inline, never a document type, sandboxed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carewindow.actions.media import MediaRecord, inert_headers


def record(mime: str | None, filename: str | None = None) -> MediaRecord:
    return MediaRecord(
        id="med_1",
        direction="in",
        kind="document",
        status="ready",
        mime_type=mime,
        size=10,
        sha256="ab" * 32,
        filename=filename,
        reason=None,
        meta_media_id="1",
        message_id="msg_1",
        storage_key="med_1",
        created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("mime", ["image/svg+xml", "text/html", "application/xhtml+xml", "text/javascript"])
def test_scriptable_types_are_attachments_of_bytes(mime: str) -> None:
    h = inert_headers(record(mime, "x.svg"))
    assert h["Content-Disposition"].startswith("attachment")
    assert h["Content-Type"] == "application/octet-stream"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert "default-src 'none'" in h["Content-Security-Policy"]


def test_pdf_is_an_attachment_of_its_type() -> None:
    h = inert_headers(record("application/pdf", "invoice.pdf"))
    assert h["Content-Disposition"].startswith("attachment")
    assert h["Content-Type"] == "application/pdf"


def test_file_names_cannot_break_the_header() -> None:
    h = inert_headers(record("application/pdf", 'a"b\r\nSet-Cookie: x=1;ñ.pdf'))
    value = h["Content-Disposition"]
    assert "\r" not in value and "\n" not in value
    assert value.count('"') == 2
    assert "filename*=UTF-8''a%22b%0D%0ASet-Cookie%3A%20x%3D1%3B%C3%B1.pdf" in value
