"""Database tables (SQLAlchemy 2 declarative). Queries live in the per-aggregate modules beside this one.

Times are stored as timezone-aware UTC; SQLite hands them back naive, which ``UTCDateTime`` repairs.
Money is ``Numeric``; JSON columns hold what the platform sent us, untouched.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; carewindow stores UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER keys


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(none_as_null=True),  # None is SQL NULL, also through storage/bulk.py
        Decimal: Numeric(18, 6),
    }


class Contact(Base):
    """One customer of one business number, with the window/consent/re-engagement state."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("phone_number_id", "wa_id", name="uq_contacts_number_wa_id"),
        # The expiry sweeper and "closing soonest" lists walk this index: work per tick is
        # proportional to windows that are due, not to all contacts.
        Index("ix_contacts_window_expires_at", "window_expires_at"),
        Index("ix_contacts_last_activity_at", "last_activity_at"),
        # A customer addressed by the business-scoped user id (policy/addresses.py). On user_id alone:
        # led by phone_number_id, PostgreSQL's planner took it for the (number, wa_id) lookups.
        Index("ix_contacts_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone_number_id: Mapped[str] = mapped_column(String(64))
    wa_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(128))
    profile_name: Mapped[str | None] = mapped_column(String(256))
    last_inbound_at: Mapped[datetime | None]
    window_opened_at: Mapped[datetime | None]
    window_expires_at: Mapped[datetime | None]
    entry_point_at: Mapped[datetime | None]
    consent_status: Mapped[str] = mapped_column(String(16), default="unknown")
    consent_source: Mapped[str | None] = mapped_column(String(256))
    consent_proof: Mapped[str | None] = mapped_column(Text)
    consent_updated_at: Mapped[datetime | None]
    reengagement_count: Mapped[int] = mapped_column(Integer, default=0)
    reengagement_first_sent_at: Mapped[datetime | None]
    conversations: Mapped[list[Any] | None] = mapped_column(JSON)
    last_activity_at: Mapped[datetime | None]
    last_preview: Mapped[str | None] = mapped_column(String(200))
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    # Messages waiting for this customer to write (deferred): lets ingest skip the lookup when zero.
    held_count: Mapped[int] = mapped_column(Integer, default=0)
    open_ticket_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Marketing messages (user_preferences "stop"/"resume", a 131050): NULL = nothing heard.
    marketing_status: Mapped[str | None] = mapped_column(String(16))
    marketing_source: Mapped[str | None] = mapped_column(String(256))
    marketing_updated_at: Mapped[datetime | None]
    # Set when the contact was erased: the row stays as a tombstone without anything identifying.
    erased_at: Mapped[datetime | None]


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_recorded_at", "recorded_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(256))
    proof: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]  # when it happened, by its own clock (Meta's, the form's, ours)
    recorded_at: Mapped[datetime]  # when carewindow received it
    # "templates" (consent to templates) or "marketing" (user_preferences); NULL on older rows = templates.
    scope: Mapped[str | None] = mapped_column(String(16))
    # Whether it changed the contact's state (NULL on older rows: applied), and why or why not.
    applied: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """Inbound and outbound messages; outbound rows carry the predicted and the actual charge (the ledger)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_contact_ts", "contact_id", "ts", "seq"),
        Index("ix_messages_created_at", "created_at"),
        Index("ix_messages_ticket_id", "ticket_id"),
        Index("ix_messages_hold_until", "hold_until"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    wamid: Mapped[str | None] = mapped_column(String(256), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(16))  # session | template (outbound)
    status: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any] | None]
    text: Mapped[str | None] = mapped_column(Text)
    template_name: Mapped[str | None] = mapped_column(String(512))
    template_language: Mapped[str | None] = mapped_column(String(16))
    ticket_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(256), unique=True)
    on_closed: Mapped[str | None] = mapped_column(String(16))
    # A held message points at the template that was sent to re-engage in its place.
    knock_message_id: Mapped[str | None] = mapped_column(String(40))
    hold_until: Mapped[datetime | None]
    send_at: Mapped[datetime | None]
    # A scheduled message keeps its request here: it is decided when it is due, not when accepted.
    request: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_title: Mapped[str | None] = mapped_column(String(256))
    error_message: Mapped[str | None] = mapped_column(Text)
    ts: Mapped[datetime]  # customer's timestamp (inbound) or acceptance time (outbound)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    charge_billable: Mapped[bool | None] = mapped_column(Boolean)
    charge_category: Mapped[str | None] = mapped_column(String(32))
    charge_amount: Mapped[Decimal | None]
    charge_currency: Mapped[str | None] = mapped_column(String(8))
    charge_model: Mapped[str | None] = mapped_column(String(32))
    charge_market: Mapped[str | None] = mapped_column(String(8))
    charge_reason: Mapped[str | None] = mapped_column(String(64))
    # When the charge was decided (acceptance, or release of a held / scheduled message): the time the
    # ledger's replay prices the message at.
    charged_at: Mapped[datetime | None]
    actual_billable: Mapped[bool | None] = mapped_column(Boolean)
    actual_category: Mapped[str | None] = mapped_column(String(32))
    actual_model: Mapped[str | None] = mapped_column(String(16))
    actual_type: Mapped[str | None] = mapped_column(String(64))
    charge_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    # "app": a coexistence echo, sent from the WhatsApp Business app (free, window-neutral); None: ours.
    origin: Mapped[str | None] = mapped_column(String(16))


class MessageEvent(Base):
    """Status history; (message, status) is unique so a replayed status webhook changes nothing."""

    __tablename__ = "message_events"
    __table_args__ = (UniqueConstraint("message_seq", "status", name="uq_message_events_status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_seq: Mapped[int] = mapped_column(ForeignKey("messages.seq", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    error: Mapped[dict[str, Any] | None]


class Outbox(Base):
    """Work for the delivery worker; a row lives from acceptance until the provider answered for good."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_available_at", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_seq: Mapped[int] = mapped_column(ForeignKey("messages.seq", ondelete="CASCADE"), unique=True)
    phone_number_id: Mapped[str] = mapped_column(String(64))
    available_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    # Set just before the provider call, cleared by the commit that records its answer. Found set on a
    # reclaimed row, it marks the one gap in which a send may have happened without being recorded.
    in_flight_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class OrphanStatus(Base):
    """A status webhook that arrived before the send that caused it was recorded."""

    __tablename__ = "orphan_statuses"
    __table_args__ = (UniqueConstraint("wamid", "status", name="uq_orphan_statuses"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    wamid: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    # When it arrived (the database's clock): retention drops orphans that waited too long.
    received_at: Mapped[datetime | None] = mapped_column(server_default=func.now())


class WindowAlert(Base):
    """One row per window event emitted; the unique key makes every event go out once across workers."""

    __tablename__ = "window_alerts"
    __table_args__ = (UniqueConstraint("contact_id", "expires_at", "kind", name="uq_window_alerts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(24))  # expiring_60, expiring_15, closed
    emitted_at: Mapped[datetime]


class Subscription(Base):
    """An outgoing webhook endpoint of the business's own systems."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(JSON)
    # Kept in clear: it signs every delivery (the receiver holds the same secret).
    secret: Mapped[str] = mapped_column(String(256))
    phone_number_ids: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # The fan-out (docs/gateway.md): paused after repeated 4xx answers, until resumed.
    paused_at: Mapped[datetime | None]
    client_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookDelivery(Base):
    """One event for one subscription: written in the transaction that caused it, sent by the worker."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
        Index("ix_webhook_deliveries_order", "subscription_id", "order_key", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    give_up_at: Mapped[datetime]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    # A raw webhook's contacts (actions/fanout.py): delivered in order per subscription and key.
    order_key: Mapped[str | None] = mapped_column(String(200))


class WebhookRaw(Base):
    __tablename__ = "webhook_raw"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(LargeBinary)


class TemplateRow(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("name", "language", name="uq_templates_name_language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(64))  # Meta's word, kept even when unknown
    body: Mapped[str] = mapped_column(Text)
    header: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    # FLAGGED: when Meta disables it (disable_info.disable_date).
    disable_at: Mapped[datetime | None]
    # message_template_quality_update: GREEN | YELLOW | RED | UNKNOWN, and when.
    quality: Mapped[str | None] = mapped_column(String(16))
    # template_category_update: the category before the completed change, and when it completed;
    # an impending change's announced category and time.
    previous_category: Mapped[str | None] = mapped_column(String(32))
    category_changed_at: Mapped[datetime | None]
    impending_category: Mapped[str | None] = mapped_column(String(32))
    impending_category_at: Mapped[datetime | None]
    # A media header: image | video | document (Meta's IMAGE / VIDEO / DOCUMENT); None for text or none.
    header_format: Mapped[str | None] = mapped_column(String(16))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    phone_number_ids: Mapped[str | None] = mapped_column(Text)  # comma-separated; NULL = all
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class RateLimit(Base):
    """A token bucket per business number, shared by every worker through the database."""

    __tablename__ = "rate_limits"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float]
    updated_at: Mapped[datetime]


class RateRow(Base):
    """One imported rate card row; a message is priced by the row in force on its send date."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("market", "category", "valid_from", name="uq_rates_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    market: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    price: Mapped[Decimal]
    valid_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(256))
    imported_at: Mapped[datetime]


class ServiceUsage(Base):
    """Session messages accepted per business number and billing period (``meta_pmp_2026``'s allowance):
    incremented in the send transaction so pricing never counts the ledger."""

    __tablename__ = "service_usage"

    phone_number_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class MediaRow(Base):
    """One media file: an inbound message's (fetched from Meta by the worker: the row is its durable
    job while ``status`` is ``pending``) or an upload for outbound messages. The bytes live in the media
    store (``storage.media_store``) under ``storage_key``; docs/subsystems/media.md."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_due", "status", "next_attempt_at"),
        Index("ix_media_message_id", "message_id"),
        Index("ix_media_contact_id", "contact_id"),
        Index("ix_media_meta_media_id", "meta_media_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    message_id: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(16))  # image | audio | video | document | sticker
    meta_media_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # pending | ready | failed | refused
    mime_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))  # hex digest of the stored bytes
    meta_sha256: Mapped[str | None] = mapped_column(String(128))  # what Meta said (hex or base64)
    filename: Mapped[str | None] = mapped_column(String(512))
    storage_key: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    give_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


contacts: Table = cast(Table, Contact.__table__)
consent_events: Table = cast(Table, ConsentEvent.__table__)
messages: Table = cast(Table, Message.__table__)
message_events: Table = cast(Table, MessageEvent.__table__)
outbox: Table = cast(Table, Outbox.__table__)
webhook_raw: Table = cast(Table, WebhookRaw.__table__)
window_alerts: Table = cast(Table, WindowAlert.__table__)
subscriptions: Table = cast(Table, Subscription.__table__)
webhook_deliveries: Table = cast(Table, WebhookDelivery.__table__)
orphan_statuses: Table = cast(Table, OrphanStatus.__table__)
templates: Table = cast(Table, TemplateRow.__table__)
api_keys: Table = cast(Table, ApiKey.__table__)
rate_limits: Table = cast(Table, RateLimit.__table__)
rates: Table = cast(Table, RateRow.__table__)
service_usage: Table = cast(Table, ServiceUsage.__table__)
media: Table = cast(Table, MediaRow.__table__)
metadata = Base.metadata
