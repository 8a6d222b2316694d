"""Cloud API webhook bodies -> typed values, and builders for the same wire format.

``parse_webhook`` is the hot ingest path: one ``orjson.loads``, plain dict walking, no validation
library. It rejects only what cannot be a WhatsApp webhook (``WebhookFormatError`` names the JSON
path); anything merely new (a message type, a status, a field) parses, with the raw object kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import orjson

from carewindow.policy.frozen import fast_constructor
from carewindow.wire.errors import WebhookFormatError

__all__ = [
    "STATUS_RANK",
    "ConversationInfo",
    "DeliveryStatus",
    "ErrorInfo",
    "InboundMessage",
    "MessageType",
    "OtherChange",
    "PricingInfo",
    "StatusUpdate",
    "TemplateStatusUpdate",
    "WebhookBatch",
    "build_message_webhook",
    "build_status_webhook",
    "build_template_status_webhook",
    "parse_webhook",
    "status_rank",
]

logger = logging.getLogger(__name__)

OBJECT: Final = "whatsapp_business_account"
_EMPTY: Mapping[str, object] = {}

# Values already reported, so a flood of one new value logs once; bounded against hostile input.
_warned: set[tuple[str, str]] = set()
_WARN_LIMIT: Final = 256


def _warn_unknown(enum_name: str, value: object) -> None:
    key = (enum_name, str(value)[:64])
    if key not in _warned and len(_warned) < _WARN_LIMIT:
        _warned.add(key)
        # A log record, not warnings.warn: a new Meta value is expected drift, not a code defect.
        logger.warning("unknown %s value %r from Meta; treated as UNKNOWN", enum_name, key[1])


class MessageType(StrEnum):
    """Inbound ``messages[].type``. Unknown values map to ``UNKNOWN`` (the raw object is kept)."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"
    REQUEST_WELCOME = "request_welcome"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> MessageType:
        _warn_unknown(cls.__name__, value)
        return cls.UNKNOWN


class DeliveryStatus(StrEnum):
    """``statuses[].status``. ``played`` is a voice note played; unknown values map to ``UNKNOWN``."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    DELETED = "deleted"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> DeliveryStatus:
        _warn_unknown(cls.__name__, value)
        return cls.UNKNOWN


# Callers move a message's status only to a strictly higher rank, so late or replayed webhooks never
# move it backwards. ``read`` implies ``delivered`` (Meta skips ``delivered`` when read at once).
# ``failed`` and ``deleted`` are terminal: ranked above every progress state, so a late ``sent`` never
# hides a failure; a ``failed`` after ``read`` is still accepted because the error is worth keeping.
# ``UNKNOWN`` ranks 0 and therefore never changes anything.
STATUS_RANK: Final[Mapping[DeliveryStatus, int]] = {
    DeliveryStatus.UNKNOWN: 0,
    DeliveryStatus.SENT: 10,
    DeliveryStatus.DELIVERED: 20,
    DeliveryStatus.READ: 30,
    DeliveryStatus.PLAYED: 40,
    DeliveryStatus.DELETED: 80,
    DeliveryStatus.FAILED: 90,
}


# Known values by their text: a dict lookup is several times cheaper than calling the enum.
_DELIVERY_STATUSES: Final[Mapping[str, DeliveryStatus]] = {s.value: s for s in DeliveryStatus}
_MESSAGE_TYPES: Final[Mapping[str, MessageType]] = {t.value: t for t in MessageType}


def status_rank(status: DeliveryStatus | str) -> int:
    """Rank of ``status`` in ``STATUS_RANK`` (unknown strings rank 0)."""
    return STATUS_RANK.get(DeliveryStatus(status), 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """One ``messages[]`` item: something the customer sent to the business number.

    ``wa_id`` is ``from``. From 2026 Meta may omit ``from`` for username users and send only a
    business-scoped ``from_user_id``; then ``wa_id`` is ``""`` and ``user_id`` carries the identity.
    """

    wamid: str
    wa_id: str
    phone_number_id: str
    display_phone_number: str
    timestamp: datetime
    type: MessageType
    text: str | None = None
    profile_name: str | None = None
    referral: Mapping[str, object] | None = _field(default=None, hash=False)
    context_wamid: str | None = None
    user_id: str | None = None
    waba_id: str = ""
    raw_type: str = ""
    raw: Mapping[str, object] = _field(default_factory=dict, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """One error object from a webhook (``statuses[].errors[]``, ``messages[].errors[]``)."""

    code: int
    title: str
    message: str
    details: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingInfo:
    """``statuses[].pricing``. ``billable`` falls back to ``type == "regular"`` when Meta omits it."""

    billable: bool | None
    pricing_model: str
    category: str
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationInfo:
    """``statuses[].conversation`` (CBP era, and free-entry-point messages under PMP)."""

    id: str
    expiration_timestamp: datetime | None = None
    origin_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """One ``statuses[]`` item: what happened to a message the business sent."""

    wamid: str
    status: DeliveryStatus
    timestamp: datetime
    recipient_id: str | None
    phone_number_id: str
    errors: tuple[ErrorInfo, ...] = ()
    pricing: PricingInfo | None = None
    conversation: ConversationInfo | None = None
    recipient_user_id: str | None = None
    display_phone_number: str = ""
    waba_id: str = ""
    raw: Mapping[str, object] = _field(default_factory=dict, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateStatusUpdate:
    """A ``message_template_status_update`` change. ``reason`` is None when Meta says ``"NONE"``."""

    event: str
    template_id: str
    name: str
    language: str
    reason: str | None = None
    category: str | None = None
    waba_id: str = ""
    raw: Mapping[str, object] = _field(default_factory=dict, repr=False, compare=False, hash=False)
    disable_at: datetime | None = None
    """``FLAGGED``: ``disable_info.disable_date`` (Unix seconds or ISO 8601), when Meta disables it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherChange:
    """Any other change (``user_preferences``, quality updates, a ``messages`` value with only errors)."""

    field: str
    value: Mapping[str, object] = _field(hash=False)
    waba_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookBatch:
    """Everything one webhook POST carried, in payload order."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    template_updates: tuple[TemplateStatusUpdate, ...] = ()
    other: tuple[OtherChange, ...] = ()


# ---------------------------------------------------------------------------------------- parsing

# Constructors of the same frozen instances without a frozen ``__init__``'s per-field
# ``object.__setattr__``: a quarter of ``parse_webhook``'s time (docs/performance.md).
_make_message = fast_constructor(InboundMessage)
_make_status = fast_constructor(StatusUpdate)
_make_pricing = fast_constructor(PricingInfo)
_make_conversation = fast_constructor(ConversationInfo)
_make_batch = fast_constructor(WebhookBatch)


def parse_webhook(body: bytes) -> WebhookBatch:
    """Parse a webhook POST body. Raises ``WebhookFormatError`` when it is not a WhatsApp webhook."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookFormatError(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WebhookFormatError(f"body is a JSON {_kind(doc)}, not an object")
    obj = doc.get("object")
    if obj != OBJECT:
        raise WebhookFormatError(f"object is {_short(obj)}, expected {OBJECT!r}")
    entries = doc.get("entry")
    if not isinstance(entries, list):
        raise WebhookFormatError("entry is not a list")

    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    templates: list[TemplateStatusUpdate] = []
    other: list[OtherChange] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise WebhookFormatError(f"entry[{i}] is not an object")
        waba_id = _str_or_int(entry.get("id")) or ""
        changes = entry.get("changes")
        if not isinstance(changes, list):
            raise WebhookFormatError(f"entry[{i}].changes is not a list")
        for j, change in enumerate(changes):
            # Paths are formatted only for an error: building them for every item was a tenth of parsing.
            if not isinstance(change, dict):
                raise WebhookFormatError(f"{_change_path(i, j)} is not an object")
            field_name = change.get("field")
            if not isinstance(field_name, str):
                raise WebhookFormatError(f"{_change_path(i, j)}.field is not a string")
            value = change.get("value")
            if not isinstance(value, dict):
                raise WebhookFormatError(f"{_change_path(i, j)}.value is not an object")
            if field_name == "messages" and ("messages" in value or "statuses" in value):
                _parse_messages_value(value, (i, j), waba_id, messages, statuses)
            elif field_name == "message_template_status_update":
                path = _change_path(i, j) + ".value"
                templates.append(_parse_template_update(value, path, waba_id))
            else:
                other.append(OtherChange(field=field_name, value=value, waba_id=waba_id))
    return _make_batch(
        messages=tuple(messages),
        statuses=tuple(statuses),
        template_updates=tuple(templates),
        other=tuple(other),
    )


def _change_path(i: int, j: int) -> str:
    return f"entry[{i}].changes[{j}]"


def _item_path(at: tuple[int, int], kind: str, k: int) -> str:
    return f"{_change_path(*at)}.value.{kind}[{k}]"


def _parse_messages_value(
    value: dict[str, object],
    at: tuple[int, int],
    waba_id: str,
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
) -> None:
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        raise WebhookFormatError(f"{_change_path(*at)}.value.metadata is not an object")
    phone_number_id = _str_or_int(metadata.get("phone_number_id"))
    if not phone_number_id:
        raise WebhookFormatError(f"{_change_path(*at)}.value.metadata.phone_number_id is missing")
    display = _str_or_int(metadata.get("display_phone_number")) or ""

    raw_messages = value.get("messages", ())
    if not isinstance(raw_messages, list | tuple):
        raise WebhookFormatError(f"{_change_path(*at)}.value.messages is not a list")
    if raw_messages:
        contacts = _contacts_by_id(value.get("contacts"))
        for k, msg in enumerate(raw_messages):
            messages.append(_parse_message(msg, at, k, contacts, phone_number_id, display, waba_id))

    raw_statuses = value.get("statuses", ())
    if not isinstance(raw_statuses, list | tuple):
        raise WebhookFormatError(f"{_change_path(*at)}.value.statuses is not a list")
    for k, st in enumerate(raw_statuses):
        statuses.append(_parse_status(st, at, k, phone_number_id, display, waba_id))


def _contacts_by_id(raw: object) -> dict[str, dict[str, object]]:
    """Contacts keyed by wa_id and by user_id; contacts are informational, so odd ones are skipped."""
    out: dict[str, dict[str, object]] = {}
    if isinstance(raw, list):
        for c in raw:
            if isinstance(c, dict):
                for key in ("wa_id", "user_id"):
                    ident = c.get(key)
                    if isinstance(ident, str) and ident:
                        out.setdefault(ident, c)
    return out


def _parse_message(
    msg: object,
    at: tuple[int, int],
    k: int,
    contacts: dict[str, dict[str, object]],
    phone_number_id: str,
    display: str,
    waba_id: str,
) -> InboundMessage:
    if not isinstance(msg, dict):
        raise WebhookFormatError(f"{_item_path(at, 'messages', k)} is not an object")
    wamid = msg.get("id")
    if not isinstance(wamid, str) or not wamid:
        raise WebhookFormatError(f"{_item_path(at, 'messages', k)}.id is missing or not a string")
    sender = msg.get("from")
    user_id = msg.get("from_user_id")
    if not isinstance(user_id, str) or not user_id:
        user_id = None
    if not isinstance(sender, str) or not sender:
        if sender is not None or user_id is None:
            raise WebhookFormatError(f"{_item_path(at, 'messages', k)}.from is missing or not a string")
        sender = ""
    timestamp = _unix_time(msg.get("timestamp"))
    if timestamp is None:
        raise _bad_time(msg.get("timestamp"), f"{_item_path(at, 'messages', k)}.timestamp")

    raw_type = msg.get("type")
    if isinstance(raw_type, str):
        mtype = _MESSAGE_TYPES.get(raw_type) or MessageType(raw_type)
    elif raw_type is None and (inferred := _inferred_type(msg)) is not None:
        raw_type, mtype = inferred.value, inferred
    else:
        raw_type, mtype = "", MessageType.UNKNOWN

    contact = contacts.get(sender) or (contacts.get(user_id) if user_id else None)
    if contact is None and len(contacts) == 1:
        # Meta sends one contact per sender; a lone contact whose key differs (e.g. a +prefix) is theirs.
        contact = next(iter(contacts.values()))
    profile_name = None
    if contact is not None:
        profile = contact.get("profile")
        if isinstance(profile, dict):
            name = profile.get("name")
            profile_name = name if isinstance(name, str) else None
        if user_id is None:
            cuid = contact.get("user_id")
            user_id = cuid if isinstance(cuid, str) and cuid else None

    context = msg.get("context")
    context_wamid = None
    if isinstance(context, dict):
        cid = context.get("id")
        context_wamid = cid if isinstance(cid, str) and cid else None
    referral = msg.get("referral")

    return _make_message(
        wamid=wamid,
        wa_id=sender,
        phone_number_id=phone_number_id,
        display_phone_number=display,
        timestamp=timestamp,
        type=mtype,
        text=_preview_text(mtype, raw_type, msg),
        profile_name=profile_name,
        referral=referral if isinstance(referral, dict) else None,
        context_wamid=context_wamid,
        user_id=user_id,
        waba_id=waba_id,
        raw_type=raw_type,
        raw=msg,
    )


def _inferred_type(msg: dict[str, object]) -> MessageType | None:
    """A message without ``type`` (Meta's own location example has none): the type named by the one
    content key present, or None when there is no such key or more than one (docs/rules.md)."""
    found = [t for t in _CONTENT_TYPES if isinstance(msg.get(t.value), dict | list)]
    return found[0] if len(found) == 1 else None


# Every known type keeps its content under a key of its own name.
_CONTENT_TYPES: Final = tuple(t for t in MessageType if t is not MessageType.UNKNOWN)


# Where the human-readable part of each type lives, in order of preference.
_TEXT_KEYS: Final[Mapping[MessageType, tuple[str, ...]]] = {
    MessageType.TEXT: ("body",),
    MessageType.IMAGE: ("caption",),
    MessageType.VIDEO: ("caption",),
    MessageType.AUDIO: ("caption",),
    MessageType.STICKER: ("caption",),
    MessageType.DOCUMENT: ("caption", "filename"),
    MessageType.BUTTON: ("text", "payload"),
    MessageType.REACTION: ("emoji",),
    MessageType.LOCATION: ("name", "address"),
    MessageType.ORDER: ("text",),
    MessageType.SYSTEM: ("body",),
}


def _preview_text(mtype: MessageType, raw_type: str, msg: dict[str, object]) -> str | None:
    obj = msg.get(raw_type) if raw_type else None
    if mtype is MessageType.INTERACTIVE and isinstance(obj, dict):
        for reply_key in ("button_reply", "list_reply", "nfm_reply"):
            reply = obj.get(reply_key)
            if isinstance(reply, dict):
                return _first_str(reply, ("title", "body"))
        return None
    if mtype is MessageType.CONTACTS and isinstance(obj, list) and obj and isinstance(obj[0], dict):
        name = obj[0].get("name")
        return _first_str(name, ("formatted_name", "first_name")) if isinstance(name, dict) else None
    keys = _TEXT_KEYS.get(mtype)
    if keys is None or not isinstance(obj, dict):
        return None
    return _first_str(obj, keys)


def _first_str(obj: dict[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        v = obj.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def _parse_status(
    st: object, at: tuple[int, int], k: int, phone_number_id: str, display: str, waba_id: str
) -> StatusUpdate:
    if not isinstance(st, dict):
        raise WebhookFormatError(f"{_item_path(at, 'statuses', k)} is not an object")
    wamid = st.get("id")
    if not isinstance(wamid, str) or not wamid:
        raise WebhookFormatError(f"{_item_path(at, 'statuses', k)}.id is missing or not a string")
    raw_status = st.get("status")
    if not isinstance(raw_status, str):
        raise WebhookFormatError(f"{_item_path(at, 'statuses', k)}.status is missing or not a string")
    timestamp = _unix_time(st.get("timestamp"))
    if timestamp is None:
        raise _bad_time(st.get("timestamp"), f"{_item_path(at, 'statuses', k)}.timestamp")
    recipient = _str_or_int(st.get("recipient_id"))
    recipient_user = st.get("recipient_user_id")
    return _make_status(
        wamid=wamid,
        status=_DELIVERY_STATUSES.get(raw_status) or DeliveryStatus(raw_status),
        timestamp=timestamp,
        recipient_id=recipient or None,
        phone_number_id=phone_number_id,
        errors=_parse_errors(st.get("errors")),
        pricing=_parse_pricing(st.get("pricing")),
        conversation=_parse_conversation(st.get("conversation")),
        recipient_user_id=recipient_user if isinstance(recipient_user, str) and recipient_user else None,
        display_phone_number=display,
        waba_id=waba_id,
        raw=st,
    )


def _parse_errors(raw: object) -> tuple[ErrorInfo, ...]:
    # Error objects only describe a failure that is already known from the status, so odd ones are
    # kept as best we can rather than rejecting the status with them.
    if not isinstance(raw, list):
        return ()
    out: list[ErrorInfo] = []
    for e in raw:
        if not isinstance(e, dict):
            continue
        data = e.get("error_data")
        details = data.get("details") if isinstance(data, dict) else data
        out.append(
            ErrorInfo(
                code=_int_or_zero(e.get("code")),
                title=_str_or_empty(e.get("title")),
                message=_str_or_empty(e.get("message")),
                details=_str_or_empty(details),
            )
        )
    return tuple(out)


def _parse_pricing(raw: object) -> PricingInfo | None:
    if not isinstance(raw, dict):
        return None
    ptype = raw.get("type", raw.get("pricing_type"))
    ptype = ptype if isinstance(ptype, str) and ptype else None
    billable = raw.get("billable")
    if not isinstance(billable, bool):
        billable = (ptype == "regular") if ptype is not None else None
    return _make_pricing(
        billable=billable,
        pricing_model=_str_or_empty(raw.get("pricing_model")),
        category=_str_or_empty(raw.get("category")),
        type=ptype,
    )


def _parse_conversation(raw: object) -> ConversationInfo | None:
    if not isinstance(raw, dict):
        return None
    origin = raw.get("origin")
    origin_type = origin.get("type") if isinstance(origin, dict) else None
    expiration = None
    if raw.get("expiration_timestamp") is not None:
        expiration = _unix_time(raw["expiration_timestamp"])
    return _make_conversation(
        id=_str_or_int(raw.get("id")) or "",
        expiration_timestamp=expiration,
        origin_type=origin_type if isinstance(origin_type, str) else None,
    )


def _parse_template_update(value: dict[str, object], path: str, waba_id: str) -> TemplateStatusUpdate:
    event = value.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookFormatError(f"{path}.event is missing or not a string")
    template_id = _str_or_int(value.get("message_template_id"))
    if not template_id:
        raise WebhookFormatError(f"{path}.message_template_id is missing")
    name = value.get("message_template_name")
    if not isinstance(name, str) or not name:
        raise WebhookFormatError(f"{path}.message_template_name is missing or not a string")
    language = value.get("message_template_language")
    if not isinstance(language, str) or not language:
        raise WebhookFormatError(f"{path}.message_template_language is missing or not a string")
    reason = value.get("reason")
    category = value.get("message_template_category")
    return TemplateStatusUpdate(
        event=event,
        template_id=template_id,
        name=name,
        language=language,
        reason=reason if isinstance(reason, str) and reason and reason.upper() != "NONE" else None,
        category=category if isinstance(category, str) and category else None,
        waba_id=waba_id,
        raw=value,
        disable_at=_disable_date(value.get("disable_info")),
    )


def _disable_date(info: object) -> datetime | None:
    """``disable_info.disable_date`` as a time; None when absent or not a time (never an error)."""
    raw = info.get("disable_date") if isinstance(info, dict) else None
    if raw is None or isinstance(raw, bool):
        return None
    at = _unix_time(raw) if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()) else None
    if at is None and isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        at = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return at


# Meta's timestamps are Unix seconds as strings; 0 < t < year 9999 keeps datetime happy.
_MAX_UNIX: Final = 253_402_300_799


def _unix_time(raw: object) -> datetime | None:
    """The time, or None when ``raw`` is not a Unix time in range (``_bad_time`` says which)."""
    if type(raw) is str:
        return _unix_time_text(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= _MAX_UNIX:
        return datetime.fromtimestamp(raw, UTC)
    return None


@functools.lru_cache(maxsize=1024)  # one webhook after another carries the same few seconds
def _unix_time_text(raw: str) -> datetime | None:
    if raw.isascii() and raw.isdigit() and len(raw) <= 12 and int(raw) <= _MAX_UNIX:
        return datetime.fromtimestamp(int(raw), UTC)
    return None


def _bad_time(raw: object, path: str) -> WebhookFormatError:
    if (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 12) or (
        isinstance(raw, int) and not isinstance(raw, bool)
    ):
        return WebhookFormatError(f"{path} is out of range")
    return WebhookFormatError(f"{path} is not a Unix time")


def _str_or_int(v: object) -> str | None:
    """Ids Meta documents as strings but sometimes sends as numbers."""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _str_or_empty(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int_or_zero(v: object) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 18:
        return int(v)
    return 0


def _kind(v: object) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(v), "null" if v is None else type(v).__name__
    )


def _short(v: object) -> str:
    # Never repr containers: a hostile, deeply nested value would blow the recursion limit.
    if isinstance(v, dict | list):
        return f"a JSON {_kind(v) if isinstance(v, list) else 'object'}"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------------------- builders


def _envelope(
    waba_id: str, field_name: str, value: dict[str, object], time: int | None = None
) -> dict[str, object]:
    entry: dict[str, object] = {"id": waba_id}
    if time is not None:
        entry["time"] = time
    entry["changes"] = [{"value": value, "field": field_name}]
    return {"object": OBJECT, "entry": [entry]}


def _metadata(display_phone_number: str, phone_number_id: str) -> dict[str, object]:
    return {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}


def build_message_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str | None,
    wamid: str,
    timestamp: int,
    message_type: str = "text",
    content: Mapping[str, object] | Sequence[Mapping[str, object]],
    referral: Mapping[str, object] | None = None,
    context_wamid: str | None = None,
    user_id: str | None = None,
) -> dict[str, object]:
    """A ``messages`` webhook carrying one customer message, exactly as Meta shapes it.

    ``content`` is the type object (``{"body": "hi"}`` for text; a list of cards for ``contacts``).
    ``user_id`` adds the 2026 business-scoped id (``contacts[].user_id`` and ``from_user_id``).
    """
    contact: dict[str, object] = {"profile": {"name": profile_name or ""}, "wa_id": wa_id}
    message: dict[str, object] = {"from": wa_id}
    if user_id is not None:
        contact["user_id"] = user_id
        message["from_user_id"] = user_id
    message["id"] = wamid
    message["timestamp"] = str(timestamp)
    if context_wamid is not None:
        message["context"] = {"from": display_phone_number, "id": context_wamid}
    if referral is not None:
        message["referral"] = dict(referral)
    message["type"] = message_type
    message[message_type] = [dict(c) for c in content] if isinstance(content, Sequence) else dict(content)
    value: dict[str, object] = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number, phone_number_id),
        "contacts": [contact],
        "messages": [message],
    }
    return _envelope(waba_id, "messages", value)


def build_status_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    pricing: Mapping[str, object] | None = None,
    conversation: Mapping[str, object] | None = None,
    errors: Sequence[Mapping[str, object]] | None = None,
    recipient_user_id: str | None = None,
) -> dict[str, object]:
    """A ``messages`` webhook carrying one status of a business-sent message, as Meta shapes it.

    ``errors`` are webhook error objects (see ``graph_errors.webhook_error``). With
    ``recipient_user_id`` the 2026 form is produced: ``recipient_user_id`` plus a ``contacts`` entry.
    """
    st: dict[str, object] = {
        "id": wamid,
        "status": str(status),
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
    }
    if recipient_user_id is not None:
        st["recipient_user_id"] = recipient_user_id
    if conversation is not None:
        st["conversation"] = dict(conversation)
    if pricing is not None:
        st["pricing"] = dict(pricing)
    if errors:
        st["errors"] = [dict(e) for e in errors]
    value: dict[str, object] = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number, phone_number_id),
    }
    if recipient_user_id is not None:
        value["contacts"] = [{"wa_id": recipient_id, "user_id": recipient_user_id}]
    value["statuses"] = [st]
    return _envelope(waba_id, "messages", value)


def build_template_status_webhook(
    *,
    waba_id: str,
    template_id: str | int,
    name: str,
    language: str,
    event: str,
    timestamp: int,
    reason: str | None = None,
    category: str | None = None,
) -> dict[str, object]:
    """A ``message_template_status_update`` webhook (``event`` e.g. ``APPROVED``, ``PAUSED``)."""
    tid: object = int(template_id) if str(template_id).isdigit() else str(template_id)
    value: dict[str, object] = {
        "event": event,
        "message_template_id": tid,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason or "NONE",
    }
    if category is not None:
        value["message_template_category"] = category
    return _envelope(waba_id, "message_template_status_update", value, time=timestamp)
