"""Media in Meta's JSON: the media object of an inbound message, Meta's per-type limits, and the
sha256 Meta gives (hex in ``GET /{media_id}``, base64 in webhooks).

Limits: Meta's "Supported media types" table of the Cloud API reference (as mirrored by
https://docs.aws.amazon.com/social-messaging/latest/userguide/supported-media-types.html): audio and
video 16 MB, images 5 MB, documents 100 MB, stickers 500 KB (animated; static ones 100 KB, which
cannot be told apart without decoding the WebP, so the larger limit applies).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_BYTES",
    "MEDIA_KINDS",
    "MIME_TYPES",
    "MediaRef",
    "inline_safe",
    "media_ref",
    "refusal",
    "sha256_matches",
]

MB: Final = 1024 * 1024
MEDIA_KINDS: Final = frozenset({"image", "audio", "video", "document", "sticker"})
MAX_BYTES: Final[Mapping[str, int]] = {
    "audio": 16 * MB,
    "video": 16 * MB,
    "image": 5 * MB,
    "document": 100 * MB,
    "sticker": 500 * 1024,
}
_OFFICE = "application/vnd.openxmlformats-officedocument."
MIME_TYPES: Final[Mapping[str, frozenset[str]]] = {
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "video": frozenset({"video/mp4", "video/3gp", "video/3gpp"}),
    "image": frozenset({"image/jpeg", "image/png"}),
    "sticker": frozenset({"image/webp"}),
    "document": frozenset(
        {
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            _OFFICE + "wordprocessingml.document",
            _OFFICE + "spreadsheetml.sheet",
            _OFFICE + "presentationml.presentation",
        }
    ),
}
# Shown inline by the inbox (img/audio/video elements); everything else is served as an attachment.
_INLINE: Final = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif"}
    | MIME_TYPES["audio"]
    | MIME_TYPES["video"]
    | {"audio/webm", "video/webm"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRef:
    """The media object of an inbound message (``messages[].image`` and friends)."""

    kind: str
    media_id: str
    mime_type: str | None = None
    sha256: str | None = None
    filename: str | None = None
    caption: str | None = None


def base_mime(mime_type: str | None) -> str:
    """``audio/ogg; codecs=opus`` → ``audio/ogg`` (lower case)."""
    return (mime_type or "").split(";", 1)[0].strip().lower()


def media_ref(kind: str, raw: Mapping[str, object]) -> MediaRef | None:
    """The media of an inbound message of type ``kind`` whose JSON is ``raw``; None when it has none
    (not a media type, or no ``id``: nothing to fetch)."""
    if kind not in MEDIA_KINDS:
        return None
    obj = raw.get(kind)
    if not isinstance(obj, Mapping):
        return None
    media_id = obj.get("id")
    if not isinstance(media_id, str) or not media_id:
        return None

    def text(name: str) -> str | None:
        value = obj.get(name)
        return value if isinstance(value, str) and value else None

    return MediaRef(
        kind=kind,
        media_id=media_id,
        mime_type=text("mime_type"),
        sha256=text("sha256"),
        filename=text("filename"),
        caption=text("caption"),
    )


def refusal(kind: str, mime_type: str | None, size: int | None) -> str | None:
    """Why Meta would not carry this file (and carewindow does not keep it), or None when it fits."""
    if kind not in MEDIA_KINDS:
        return f"{kind!r} is not a media type (one of {', '.join(sorted(MEDIA_KINDS))})"
    mime = base_mime(mime_type)
    if mime not in MIME_TYPES[kind]:
        allowed = ", ".join(sorted(MIME_TYPES[kind]))
        return f"type {mime or 'unknown'!r} is not supported for {kind} (supported: {allowed})"
    limit = MAX_BYTES[kind]
    if size is not None and size > limit:
        return f"{size} bytes is over the {kind} limit of {limit} bytes"
    return None


def sha256_matches(expected: str, digest: bytes) -> bool:
    """Whether Meta's ``expected`` sha256 (hex, or base64 as webhooks carry it) is ``digest``."""
    value = expected.strip()
    if hmac.compare_digest(value.lower().encode(), digest.hex().encode()):
        return True
    try:
        decoded = base64.b64decode(
            value + "=" * (-len(value) % 4),
            altchars=b"-_" if "-" in value or "_" in value else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, digest)


def inline_safe(mime_type: str | None) -> bool:
    """Whether a browser may show this type inline without running anything (no SVG, no HTML)."""
    return base_mime(mime_type) in _INLINE
