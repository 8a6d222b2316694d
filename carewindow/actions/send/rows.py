"""The columns of an outbound message row, built the same way for every send the planner plans
(live sends and scheduled sends decided when due) and for released held messages (their charge)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from carewindow.actions.send.commands import SendCommand
from carewindow.policy import Charge, Decision, MessageKind, RenderedTemplate
from carewindow.storage.ids import new_id
from carewindow.wire.messages import build_send_body


def base_values(cmd: SendCommand, contact_id: int, *, now: datetime, ticket_id: str | None) -> dict[str, Any]:
    """The columns a new outbound row gets once: a fresh id, its contact, times."""
    return {
        "id": new_id("msg"),
        "contact_id": contact_id,
        "direction": "out",
        "ticket_id": ticket_id,
        "on_closed": cmd.on_closed.value,
        "ts": now,
        "created_at": now,
        "updated_at": now,
    }


def message_values(
    cmd: SendCommand,
    decision: Decision | None,
    *,
    template: RenderedTemplate | None,
    now: datetime,
    status: str,
    as_template: bool = False,
    hold_until: datetime | None = None,
    knock_message_id: str | None = None,
) -> dict[str, Any]:
    """What was decided, as columns: the exact Graph API body (``content``), text, kind, charge.

    The caller sets ``content["biz_opaque_callback_data"]`` to the row's id once it is known."""
    is_template = as_template or cmd.message_type == "template"
    message_type = "template" if is_template else cmd.message_type
    body = build_send_body(
        to=cmd.to,
        message_type=message_type,
        content=None if is_template else cmd.content,
        template=template if is_template else None,
        context_wamid=cmd.context_wamid,
    )
    c = decision.charge if decision is not None and status != "held" else None
    return {
        "type": message_type,
        "kind": (MessageKind.TEMPLATE if is_template else MessageKind.SESSION).value,
        "status": status,
        "content": body,
        "text": template.body_text if (is_template and template is not None) else preview(cmd),
        "template_name": template.name if (is_template and template) else None,
        "template_language": template.language if (is_template and template) else None,
        "knock_message_id": knock_message_id,
        "hold_until": hold_until,
        "updated_at": now,
        **charge_values(c),
        "charged_at": now if c else None,
    }


def charge_values(c: Charge | None) -> dict[str, Any]:
    return {
        "charge_billable": c.billable if c else None,
        "charge_category": c.category if c else None,
        "charge_amount": c.amount if c else None,
        "charge_currency": c.currency if c else None,
        "charge_model": c.pricing_model if c else None,
        "charge_market": c.market if c else None,
        "charge_reason": c.reason if c else None,
    }


def preview(cmd: SendCommand) -> str | None:
    """The short text the thread and the conversation list show for a message."""
    if cmd.message_type == "template":
        return f"[template {cmd.template.name}]" if cmd.template else "[template]"
    content = cmd.content if isinstance(cmd.content, Mapping) else {}
    if cmd.message_type == "text":
        body = content.get("body")
        return body if isinstance(body, str) else None
    caption = content.get("caption")
    if isinstance(caption, str):
        return caption
    return f"[{cmd.message_type}]"
