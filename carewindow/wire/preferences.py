"""The ``user_preferences`` webhook: a customer stopped or resumed marketing messages.

Shape (Meta, https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences,
recorded in tests/fixtures/meta/user_preferences__*.json)::

    value: {messaging_product, metadata: {display_phone_number, phone_number_id},
            contacts: [{profile: {name}, wa_id}],
            user_preferences: [{wa_id, detail, category: "marketing_messages", value: "stop"|"resume",
                                timestamp}]}

``parse_webhook`` keeps these as ``OtherChange`` (field ``user_preferences``); ``marketing_preferences``
reads them. Anything it does not understand (another category, a value Meta may add) is skipped here
and stays in the stored raw body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from carewindow.wire.webhook import OBJECT, OtherChange

__all__ = ["FIELD", "MarketingPreference", "build_user_preferences_webhook", "marketing_preferences"]

FIELD: Final = "user_preferences"
CATEGORY: Final = "marketing_messages"
_VALUES: Final = {"stop": True, "resume": False}


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketingPreference:
    """One customer's marketing preference change."""

    phone_number_id: str
    wa_id: str
    stopped: bool
    timestamp: datetime | None
    detail: str | None


def marketing_preferences(changes: Iterable[OtherChange]) -> list[MarketingPreference]:
    """The marketing stop/resume items of the ``user_preferences`` changes among ``changes``."""
    out: list[MarketingPreference] = []
    for change in changes:
        if change.field != FIELD:
            continue
        value: Any = change.value
        metadata = value.get("metadata")
        number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        items = value.get(FIELD)
        if not isinstance(number, str | int) or not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, dict) or item.get("category") != CATEGORY:
                continue
            stopped = _VALUES.get(str(item.get("value", "")).lower())
            wa_id = item.get("wa_id")
            if stopped is None or not isinstance(wa_id, str | int) or not str(wa_id):
                continue
            detail = item.get("detail")
            out.append(
                MarketingPreference(
                    phone_number_id=str(number),
                    wa_id=str(wa_id),
                    stopped=stopped,
                    timestamp=_time(item.get("timestamp")),
                    detail=detail[:1000] if isinstance(detail, str) else None,
                )
            )
    return out


def _time(raw: object) -> datetime | None:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 11:
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 253_402_300_799:
        return datetime.fromtimestamp(raw, UTC)
    return None


def build_user_preferences_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    stopped: bool,
    timestamp: int,
    profile_name: str | None = None,
) -> dict[str, Any]:
    """A ``user_preferences`` webhook document in Meta's documented shape (for the sandbox and tests)."""
    contact: dict[str, Any] = {"wa_id": wa_id}
    if profile_name:
        contact["profile"] = {"name": profile_name}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
        "contacts": [contact],
        FIELD: [
            {
                "wa_id": wa_id,
                "detail": "User requested to stop marketing messages"
                if stopped
                else "User requested to resume marketing messages",
                "category": CATEGORY,
                "value": "stop" if stopped else "resume",
                "timestamp": str(timestamp),
            }
        ],
    }
    return {"object": OBJECT, "entry": [{"id": waba_id, "changes": [{"value": value, "field": FIELD}]}]}
