"""Media use cases: the inbound fetch jobs (written with the message, run by ``worker.media``), uploads
for outbound messages, and reading, deleting and erasing stored media. docs/subsystems/media.md.

The functions a Graph-shaped front door needs are thin here on purpose:
``upload_media`` (``POST /{phone_number_id}/media``), ``media_info`` (``GET /{media_id}``),
``open_media`` (the bytes, or a range of them) and ``delete_media`` (``DELETE /{media_id}``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio

from carewindow.actions.events import Event
from carewindow.providers.base import MediaProvider, ProviderError
from carewindow.storage import media as media_store
from carewindow.storage.engine import Engine, connect, write_tx
from carewindow.storage.ids import new_id
from carewindow.storage.media_store import MediaStore, MediaStoreError
from carewindow.wire.media import (
    MAX_BYTES,
    MEDIA_KINDS,
    base_mime,
    inline_safe,
    media_ref,
    refusal,
    sha256_matches,
)
from carewindow.wire.webhook import InboundMessage

__all__ = [
    "FetchJob",
    "FetchOutcome",
    "MediaError",
    "MediaRecord",
    "delete_media",
    "do_claim_fetches",
    "do_settle_fetch",
    "erase_contact_media",
    "fetch_row",
    "inbound_media_row",
    "kind_for_mime",
    "media_for_messages",
    "media_info",
    "open_media",
    "upload_media",
]

READY, FAILED, REFUSED, PENDING = "ready", "failed", "refused", media_store.PENDING


class MediaError(Exception):
    """A media request that cannot be done: ``code`` (``media_not_found``, ``media_refused``,
    ``media_unavailable``, ``provider_error``), an HTTP ``status`` and a plain ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRecord:
    """A stored media row as the API and the inbox show it."""

    id: str
    direction: str
    kind: str
    status: str
    mime_type: str | None
    size: int | None
    sha256: str | None
    filename: str | None
    reason: str | None
    meta_media_id: str | None
    message_id: str | None
    storage_key: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> MediaRecord:
        m = row._mapping
        return cls(**{f: m[f] for f in _RECORD_FIELDS})


_RECORD_FIELDS = tuple(f.name for f in fields(MediaRecord))


class _Mapped:
    """A dict seen as a row (``row._mapping``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._mapping = values


# ------------------------------------------------------------------------------------ inbound


def inbound_media_row(
    msg: InboundMessage, *, message_id: str, contact_id: int, now: datetime
) -> dict[str, Any] | None:
    """The ``media`` row (a fetch job, or a refusal when the type is not one Meta allows) of a new
    inbound message; None when the message carries no media id. Written in the ingest transaction."""
    return fetch_row(
        msg.raw_type or msg.type.value, msg.raw, message_id=message_id, contact_id=contact_id, now=now
    )


def fetch_row(
    kind: str, raw: Mapping[str, object], *, message_id: str, contact_id: int, now: datetime
) -> dict[str, Any] | None:
    """The ``media`` row (a fetch job, or a refusal) of a message of type ``kind`` whose Meta JSON is
    ``raw``, or None when it names no media id: an inbound message's, and a coexistence echo's (a photo
    sent from the WhatsApp Business app is fetched from Meta the same way; ``direction`` is ``in``:
    the bytes come from Meta, and deleting the row never deletes Meta's copy)."""
    ref = media_ref(kind, raw)
    if ref is None:
        return None
    reason = refusal(ref.kind, ref.mime_type, None) if ref.mime_type else None
    if len(ref.media_id) > 128:  # no Meta id is this long: keep the message, refuse the file
        reason = "the media id is longer than 128 characters"
    return {
        "id": new_id("med"),
        "direction": "in",
        "message_id": message_id,
        "contact_id": contact_id,
        "kind": ref.kind,
        "meta_media_id": ref.media_id[:128],
        "status": REFUSED if reason else PENDING,
        "mime_type": ref.mime_type[:255] if ref.mime_type else None,
        "size": None,
        "sha256": None,
        "meta_sha256": ref.sha256[:128] if ref.sha256 else None,
        "filename": ref.filename[:512] if ref.filename else None,
        "storage_key": None,
        "reason": reason,
        "attempts": 0,
        "next_attempt_at": None if reason else now,
        "give_up_at": None,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchJob:
    id: str
    kind: str
    meta_media_id: str
    meta_sha256: str | None
    mime_type: str | None
    filename: str | None
    attempts: int
    created_at: datetime
    message_id: str | None = None
    contact_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOutcome:
    """What one download attempt came to: ``data`` (fetched and checked), or a ``reason`` that is
    ``transient`` (try again later) or final (``refused``: a file Meta's limits exclude)."""

    data: bytes | None = None
    mime_type: str | None = None
    reason: str | None = None
    transient: bool = False
    refused: bool = False


def do_claim_fetches(engine: Engine, *, now: datetime, lease: timedelta, limit: int) -> list[FetchJob]:
    """Lease due fetch jobs (a killed worker's lease runs out and the job is claimed again)."""
    with write_tx(engine) as conn:
        rows = media_store.claim_due(conn, now=now, lease=lease, limit=limit)
    return [
        FetchJob(
            id=r.id,
            kind=r.kind,
            meta_media_id=r.meta_media_id,
            meta_sha256=r.meta_sha256,
            mime_type=r.mime_type,
            filename=r.filename,
            attempts=r.attempts,
            created_at=r.created_at,
            message_id=r.message_id,
            contact_id=r.contact_id,
        )
        for r in rows
    ]


async def fetch(provider: MediaProvider, job: FetchJob) -> FetchOutcome:
    """One download: ``GET /{media_id}`` for the URL, then the URL; checked against Meta's limits and
    the sha256 Meta gave (in the webhook, else in the media info)."""
    limit = MAX_BYTES.get(job.kind, 0)
    try:
        info = await provider.media_info(job.meta_media_id)
        mime = info.get("mime_type")
        mime_type = mime if isinstance(mime, str) and mime else job.mime_type
        size = info.get("file_size")
        size_n = int(size) if isinstance(size, int | str) and str(size).isdigit() else None
        if reason := refusal(job.kind, mime_type, size_n):
            return FetchOutcome(reason=reason, refused=True, mime_type=mime_type)
        url = info.get("url")
        if not isinstance(url, str) or not url:
            return FetchOutcome(reason="Meta's media info has no url", transient=True)
        data = await provider.download_media(url, max_bytes=limit)
    except ProviderError as exc:
        if "larger than" in exc.message:
            return FetchOutcome(reason=f"over the {job.kind} limit of {limit} bytes", refused=True)
        return FetchOutcome(reason=f"{exc.title}: {exc.reason}"[:500], transient=exc.transient)
    expected = job.meta_sha256 or (info.get("sha256") if isinstance(info.get("sha256"), str) else None)
    digest = hashlib.sha256(data).digest()
    if isinstance(expected, str) and expected and not sha256_matches(expected, digest):
        return FetchOutcome(
            reason="sha256 does not match what Meta gave (incomplete download?)", transient=True
        )
    return FetchOutcome(data=data, mime_type=mime_type)


def do_settle_fetch(
    engine: Engine,
    job: FetchJob,
    outcome: FetchOutcome,
    *,
    now: datetime,
    retry_at: datetime | None,
    give_up_after: timedelta,
    store_key: str | None,
) -> tuple[str, list[Event]]:
    """Record an attempt: ``ready`` (the bytes are already in the store under ``store_key``), a retry at
    ``retry_at``, or ``failed``/``refused`` with the reason. Returns the status written ('' when the
    job's lease had been taken over and nothing was written) and, once the job is settled, the
    ``message.media`` event (the inbox shows the file then)."""
    values: dict[str, Any] = {"updated_at": now}
    if outcome.data is not None:
        values.update(
            status=READY,
            size=len(outcome.data),
            sha256=hashlib.sha256(outcome.data).hexdigest(),
            mime_type=(base_mime(outcome.mime_type) or outcome.mime_type or "")[:255] or None,
            storage_key=store_key,
            reason=None,
            next_attempt_at=None,
        )
    elif outcome.refused:
        values.update(
            status=REFUSED, reason=outcome.reason, next_attempt_at=None, mime_type=outcome.mime_type
        )
    elif outcome.transient and retry_at is not None and retry_at < job.created_at + give_up_after:
        values.update(reason=outcome.reason, next_attempt_at=retry_at)
    else:
        why = outcome.reason or "unknown error"
        if outcome.transient:
            why = f"gave up after {job.attempts} attempts: {why}"
        values.update(status=FAILED, reason=why, next_attempt_at=None)
    status = str(values.get("status", PENDING))
    with write_tx(engine) as conn:
        written = media_store.settle(conn, job.id, values, attempts=job.attempts)
        who = media_store.contact_of(conn, job.contact_id) if written and job.contact_id is not None else None
    if not written:
        return "", []
    events = []
    if who is not None and status != PENDING:
        events.append(
            Event(
                type="message.media",
                phone_number_id=who[0],
                wa_id=who[1],
                data={"message_id": job.message_id, "media_id": job.id, "status": status},
            )
        )
    return status, events


# ------------------------------------------------------------------------------------ uploads


def kind_for_mime(mime_type: str) -> str:
    """The message type a file of ``mime_type`` is sent as."""
    mime = base_mime(mime_type)
    if mime == "image/webp":
        return "sticker"
    for kind in ("image", "audio", "video"):
        if mime.startswith(kind + "/"):
            return kind
    return "document"


async def upload_media(
    engine: Engine,
    store: MediaStore,
    provider: MediaProvider | None,
    *,
    data: bytes,
    mime_type: str,
    filename: str,
    now: datetime,
    kind: str | None = None,
) -> MediaRecord:
    """Keep an uploaded file and upload it to Meta (``POST /{phone_number_id}/media``): the record's
    ``meta_media_id`` is what ``{"document": {"id": …}}`` sends. Refused (``MediaError`` 422) when
    Meta's limits exclude it; a failed Meta upload keeps nothing."""
    kind = kind or kind_for_mime(mime_type)
    if kind not in MEDIA_KINDS:
        raise MediaError(422, "media_refused", f"{kind!r} is not a media type")
    if reason := refusal(kind, mime_type, len(data)):
        raise MediaError(422, "media_refused", reason)
    if not data:
        raise MediaError(422, "media_refused", "the file is empty")
    media_id = new_id("med")
    mime = base_mime(mime_type)
    try:
        await anyio.to_thread.run_sync(lambda: store.put(media_id, data, mime_type=mime))
    except MediaStoreError as exc:
        raise MediaError(503, "media_unavailable", str(exc)) from None
    meta_id = None
    if provider is not None:
        try:
            meta_id = await provider.upload_media(data, mime_type=mime, filename=filename)
        except ProviderError as exc:
            await anyio.to_thread.run_sync(lambda: store.delete(media_id))
            raise MediaError(502, "provider_error", f"Meta did not take the file: {exc.reason}") from None
    row = {
        "id": media_id,
        "direction": "out",
        "message_id": None,
        "contact_id": None,
        "kind": kind,
        "meta_media_id": meta_id,
        "status": READY,
        "mime_type": mime,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "meta_sha256": None,
        "filename": filename[:512],
        "storage_key": media_id,
        "reason": None,
        "attempts": 0,
        "next_attempt_at": None,
        "give_up_at": None,
        "created_at": now,
        "updated_at": now,
    }

    def write() -> None:
        with write_tx(engine) as conn:
            media_store.add_many(conn, [row])

    await anyio.to_thread.run_sync(write)
    return MediaRecord.of(_Mapped(row))


# ------------------------------------------------------------------------------------ reading


def media_info(engine: Engine, media_id: str) -> MediaRecord:
    """The record of carewindow's id ``med_…`` or of Meta's media id; ``MediaError`` 404 otherwise."""
    with connect(engine) as conn:
        row = media_store.get(conn, media_id) or media_store.get_by_meta_id(conn, media_id)
    if row is None:
        raise MediaError(404, "media_not_found", f"No media {media_id!r}.")
    return MediaRecord.of(row)


def media_number(engine: Engine, record: MediaRecord) -> str | None:
    """The business number an inbound file belongs to (None for uploads: any key that sends may read)."""
    with connect(engine) as conn:
        contact_id = media_store.get(conn, record.id)
        if contact_id is None or contact_id.contact_id is None:
            return None
        return media_store.number_of(conn, contact_id.contact_id)


def media_for_messages(engine: Engine, message_ids: list[str]) -> dict[str, MediaRecord]:
    with connect(engine) as conn:
        rows = media_store.for_messages(conn, message_ids)
    return {k: MediaRecord.of(v) for k, v in rows.items()}


def open_media(
    engine: Engine, store: MediaStore, media_id: str, *, start: int = 0, end: int | None = None
) -> tuple[MediaRecord, bytes]:
    """The record and its bytes (``start``..``end`` inclusive); ``MediaError`` 404 when there is no
    such media, 409 while it is pending or after it failed or was refused (with the reason)."""
    record = media_info(engine, media_id)
    if record.status != READY or record.storage_key is None:
        why = "downloading" if record.status == PENDING else f"{record.status}: {record.reason or ''}"
        raise MediaError(409, "media_unavailable", f"Media {record.id} is not available ({why.strip()}).")
    try:
        return record, store.read(record.storage_key, start, end)
    except MediaStoreError as exc:
        raise MediaError(503, "media_unavailable", str(exc)) from None


async def delete_media(
    engine: Engine, store: MediaStore, provider: MediaProvider | None, media_id: str
) -> MediaRecord:
    """Delete a stored file (and, for an upload, Meta's copy; Meta's error is not fatal: its copy
    expires after 30 days anyway)."""
    record = await anyio.to_thread.run_sync(lambda: media_info(engine, media_id))
    if provider is not None and record.direction == "out" and record.meta_media_id:
        try:
            await provider.delete_media(record.meta_media_id)
        except ProviderError:
            pass

    def drop() -> None:
        with write_tx(engine) as conn:
            media_store.delete_row(conn, record.id)
        if record.storage_key:
            store.delete(record.storage_key)

    await anyio.to_thread.run_sync(drop)
    return record


def erase_contact_media(engine: Engine, store: MediaStore, contact_id: int) -> int:
    """Delete a contact's media rows and bytes (for contact erasure); how many files were deleted."""
    with write_tx(engine) as conn:
        keys = media_store.delete_media_for_contact(conn, contact_id)
    for key in keys:
        store.delete(key)
    return len(keys)


# ------------------------------------------------------------------------------------ serving

MEDIA_CSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedMedia:
    """An HTTP answer with a file: 200, 206 (a range) or 416 (a range past the end)."""

    status: int
    headers: dict[str, str]
    body: bytes


def serve_media(engine: Engine, store: MediaStore, media_id: str, *, range_header: str | None) -> ServedMedia:
    """The answer for a download of ``media_id``, one ``bytes=`` range honoured (players seek with
    them); ``MediaError`` as ``open_media``'s, 416 for a range that cannot be read."""
    record = media_info(engine, media_id)
    start, end, partial = 0, None, False
    if range_header and record.status == READY:
        size = record.size or 0
        m = _RANGE.match(range_header.strip())
        if m is None or (not m.group(1) and not m.group(2)):
            raise MediaError(416, "range_not_satisfiable", "Only one 'bytes=start-end' range is supported.")
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        else:  # the last N bytes
            start, end = max(0, size - int(m.group(2))), size - 1
        if start >= size or end < start:
            return ServedMedia(status=416, headers={"Content-Range": f"bytes */{size}"}, body=b"")
        partial = True
    record, data = open_media(engine, store, record.id, start=start, end=end)
    headers = inert_headers(record)
    if partial:
        headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{record.size}"
    return ServedMedia(status=206 if partial else 200, headers=headers, body=data)


def inert_headers(record: MediaRecord) -> dict[str, str]:
    """The headers that keep a hostile file inert: nosniff, a sandboxing CSP, and ``attachment`` for
    every type a browser would do more with than show (SVG, HTML, PDF, ...)."""
    name = record.filename or f"{record.kind}-{record.id}"
    disposition = "inline" if inline_safe(record.mime_type) else "attachment"
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", name)[:200] or "file"
    headers: dict[str, str] = {
        "Content-Type": (
            base_mime(record.mime_type) if inline_safe(record.mime_type) else _download_type(record.mime_type)
        ),
        "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, max-age=3600",
        "Accept-Ranges": "bytes",
    }
    if record.sha256:
        headers["ETag"] = f'"{record.sha256}"'
    return headers


def _download_type(mime_type: str | None) -> str:
    # Anything a browser could render as a document (HTML, SVG, XML) goes out as bytes.
    mime = base_mime(mime_type)
    if not mime or "html" in mime or "xml" in mime or "svg" in mime or "javascript" in mime:
        return "application/octet-stream"
    return mime


def record_json(record: MediaRecord, *, url: str) -> Mapping[str, Any]:
    """The public ``media`` object of a message or an upload."""
    return {
        "id": record.id,
        "url": url,
        "mime_type": record.mime_type,
        "size": record.size,
        "sha256": record.sha256,
        "filename": record.filename,
        "status": record.status,
        "reason": record.reason,
    }
