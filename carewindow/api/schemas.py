"""Request and response bodies of the /v1 API (Pydantic v2, at the HTTP edge only)."""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carewindow.policy.addresses import normalise_address

MESSAGE_TYPES = Literal[
    "text",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
    "template",
]


@functools.lru_cache(maxsize=16384)  # a phone-number parse per request was ~2 % of the send path
def normalise_wa_id(value: str) -> str:
    """A wa_id or user id as Meta sent it; a typed number (``+``, spaces, dashes) -> wa_id digits
    (policy/addresses.py, docs/rules.md "Addressing a customer")."""
    return normalise_address(value)


WaId = Annotated[str, Field(min_length=7, max_length=20, examples=["34600111222"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateSpec(Strict):
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: list[str] | dict[str, str] = Field(default_factory=list)
    header: dict[str, Any] | None = Field(
        default=None,
        description='a media header\'s file, as Meta takes it: {"type": "image", "image": {"id": "<id from '
        'POST /v1/media>"}} (or "link"; video, document with an optional "filename")',
    )


class ContextSpec(Strict):
    message_id: str


class MessageCreate(BaseModel):
    """``POST /v1/messages``: a Cloud API style message plus carewindow's delivery options."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(examples=["+34600111222"])
    type: MESSAGE_TYPES
    text: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    video: dict[str, Any] | None = None
    sticker: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    interactive: dict[str, Any] | None = None
    reaction: dict[str, Any] | None = None
    template: TemplateSpec | None = None
    context: ContextSpec | None = None
    on_closed: Literal["reject", "template", "defer"] = "reject"
    fallback_template: TemplateSpec | None = None
    ticket_id: str | None = Field(default=None, max_length=128)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=256)
    phone_number_id: str | None = Field(default=None, max_length=64)
    send_at: datetime | None = Field(default=None, description="schedule: decided and sent at this time")
    purpose: Literal["auto", "reengagement", "notification"] = Field(
        default="auto",
        description="a template while the window is closed: re-engagement counts against the limit, a "
        "notification does not; auto decides (docs/rules.md, Re-engagement and notifications)",
    )

    @field_validator("send_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2026-11-25T10:00:00Z")
        return v

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        return normalise_wa_id(v)

    def content(self) -> Any:
        return getattr(self, self.type)


class Charge(BaseModel):
    billable: bool | None
    category: str | None
    amount: Decimal | None
    currency: str | None
    pricing_model: str | None
    market: str | None = None
    reason: str | None = None


class ActualCharge(BaseModel):
    billable: bool | None
    category: str | None
    pricing_model: str | None
    type: str | None
    mismatch: bool


class WindowPublic(BaseModel):
    wa_id: str
    state: Literal["open", "closed"]
    opened_at: datetime | None
    expires_at: datetime | None
    seconds_left: int
    last_inbound_at: datetime | None
    entry_point_expires_at: datetime | None = None
    reengagement: dict[str, int]
    consent: dict[str, Any]
    held: list[dict[str, Any]] = Field(default_factory=list)
    scheduled: list[dict[str, Any]] = Field(default_factory=list)


class StatusEntry(BaseModel):
    status: str
    at: datetime
    error: dict[str, Any] | None = None


class MessagePublic(BaseModel):
    id: str
    direction: Literal["in", "out"]
    to: str | None = None
    wa_id: str
    type: str
    kind: str | None
    status: str
    text: str | None
    wamid: str | None
    template: dict[str, Any] | None = None
    ticket_id: str | None
    timestamp: datetime
    created_at: datetime
    charge: Charge | None = None
    actual_charge: ActualCharge | None = None
    error: dict[str, Any] | None = None
    content: dict[str, Any] | None = None
    fallback_message_id: str | None = None
    origin: str | None = Field(default=None, description='"app": sent from the WhatsApp Business app')
    knock_message_id: str | None = None
    hold_until: datetime | None = None
    send_at: datetime | None = None
    history: list[StatusEntry] | None = None
    window: WindowPublic | None = None
    # The file of an image, audio, video, document or sticker message (docs/subsystems/media.md):
    # {id, url, mime_type, size, sha256, filename, status, reason}; url needs a key or an inbox session.
    media: dict[str, Any] | None = None


class MessageList(BaseModel):
    data: list[MessagePublic]
    next_before: str | None


class ConsentUpdate(Strict):
    status: Literal["opted_in", "opted_out"]
    source: str = Field(min_length=1, max_length=256)
    proof: str | None = Field(default=None, max_length=10_000)
    at: datetime | None = None


class ConsentPublic(BaseModel):
    wa_id: str
    status: str
    source: str | None
    proof: str | None
    updated_at: datetime | None
    history: list[dict[str, Any]]
    #: Marketing messages: "opted_out" after a user_preferences "stop" (or a 131050), "opted_in" after
    #: "resume", "unknown" when Meta never said.
    marketing: dict[str, Any] | None = None
    #: The newest opt-out that did not apply (an opt-in provably later superseded it), if any.
    superseded_opt_out: dict[str, Any] | None = None


class TemplateButtonSpec(Strict):
    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER"] = "QUICK_REPLY"
    text: str = Field(min_length=1, max_length=25)
    url: str | None = None
    phone_number: str | None = None


class TemplateCreate(Strict):
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=16)
    category: Literal["marketing", "utility", "authentication", "MARKETING", "UTILITY", "AUTHENTICATION"]
    body: str = Field(min_length=1, max_length=1024)
    header: str | None = Field(default=None, max_length=60)
    header_format: Literal["TEXT", "IMAGE", "VIDEO", "DOCUMENT"] | None = Field(
        default=None, description="IMAGE, VIDEO or DOCUMENT for a media header (then no header text)"
    )
    footer: str | None = Field(default=None, max_length=60)
    buttons: list[TemplateButtonSpec] = Field(default_factory=list, max_length=10)
    examples: list[str] | dict[str, str] | None = None


class TemplateUpdate(Strict):
    category: Literal["marketing", "utility", "authentication"] | None = None
    status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] | None = None
    body: str | None = Field(default=None, min_length=1, max_length=1024)
    header: str | None = Field(default=None, max_length=60)
    footer: str | None = Field(default=None, max_length=60)


class TemplatePublic(BaseModel):
    name: str
    language: str
    category: str
    status: str
    body: str
    header: str | None
    header_format: str | None = Field(
        default=None, description="IMAGE, VIDEO or DOCUMENT: a send needs template.header naming the file"
    )
    footer: str | None
    buttons: list[dict[str, Any]]
    parameter_format: str | None
    placeholders: list[str]
    reason: str | None = None
    updated_at: datetime
    # issue 23: FLAGGED's disable date, Meta's quality score, category changes, and what to look at.
    disable_at: datetime | None = None
    quality: str | None = None
    previous_category: str | None = None
    category_changed_at: datetime | None = None
    impending_category: str | None = None
    impending_category_at: datetime | None = None
    alert: str | None = Field(default=None, description="what changed that makes it dearer or riskier")


class ConversationPublic(BaseModel):
    wa_id: str
    phone_number_id: str
    profile_name: str | None
    last_preview: str | None
    last_activity_at: datetime | None
    unread_count: int
    open_ticket_id: str | None
    window: WindowPublic


class ConversationList(BaseModel):
    data: list[ConversationPublic]
    next_offset: int | None


SUBSCRIPTION_EVENTS = Literal[
    "message.received",
    "message.status",
    "message.held",
    "message.released",
    "message.expired",
    "window.opened",
    "window.expiring",
    "window.closed",
    "consent.changed",
    "allowance.threshold",
    "whatsapp.webhook",  # every Meta webhook body as Meta sent it (docs/gateway.md)
    "message.echo",
    "template.category_changed",
    "template.quality_changed",
]


class SubscriptionCreate(Strict):
    url: str = Field(
        min_length=8, max_length=2048, pattern=r"^https?://", examples=["https://crm.example/hooks/wa"]
    )
    events: list[SUBSCRIPTION_EVENTS] = Field(min_length=1)
    secret: str = Field(min_length=16, max_length=256, description="signs each delivery (HMAC-SHA256)")
    phone_number_ids: list[str] | None = None
    fields: list[str] | None = Field(
        default=None,
        description="with whatsapp.webhook: only webhooks of these Graph change fields (e.g. messages)",
    )
    verify: bool = Field(
        default=False,
        description="with whatsapp.webhook: run Meta's hub.challenge handshake against the URL first "
        "(hub.verify_token = the secret); 422 when the receiver does not echo the challenge",
    )


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    phone_number_ids: list[str] | None
    created_at: datetime
    paused_at: datetime | None = Field(
        default=None, description="a fan-out receiver that answered 4xx repeatedly; resume to deliver"
    )


class TicketNotify(Strict):
    to: str
    text: str = Field(min_length=1, max_length=4096)
    template: TemplateSpec | None = Field(
        default=None,
        description="re-engagement template; default ticket_update with the ticket id as parameter",
    )
    language: str | None = Field(
        default=None,
        min_length=2,
        max_length=16,
        description="language of the default ticket_update template; default: the customer's known "
        "language, else the template's single sendable language, else CAREWINDOW_TICKET_TEMPLATE_LANGUAGE",
    )

    @field_validator("to")
    @classmethod
    def _to(cls, v: str) -> str:
        return normalise_wa_id(v)


class KeyCreate(Strict):
    role: Literal["admin", "agent", "integration"]
    name: str | None = Field(default=None, max_length=128)
    phone_number_ids: list[str] | None = None


class KeyPublic(BaseModel):
    id: int
    name: str | None
    prefix: str
    role: str
    phone_number_ids: list[str] | None
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None  # only in the answer that created it
