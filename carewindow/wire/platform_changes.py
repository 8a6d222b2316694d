"""The 2026 webhook fields as typed values: coexistence echoes and template category / quality updates.

``parse_webhook`` leaves these in ``WebhookBatch.other`` (so the hot parse does not change); this module
reads them from there. Nothing here raises: an item that is not what Meta documents is skipped (the raw
body is stored anyway), because a webhook is answered 200 whatever it carries.

Sources (docs/rules.md "Coexistence echoes", "Template category and quality"):
- ``smb_message_echoes``: Meta's reference
  https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes
  and pywa's recorded ``tests/data/updates/outgoing_message.json`` @0bcf2f1 (``text``, ``edit``, ``revoke``).
- ``template_category_update``: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/template_category_update
  (impending: ``correct_category`` + ``category_update_timestamp``; completed: ``previous_category``).
- ``message_template_quality_update``: ``previous_quality_score`` / ``new_quality_score``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import UTC, datetime

from carewindow.wire.webhook import OtherChange

__all__ = [
    "ECHO_FIELD",
    "MessageEcho",
    "TemplateCategoryChange",
    "TemplateQualityChange",
    "echoes",
    "template_changes",
]

ECHO_FIELD = "smb_message_echoes"
CATEGORY_FIELD = "template_category_update"
QUALITY_FIELD = "message_template_quality_update"
_TEXT_KEYS = ("body", "caption", "filename", "name", "emoji")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEcho:
    """A message the business sent from the WhatsApp Business app (or a companion device).

    ``kind`` is ``"message"`` (a new one), ``"edit"`` or ``"revoke"``; for the last two ``original_wamid``
    names the message changed, and an edit's new ``text``/``content`` replace the old."""

    wamid: str
    phone_number_id: str
    wa_id: str  # the customer: ``to``, else ``to_user_id``
    user_id: str | None
    timestamp: datetime
    kind: str
    type: str
    text: str | None
    original_wamid: str | None = None
    raw: Mapping[str, object] = _field(default_factory=dict, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateCategoryChange:
    """``template_category_update``: ``completed`` when ``previous_category`` is given (the category
    changed), else impending (Meta will change it at ``effective_at`` to ``correct_category``)."""

    name: str
    language: str
    template_id: str
    new_category: str
    previous_category: str | None
    correct_category: str | None
    effective_at: datetime | None

    @property
    def completed(self) -> bool:
        return self.previous_category is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateQualityChange:
    """``message_template_quality_update``: GREEN, YELLOW, RED or UNKNOWN (kept as Meta wrote it)."""

    name: str
    language: str
    template_id: str
    previous: str | None
    new: str


def _s(v: object) -> str | None:
    if isinstance(v, str) and v:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _time(v: object) -> datetime | None:
    text = _s(v)
    if text is None or not text.isdigit() or len(text) > 11:
        return None
    return datetime.fromtimestamp(int(text), UTC)


def _preview(kind: str, obj: object) -> str | None:
    if isinstance(obj, dict):
        for key in _TEXT_KEYS:
            v = obj.get(key)
            if isinstance(v, str) and v:
                return v
    return None if kind == "text" else f"[{kind}]"


def echoes(changes: Iterable[OtherChange]) -> list[MessageEcho]:
    """Every echo of the batch's ``smb_message_echoes`` changes, in payload order."""
    out: list[MessageEcho] = []
    for change in changes:
        if change.field != ECHO_FIELD:
            continue
        metadata = change.value.get("metadata")
        if not isinstance(metadata, dict):
            continue
        number, display = _s(metadata.get("phone_number_id")), _s(metadata.get("display_phone_number"))
        items = change.value.get("message_echoes")
        if number is None or not isinstance(items, list):
            continue
        for item in items:
            echo = _echo(item, number, display)
            if echo is not None:
                out.append(echo)
    return out


def _echo(item: object, number: str, display: str | None) -> MessageEcho | None:
    if not isinstance(item, dict):
        return None
    wamid, at = _s(item.get("id")), _time(item.get("timestamp"))
    kind = _s(item.get("type")) or "unknown"
    to, sender, user_id = _s(item.get("to")), _s(item.get("from")), _s(item.get("to_user_id"))
    if wamid is None or at is None:
        return None
    # Meta: ``from`` is the business, ``to`` the customer; pywa's edit and revoke samples have them the
    # other way round, so the customer is whichever is not the business's own number.
    if to is not None and to == display:
        to = sender
    content = item.get(kind)
    original = _s(content.get("original_message_id")) if isinstance(content, dict) else None
    if kind == "edit" and isinstance(content, dict) and isinstance(content.get("message"), dict):
        inner = content["message"]
        inner_type = _s(inner.get("type")) or "text"
        return MessageEcho(
            wamid=wamid,
            phone_number_id=number,
            wa_id=to or user_id or "",
            user_id=user_id,
            timestamp=at,
            kind="edit",
            type=inner_type,
            text=_preview(inner_type, inner.get(inner_type)),
            original_wamid=original,
            raw=item,
        )
    return MessageEcho(
        wamid=wamid,
        phone_number_id=number,
        wa_id=to or user_id or "",
        user_id=user_id,
        timestamp=at,
        kind="revoke" if kind == "revoke" else "message",
        type=kind,
        text=_preview(kind, content),
        original_wamid=original,
        raw=item,
    )


def template_changes(
    changes: Iterable[OtherChange],
) -> list[TemplateCategoryChange | TemplateQualityChange]:
    """The batch's category and quality updates, in payload order."""
    out: list[TemplateCategoryChange | TemplateQualityChange] = []
    for change in changes:
        v = change.value
        name, language = _s(v.get("message_template_name")), _s(v.get("message_template_language"))
        template_id = _s(v.get("message_template_id")) or ""
        if name is None or language is None:
            continue
        if change.field == CATEGORY_FIELD:
            new = _s(v.get("new_category"))
            if new is not None:
                out.append(
                    TemplateCategoryChange(
                        name=name,
                        language=language,
                        template_id=template_id,
                        new_category=new,
                        previous_category=_s(v.get("previous_category")),
                        correct_category=_s(v.get("correct_category")),
                        effective_at=_time(v.get("category_update_timestamp")),
                    )
                )
        elif change.field == QUALITY_FIELD:
            new = _s(v.get("new_quality_score"))
            if new is not None:
                out.append(
                    TemplateQualityChange(
                        name=name,
                        language=language,
                        template_id=template_id,
                        previous=_s(v.get("previous_quality_score")),
                        new=new,
                    )
                )
    return out
