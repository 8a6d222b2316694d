"""Rows -> what the inbox templates show. Plain values only: Jinja2 escapes every one of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from carewindow.actions.platform_changes import APP_ORIGIN, template_alert
from carewindow.policy import (
    ConsentStatus,
    ContactState,
    ParameterFormat,
    PolicySettings,
    TemplateDefinitionError,
    WindowView,
    reengagement_allowed,
    window_at,
)
from carewindow.storage import contacts as contact_store
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Row


def iso(at: datetime | None) -> str:
    """ISO 8601 UTC with a ``Z``; what the page's data attributes carry for the browser's clock."""
    if at is None:
        return ""
    return at.isoformat().replace("+00:00", "Z")


def hhmm(at: datetime | None) -> str:
    return at.strftime("%d %b %H:%M UTC") if at is not None else ""


def duration(seconds: int) -> str:
    """``2 h 14 m``, ``14 m 05 s``, ``42 s``, ``3 d 2 h`` (inbox.js formats the same way)."""
    seconds = max(0, seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} m"
    if m:
        return f"{m} m {s:02d} s"
    return f"{s} s"


def ago(seconds: int) -> str:
    """``just now``, ``5 m ago``, ``3 h ago``, ``2 d ago``."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} m ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowBadge:
    state: str  # open | closed | none
    text: str
    expires_at: str  # ISO, empty when the customer never wrote
    urgency: str  # ok | soon | urgent | closed | none


def window_badge(view: WindowView, *, now: datetime) -> WindowBadge:
    """The badge's server-side text; inbox.js keeps it ticking from ``expires_at``."""
    if view.expires_at is None:
        return WindowBadge(state="none", text="no window yet", expires_at="", urgency="none")
    if view.is_open:
        left = view.seconds_left
        urgency = "urgent" if left < 900 else "soon" if left < 3600 else "ok"
        return WindowBadge(
            state="open", text=f"{duration(left)} left", expires_at=iso(view.expires_at), urgency=urgency
        )
    since = int((now - view.expires_at).total_seconds())
    return WindowBadge(
        state="closed", text=f"closed {ago(since)}", expires_at=iso(view.expires_at), urgency="closed"
    )


CONSENT_LABELS = {"opted_in": "opted in", "opted_out": "opted out", "unknown": "no opt-in"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRow:
    wa_id: str
    phone_number_id: str
    name: str
    preview: str
    preview_outbound: bool
    unread: int
    window: WindowBadge
    consent: str
    consent_label: str
    last_activity: str


def conversation_row(row: Row[Any], *, now: datetime, policy: PolicySettings) -> ConversationRow:
    state = contact_store.state_from_row(row)
    view = window_at(state.window, now=now, settings=policy)
    text = row.last_text if row.last_text else (f"[{row.last_type}]" if row.last_type else "")
    return ConversationRow(
        wa_id=row.wa_id,
        phone_number_id=row.phone_number_id,
        name=row.profile_name or "",
        preview=(text or "no messages yet")[:120],
        preview_outbound=row.last_direction == "out",
        unread=row.unread_count,
        window=window_badge(view, now=now),
        consent=state.consent.status.value,
        consent_label=CONSENT_LABELS.get(state.consent.status.value, state.consent.status.value),
        last_activity=iso(row.last_activity_at),
    )


STATUS_LABELS = {
    "queued": ("🕓", "queued"),
    "sending": ("🕓", "sending"),
    "sent": ("✓", "sent"),
    "delivered": ("✓✓", "delivered"),
    "read": ("✓✓", "read"),
    "failed": ("✗", "failed"),
    "held": ("⏸", "held until the customer replies"),
    "releasing": ("🕓", "released: goes out after the one before it"),
    "scheduled": ("🕓", "scheduled"),
    "expired": ("✗", "expired"),
    "cancelled": ("✗", "cancelled"),
    "uncertain": ("?", "uncertain: the provider may or may not have it"),
}
TYPE_LABELS = {
    "image": "Image",
    "video": "Video",
    "audio": "Audio",
    "voice": "Voice note",
    "document": "Document",
    "sticker": "Sticker",
    "location": "Location",
    "contacts": "Contact card",
    "interactive": "Reply",
    "button": "Button reply",
    "reaction": "Reaction",
    "order": "Order",
    "system": "System",
    "unsupported": "Unsupported message",
    "request_welcome": "Opened the chat",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bubble:
    id: str
    direction: str
    type: str
    type_label: str  # empty for plain text
    text: str
    details: tuple[str, ...]
    template: str  # "name (language)" for templates
    status: str
    status_icon: str
    status_label: str
    error: str
    charge: str
    ticket_id: str
    at: str
    at_label: str
    # Set when Meta's status webhook priced the message differently: the marker's title says how.
    billed_differently: str = ""
    # "sent from the app": a coexistence echo, written in the WhatsApp Business app (free, window-neutral).
    origin_label: str = ""


def _obj(content: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = (content or {}).get(key)
    return value if isinstance(value, Mapping) else {}


def _details(mtype: str, content: Mapping[str, Any] | None, direction: str) -> list[str]:
    """Extra lines for non-text messages (all plain text; the template escapes them)."""
    out: list[str] = []
    obj = _obj(content, mtype)
    if mtype == "location":
        name = " · ".join(str(obj[k]) for k in ("name", "address") if obj.get(k))
        if name:
            out.append(name)
        if "latitude" in obj and "longitude" in obj:
            out.append(f"{obj['latitude']}, {obj['longitude']}")
    elif mtype == "document" and obj.get("filename"):
        out.append(str(obj["filename"]))
    elif mtype in ("image", "video", "audio", "sticker", "document"):
        media = obj.get("mime_type") or obj.get("link") or ""
        if media:
            out.append(str(media))
    elif mtype == "reaction" and obj.get("emoji"):
        out.append(f"reacted {obj['emoji']}")
    elif mtype == "interactive" and direction == "out":
        body = _obj(obj, "body").get("text")
        if body:
            out.append(str(body))
        action = _obj(obj, "action")
        buttons = action.get("buttons")
        if isinstance(buttons, Sequence):
            titles = [str(_obj(b, "reply").get("title", "")) for b in buttons if isinstance(b, Mapping)]
            if titles:
                out.append("buttons: " + " | ".join(t for t in titles if t))
    return out


def money(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    text = format(amount.normalize(), "f")
    return text if "." in text else f"{text}.00"


def bubble(row: Row[Any]) -> Bubble:
    m = row._mapping
    direction = m["direction"]
    mtype = m["type"]
    content = m["content"] if isinstance(m["content"], Mapping) else None
    icon, label = ("", "") if direction == "in" else STATUS_LABELS.get(m["status"], ("", m["status"]))
    error = ""
    if m["error_code"]:
        reason = " — ".join(str(x) for x in (m["error_title"], m["error_message"]) if x)
        error = f"{m['error_code']}: {reason}" if reason else str(m["error_code"])
    charge = ""
    if direction == "out" and m["charge_model"] is not None:
        category = m["charge_category"] or ""
        if m["charge_billable"]:
            charge = f"{money(m['charge_amount'])} {m['charge_currency'] or ''} · {category}".strip()
        else:
            charge = f"free · {category}" if category else "free"
    billed_differently = ""
    if direction == "out" and m.get("charge_mismatch"):
        actual = "billed" if m.get("actual_billable") else "free"
        billed_differently = (
            f"Meta billed this differently: {actual} · {m.get('actual_category') or '?'}"
            f" ({m.get('actual_model') or '?'}), predicted {charge or 'no charge'}"
        )
    template = ""
    if m["template_name"]:
        template = f"{m['template_name']} ({m['template_language']})"
    text = m["text"] or ""
    if text == f"[{mtype}]":
        text = ""  # the type label already says it
    return Bubble(
        id=m["id"],
        direction=direction,
        type=mtype,
        type_label="" if mtype in ("text", "template") else TYPE_LABELS.get(mtype, mtype),
        text=text,
        details=tuple(_details(mtype, content, direction)),
        template=template,
        status=m["status"],
        status_icon=icon,
        status_label=label,
        error=error,
        charge=charge,
        ticket_id=m["ticket_id"] or "",
        at=iso(m["ts"]),
        at_label=hhmm(m["ts"]),
        billed_differently=billed_differently,
        origin_label="sent from the app" if m.get("origin") == APP_ORIGIN else "",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateOption:
    key: str  # "name|language", the picker's value
    name: str
    language: str
    category: str
    header: str
    body: str
    footer: str
    params: tuple[str, ...]
    named: bool
    alert: str = ""  # a category move to marketing, a low quality, a flag (actions/platform_changes.py)
    header_media: str = ""  # image | video | document: the form picks the header's file


def template_options(rows: Sequence[Row[Any]]) -> list[TemplateOption]:
    out: list[TemplateOption] = []
    for row in rows:
        tpl = template_store.template_from_row(row)
        try:
            params = tpl.placeholders
            named = tpl.parameter_format is ParameterFormat.NAMED
        except TemplateDefinitionError:
            continue  # an invalid catalog entry cannot be sent anyway
        out.append(
            TemplateOption(
                key=f"{tpl.name}|{tpl.language}",
                name=tpl.name,
                language=tpl.language,
                category=tpl.category.value,
                header=tpl.header or "",
                body=tpl.body,
                footer=tpl.footer or "",
                params=params,
                named=named,
                alert=template_alert(row) or "",
                header_media=tpl.header_media or "",
            )
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Composer:
    """What the agent may send now; the server decides, the page only shows it."""

    state: str  # a key the client compares to know when to re-render the composer
    text_allowed: bool
    text_reason: str
    templates_allowed: bool
    templates_reason: str
    needs_consent: bool
    notes: list[str] = field(default_factory=list)


def composer(
    state: ContactState | None, view: WindowView, *, now: datetime, policy: PolicySettings
) -> Composer:
    """Mirror of the policy's checks (decide() still has the last word when the form is sent)."""
    consent = state.consent.status if state is not None else ConsentStatus.UNKNOWN
    wa_id = state.wa_id if state is not None else ""
    if view.is_open:
        text_reason = ""
    elif view.expires_at is None:
        text_reason = (
            "This customer has not written to this number yet, so there is no customer care window. "
            "Free text is not allowed: start the conversation with an approved template."
        )
    else:
        since = int((now - view.expires_at).total_seconds())
        text_reason = (
            f"The 24-hour customer care window closed {ago(since)} "
            f"(last customer message {hhmm(view.last_inbound_at)}). "
            "WhatsApp allows only approved templates until the customer writes again."
        )
    templates_reason = ""
    needs_consent = False
    if consent is ConsentStatus.OPTED_OUT:
        needs_consent = True
        templates_reason = (
            f"+{wa_id} opted out of messages"
            + (f" on {hhmm(state.consent.updated_at)}" if state and state.consent.updated_at else "")
            + (f" (source: {state.consent.source})" if state and state.consent.source else "")
            + ". Templates are blocked until a new opt-in is recorded."
        )
    elif consent is not ConsentStatus.OPTED_IN:
        needs_consent = True
        templates_reason = (
            "No opt-in is recorded for this customer, so templates cannot be sent. "
            "Record where and how the customer agreed to be contacted to unlock them."
        )
    elif (
        state is not None
        and not view.is_open
        and view.closed_at is not None  # a template to someone who never wrote is a notification
        and now - view.closed_at < policy.reengagement_horizon
        and not reengagement_allowed(
            state.reengagement, limit=policy.reengagement_limit, now=now, horizon=policy.reengagement_horizon
        )
    ):
        first = state.reengagement.first_sent_at
        when = f" {ago(int((now - first).total_seconds()))}" if first is not None else ""
        templates_reason = (
            f"Re-engagement pending: a template was already sent{when} since the window closed and the "
            "customer has not replied. Wait for the customer to write; the window reopens when they do."
        )
    text_key = "open" if view.is_open else "closed"
    block = "consent" if needs_consent else ("reengagement" if templates_reason else "ok")
    return Composer(
        state=f"{text_key}:{block}",
        text_allowed=view.is_open,
        text_reason=text_reason,
        templates_allowed=not templates_reason,
        templates_reason=templates_reason,
        needs_consent=needs_consent,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """A window event between bubbles: opened, or closed at its expiry."""

    kind: str  # "opened" | "closed"
    label: str
    at: str
    at_label: str


NON_WINDOW_TYPES = frozenset({"reaction", "system", "request_welcome"})  # as actions/ingest.py counts


def timeline(
    bubbles: Sequence[Bubble], rows: Sequence[Row[Any]], *, now: datetime, window: timedelta
) -> list[Bubble | Marker]:
    """Bubbles with the window's openings and closings between them, derived from the customer's
    messages in the thread (the same rule the policy applies: 24 h after the latest one)."""
    out: list[Bubble | Marker] = []
    expires: datetime | None = None
    for b, row in zip(bubbles, rows, strict=True):
        at: datetime = row.ts
        if expires is not None and expires <= at:
            out.append(_marker("closed", expires))
            expires = None
        if row.direction == "in" and row.type not in NON_WINDOW_TYPES:
            if expires is None:
                out.append(_marker("opened", at))
            expires = at + window
        out.append(b)
    if expires is not None and expires <= now:
        out.append(_marker("closed", expires))
    return out


def _marker(kind: str, at: datetime) -> Marker:
    label = "Customer care window opened" if kind == "opened" else "Customer care window closed"
    return Marker(kind=kind, label=label, at=iso(at), at_label=f"{at:%d %b %H:%M} UTC")


def superseded_note(row: Any) -> str:
    """The agent's note about an opt-out a provably later opt-in superseded ("" when none)."""
    if row is None:
        return ""
    source = f" ({row.source})" if row.source else ""
    return (
        f"An opt-out{source} from {hhmm(row.at)} did not apply: a later opt-in won "
        f"({row.reason or 'superseded'}). Check with the customer before sending templates."
    )
