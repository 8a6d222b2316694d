"""The send use case's types: the command, the job queued for the group commit, the outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from carewindow.actions.errors import ValidationFailed
from carewindow.actions.events import Event
from carewindow.policy import Decision, OnClosed, PolicySettings, SendPurpose, TemplateRef
from carewindow.storage.engine import Row
from carewindow.wire.messages import validate_outbound


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCommand:
    """A validated request to send one message to ``to`` (wa_id digits)."""

    to: str
    message_type: str
    content: Mapping[str, Any] | Sequence[Any] | None = None
    template: TemplateRef | None = None
    on_closed: OnClosed = OnClosed.REJECT
    fallback: TemplateRef | None = None
    ticket_id: str | None = None
    idempotency_key: str | None = None
    context_wamid: str | None = None
    send_at: datetime | None = None
    purpose: SendPurpose = SendPurpose.AUTO

    def to_json(self) -> dict[str, Any]:
        """What a scheduled message stores to be decided later (its key and time stay on the row)."""
        return {
            "to": self.to,
            "message_type": self.message_type,
            "content": self.content,
            "template": _ref_json(self.template),
            "on_closed": self.on_closed.value,
            "fallback": _ref_json(self.fallback),
            "ticket_id": self.ticket_id,
            "context_wamid": self.context_wamid,
            "purpose": self.purpose.value,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SendCommand:
        return cls(
            to=d["to"],
            message_type=d["message_type"],
            content=d.get("content"),
            template=_ref_from(d.get("template")),
            on_closed=OnClosed(d.get("on_closed", "reject")),
            fallback=_ref_from(d.get("fallback")),
            ticket_id=d.get("ticket_id"),
            context_wamid=d.get("context_wamid"),
            purpose=SendPurpose(d.get("purpose", "auto")),
        )


def _ref_json(ref: TemplateRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    params = dict(ref.params) if isinstance(ref.params, Mapping) else list(ref.params)
    out: dict[str, Any] = {"name": ref.name, "language": ref.language, "params": params}
    if ref.header is not None:
        out["header"] = dict(ref.header)  # a media header's file
    return out


def _ref_from(d: Mapping[str, Any] | None) -> TemplateRef | None:
    if d is None:
        return None
    params = d.get("params") or ()
    return TemplateRef(
        name=d["name"],
        language=d["language"],
        params=params if isinstance(params, dict) else tuple(params),
        header=d.get("header"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Stored:
    """A scheduled message already stored (by seq and id), being decided now."""

    seq: int
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendJob:
    """One send for the planner: a new request (queued for the send group commit), or, with
    ``stored``, a scheduled message that is due."""

    cmd: SendCommand
    phone_number_id: str
    settings: PolicySettings
    now: datetime
    hold_period: timedelta
    stored: Stored | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutcome:
    message: Row[Any]
    decision: Decision | None  # None when an idempotency key returned an earlier message, or scheduled
    fallback_message_id: str | None = None
    events: tuple[Event, ...] = field(default_factory=tuple)


def check_send_request(cmd: SendCommand) -> None:
    """Raise ValidationFailed when the message object breaks a platform limit (nothing is written)."""
    if cmd.message_type == "template":
        if cmd.template is None:
            raise ValidationFailed([(("template",), "a template message needs template.name and language")])
        return
    errors = validate_outbound(cmd.message_type, cmd.content)
    if errors:
        raise ValidationFailed([(e.loc, e.msg) for e in errors])
    if cmd.on_closed is not OnClosed.REJECT and cmd.fallback is None:
        raise ValidationFailed(
            [(("fallback_template",), f"on_closed={cmd.on_closed.value} needs a fallback_template")]
        )
