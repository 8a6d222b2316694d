"""Meta-shaped JSON the sandbox emits: Graph error answers and webhook bodies.

Shapes follow whatsapp-facts.md §4.5 (errors), §6.3/§6.4 (messages and statuses) and §3.9 (template
status). Kept local so the sandbox does not wait on ``carewindow.wire``'s builders.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

# Titles Meta embeds in `message` as "(#code) title"; details go to error_data.details.
TITLES: Mapping[int, str] = {
    4: "Application request limit reached",
    100: "Invalid parameter",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132005: "Translated text too long",
    132007: "Template Format Character Policy Violated",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is disabled",
    132018: "There was an issue with the parameters in your template.",
}

DETAILS_131047 = (
    "Message failed to send because more than 24 hours have passed since the customer last replied "
    "to this number."
)


# pywa's MarketingTemplatesDisabledForCloudAPI (pywa/errors.py @0bcf2f1).
DETAILS_131063 = (
    "Marketing templates are disabled for Cloud API: send them through the Marketing Messages API "
    "(/marketing_messages) or turn off disable_marketing_messages_on_cloud_api."
)
# pywa's BSUIDRecipientNotSupported (pywa/errors.py @0bcf2f1).
DETAILS_131062 = "Business-scoped User ID (BSUID) recipients are not supported for this message."


def fbtrace_id() -> str:
    """An opaque trace id like the one Meta attaches to every error."""
    return "A" + secrets.token_urlsafe(15)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GraphError:
    """One Graph API error answer: HTTP status plus the ``{"error": {...}}`` body."""

    code: int
    details: str | None = None
    http_status: int = 400
    subcode: int | None = None
    message: str | None = None  # defaults to "(#code) title"
    user_title: str | None = None
    user_msg: str | None = None

    @property
    def title(self) -> str:
        return TITLES.get(self.code, "Unknown error")

    def to_json(self) -> JSON:
        error: JSON = {
            "message": self.message or f"(#{self.code}) {self.title}",
            "type": "OAuthException",
            "code": self.code,
        }
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title is not None:
            error["is_transient"] = False
            error["error_user_title"] = self.user_title
            error["error_user_msg"] = self.user_msg or ""
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def webhook_error(self) -> JSON:
        """The same error as it appears inside a ``failed`` status (``statuses[].errors[]``)."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": self.details or self.title},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }


def encode(payload: JSON) -> bytes:
    """Compact JSON with non-ASCII escaped as ``\\uXXXX``, as Meta sends (and signs) it."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _envelope(*, waba_id: str, field: str, value: JSON, time: int | None = None) -> JSON:
    entry: JSON = {"id": waba_id}
    if time is not None:
        entry["time"] = time
    entry["changes"] = [{"value": value, "field": field}]
    return {"object": "whatsapp_business_account", "entry": [entry]}


def _metadata(*, display_phone_number: str, phone_number_id: str) -> JSON:
    return {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}


def contact(*, wa_id: str, user_id: str, profile_name: str | None = None) -> JSON:
    """A ``contacts[]`` entry: the 2026 shape carries the business-scoped ``user_id`` beside ``wa_id``."""
    entry: JSON = {}
    if profile_name is not None:
        entry["profile"] = {"name": profile_name}
    entry["wa_id"] = wa_id
    entry["user_id"] = user_id
    return entry


def username_contact(*, user_id: str, profile_name: str | None = None) -> JSON:
    """A ``contacts[]`` entry of a customer who hides the number behind a username: no ``wa_id``."""
    entry: JSON = {}
    if profile_name is not None:
        entry["profile"] = {"name": profile_name}
    entry["user_id"] = user_id
    return entry


def message_webhook(
    *,
    waba_id: str,
    display_phone_number: str,
    phone_number_id: str,
    contact_entry: JSON,
    message: JSON,
) -> JSON:
    """A ``messages`` webhook carrying one inbound customer message."""
    value: JSON = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number=display_phone_number, phone_number_id=phone_number_id),
        "contacts": [contact_entry],
        "messages": [message],
    }
    return _envelope(waba_id=waba_id, field="messages", value=value)


def status_webhook(
    *,
    waba_id: str,
    display_phone_number: str,
    phone_number_id: str,
    contact_entry: JSON | None,
    status: JSON,
) -> JSON:
    """A ``messages`` webhook carrying one status (sent, delivered, read or failed)."""
    value: JSON = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number=display_phone_number, phone_number_id=phone_number_id),
    }
    if contact_entry is not None:
        value["contacts"] = [contact_entry]
    value["statuses"] = [status]
    return _envelope(waba_id=waba_id, field="messages", value=value)


def statuses_webhook(
    *,
    waba_id: str,
    display_phone_number: str,
    phone_number_id: str,
    contact_entries: list[JSON],
    statuses: list[JSON],
) -> JSON:
    """One ``messages`` webhook carrying several statuses, as Meta batches them under load."""
    value: JSON = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number=display_phone_number, phone_number_id=phone_number_id),
        "contacts": contact_entries,
        "statuses": statuses,
    }
    return _envelope(waba_id=waba_id, field="messages", value=value)


def status_entry(
    *,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    recipient_user_id: str,
    pricing: JSON | None = None,
    conversation: JSON | None = None,
    errors: Sequence[JSON] = (),
    biz_opaque_callback_data: str | None = None,
) -> JSON:
    """One ``statuses[]`` item; ``failed`` items carry ``errors`` instead of pricing."""
    entry: JSON = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient_id,
        "recipient_user_id": recipient_user_id,
    }
    if biz_opaque_callback_data is not None:
        entry["biz_opaque_callback_data"] = biz_opaque_callback_data
    if conversation is not None:
        entry["conversation"] = conversation
    if pricing is not None:
        entry["pricing"] = pricing
    if errors:
        entry["errors"] = list(errors)
    return entry


def template_status_webhook(
    *,
    waba_id: str,
    time: int,
    event: str,
    template_id: str,
    name: str,
    language: str,
    category: str,
    reason: str | None,
) -> JSON:
    """A ``message_template_status_update`` webhook (whatsapp-facts.md §3.9)."""
    value: JSON = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason or "NONE",
        "message_template_category": category,
    }
    if event == "DISABLED":
        value["disable_info"] = {"disable_date": str(time)}
    return _envelope(waba_id=waba_id, field="message_template_status_update", value=value, time=time)


def echo_webhook(
    *, waba_id: str, display_phone_number: str, phone_number_id: str, contact_entry: JSON, echo: JSON
) -> JSON:
    """An ``smb_message_echoes`` webhook: a message the business sent from the WhatsApp Business app
    (or its edit / revocation), in the shape of Meta's reference and pywa's recorded sample @0bcf2f1."""
    value: JSON = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(display_phone_number=display_phone_number, phone_number_id=phone_number_id),
        "contacts": [contact_entry],
        "message_echoes": [echo],
    }
    return _envelope(waba_id=waba_id, field="smb_message_echoes", value=value)


def template_category_webhook(
    *,
    waba_id: str,
    time: int,
    template_id: str,
    name: str,
    language: str,
    new_category: str,
    previous_category: str | None = None,
    correct_category: str | None = None,
    effective_at: int | None = None,
) -> JSON:
    """A ``template_category_update`` webhook: impending (``correct_category`` and the time it takes
    effect) or completed (``previous_category``), as Meta's reference (Updated Nov 11, 2025) shows."""
    value: JSON = {
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
    }
    if previous_category is not None:
        value["previous_category"] = previous_category
    if correct_category is not None:
        value["correct_category"] = correct_category
    value["new_category"] = new_category
    if effective_at is not None:
        value["category_update_timestamp"] = effective_at
    return _envelope(waba_id=waba_id, field="template_category_update", value=value, time=time)


def template_quality_webhook(
    *, waba_id: str, time: int, template_id: str, name: str, language: str, previous: str, new: str
) -> JSON:
    """A ``message_template_quality_update`` webhook."""
    value: JSON = {
        "previous_quality_score": previous,
        "new_quality_score": new,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
    }
    return _envelope(waba_id=waba_id, field="message_template_quality_update", value=value, time=time)
