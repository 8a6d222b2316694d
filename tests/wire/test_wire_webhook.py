"""wire.webhook: recorded payloads, error reasons, builders round-tripping through us and pywa."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pywa.client import WhatsApp
from pywa.types.base_update import RawUpdate
from pywa.types.message import Message
from pywa.types.message_status import MessageStatus
from pywa.types.templates import TemplateStatusUpdate as PywaTemplateStatusUpdate

from carewindow.wire.errors import WebhookFormatError
from carewindow.wire.graph_errors import webhook_error
from carewindow.wire.webhook import (
    STATUS_RANK,
    DeliveryStatus,
    InboundMessage,
    MessageType,
    StatusUpdate,
    WebhookBatch,
    build_message_webhook,
    build_status_webhook,
    build_template_status_webhook,
    parse_webhook,
    status_rank,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
T0 = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
CUST = "34600111222"


def load(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


# fixture -> (messages, statuses, template updates, other), then attributes of the first item.
EXPECTED: dict[str, tuple[tuple[int, int, int, int], dict[str, Any]]] = {
    "messages__text": ((1, 0, 0, 0), {"type": MessageType.TEXT, "text": "Hola, ¿tenéis la talla M? 👕"}),
    "messages__image": ((1, 0, 0, 0), {"type": MessageType.IMAGE, "text": "Así llegó el paquete"}),
    "messages__document": ((1, 0, 0, 0), {"type": MessageType.DOCUMENT, "text": "factura-2025-07.pdf"}),
    "messages__audio": ((1, 0, 0, 0), {"type": MessageType.AUDIO, "text": None}),
    "messages__sticker": ((1, 0, 0, 0), {"type": MessageType.STICKER, "text": None}),
    "messages__interactive_button_reply": (
        (1, 0, 0, 0),
        {
            "type": MessageType.INTERACTIVE,
            "text": "Sí, confirmar",
            "context_wamid": "wamid.HBgLMzQ2MDAxMTEyMjIVAgARGBIQkFTRTY0MDAwMDAxAA==",
        },
    ),
    "messages__interactive_list_reply": (
        (1, 0, 0, 0),
        {"type": MessageType.INTERACTIVE, "text": "Martes 09:30"},
    ),
    "messages__interactive_nfm_reply": ((1, 0, 0, 0), {"type": MessageType.INTERACTIVE, "text": "Sent"}),
    "messages__button": ((1, 0, 0, 0), {"type": MessageType.BUTTON, "text": "Parar promociones"}),
    "messages__reaction": ((1, 0, 0, 0), {"type": MessageType.REACTION, "text": "❤️"}),
    "messages__reaction_removed": ((1, 0, 0, 0), {"type": MessageType.REACTION, "text": None}),
    "messages__location": ((1, 0, 0, 0), {"type": MessageType.LOCATION, "text": "Tienda Gran Vía"}),
    "messages__contacts": ((1, 0, 0, 0), {"type": MessageType.CONTACTS, "text": "Marta Gómez"}),
    "messages__order": ((1, 0, 0, 0), {"type": MessageType.ORDER, "text": "Quiero estos dos"}),
    "messages__system": ((1, 0, 0, 0), {"type": MessageType.SYSTEM}),
    "messages__unsupported": ((1, 0, 0, 0), {"type": MessageType.UNSUPPORTED, "text": None}),
    # A type Meta may add tomorrow: parsed, typed UNKNOWN, the raw type and object kept.
    "messages__unknown_type": (
        (1, 0, 0, 0),
        {"type": MessageType.UNKNOWN, "raw_type": "hologram", "text": None},
    ),
    "messages__request_welcome": ((1, 0, 0, 0), {"type": MessageType.REQUEST_WELCOME, "text": None}),
    "messages__referral": ((1, 0, 0, 0), {"type": MessageType.TEXT, "context_wamid": None}),
    "messages__reply_context": ((1, 0, 0, 0), {"text": "Vale, gracias"}),
    "messages__bsuid": ((1, 0, 0, 0), {"wa_id": CUST, "user_id": "ES.13491208655302741918"}),
    # 2026 username users: no `from`, only the business-scoped id.
    "messages__username_only": (
        (1, 0, 0, 0),
        {"wa_id": "", "user_id": "ES.88812345678901234567", "profile_name": "Dani"},
    ),
    "messages__value_errors": ((0, 0, 0, 1), {"field": "messages"}),
    # Issue 23: wa_ids that are not possible phone numbers for phonenumbers, stored as sent.
    "messages__text_mexico_521": ((1, 0, 0, 0), {"wa_id": "5214428968441", "type": MessageType.TEXT}),
    "messages__text_argentina_549": ((1, 0, 0, 0), {"wa_id": "5491123456789", "type": MessageType.TEXT}),
    # Meta's documented location example has no "type": inferred from the one content key.
    "messages__location_untyped": (
        (1, 0, 0, 0),
        {"type": MessageType.LOCATION, "raw_type": "location", "text": "Tienda Gran Vía"},
    ),
    "statuses__sent": ((0, 1, 0, 0), {"status": DeliveryStatus.SENT, "pricing": None, "conversation": None}),
    "statuses__delivered": ((0, 1, 0, 0), {"status": DeliveryStatus.DELIVERED}),
    "statuses__read": ((0, 1, 0, 0), {"status": DeliveryStatus.READ}),
    "statuses__played": ((0, 1, 0, 0), {"status": DeliveryStatus.PLAYED}),
    "statuses__unknown_status": ((0, 1, 0, 0), {"status": DeliveryStatus.UNKNOWN}),
    "statuses__failed_131047": ((0, 1, 0, 0), {"status": DeliveryStatus.FAILED}),
    "statuses__failed_131026": (
        (0, 1, 0, 0),
        {"status": DeliveryStatus.FAILED, "recipient_id": "34600000000"},
    ),
    "statuses__sent_with_pricing_pmp": ((0, 1, 0, 0), {"status": DeliveryStatus.SENT}),
    "statuses__sent_free_entry_point": ((0, 1, 0, 0), {"status": DeliveryStatus.SENT}),
    "statuses__delivered_free_customer_service": ((0, 1, 0, 0), {"status": DeliveryStatus.DELIVERED}),
    "statuses__delivered_general_purpose_ai": ((0, 1, 0, 0), {"status": DeliveryStatus.DELIVERED}),
    "statuses__delivered_cbp_conversation": ((0, 1, 0, 0), {"status": DeliveryStatus.DELIVERED}),
    "statuses__sent_cbp_conversation_expiration": ((0, 1, 0, 0), {"status": DeliveryStatus.SENT}),
    "statuses__read_bsuid": ((0, 1, 0, 0), {"recipient_user_id": "ES.13491208655302741918"}),
    "message_template_status_update__approved": (
        (0, 0, 1, 0),
        {"event": "APPROVED", "template_id": "1043256783422131", "name": "ticket_update", "reason": None},
    ),
    "message_template_status_update__paused": (
        (0, 0, 1, 0),
        {"event": "PAUSED", "name": "summer_sale", "language": "es", "category": "MARKETING"},
    ),
    "message_template_status_update__rejected": (
        (0, 0, 1, 0),
        {"event": "REJECTED", "reason": "INCORRECT_CATEGORY", "language": "en_US"},
    ),
    "message_template_status_update__disabled": ((0, 0, 1, 0), {"event": "DISABLED"}),
    "message_template_status_update__flagged": (
        (0, 0, 1, 0),
        {"event": "FLAGGED", "disable_at": datetime(2026, 12, 9, 2, 0, tzinfo=UTC)},
    ),
    "message_template_status_update__locked": ((0, 0, 1, 0), {"event": "LOCKED", "disable_at": None}),
    "message_template_quality_update__yellow": ((0, 0, 0, 1), {"field": "message_template_quality_update"}),
    "user_preferences__stop": ((0, 0, 0, 1), {"field": "user_preferences"}),
    "message_template_quality_update__red": ((0, 0, 0, 1), {"field": "message_template_quality_update"}),
    # The 2026 fields stay in `other` here; wire.platform_changes reads them (test_wire_platform_changes.py).
    "smb_message_echoes__text": ((0, 0, 0, 1), {"field": "smb_message_echoes"}),
    "smb_message_echoes__edit": ((0, 0, 0, 1), {"field": "smb_message_echoes"}),
    "smb_message_echoes__revoke": ((0, 0, 0, 1), {"field": "smb_message_echoes"}),
    "smb_message_echoes__image": ((0, 0, 0, 1), {"field": "smb_message_echoes"}),
    "smb_message_echoes__document": ((0, 0, 0, 1), {"field": "smb_message_echoes"}),
    "template_category_update__impending": ((0, 0, 0, 1), {"field": "template_category_update"}),
    "template_category_update__completed": ((0, 0, 0, 1), {"field": "template_category_update"}),
    "user_preferences__resume": ((0, 0, 0, 1), {"field": "user_preferences"}),
    "batched__two_messages": ((2, 0, 0, 0), {"text": "primero", "profile_name": "Lucía Pérez"}),
    "batched__mixed": ((1, 2, 1, 0), {"text": "¿Seguís ahí?"}),
}


def first(batch: WebhookBatch) -> object:
    for group in (batch.messages, batch.statuses, batch.template_updates, batch.other):
        if group:
            return group[0]
    raise AssertionError("empty batch")


def test_every_fixture_has_expectations() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_payload_parses(name: str) -> None:
    counts, attrs = EXPECTED[name]
    batch = parse_webhook(load(name))
    got = (len(batch.messages), len(batch.statuses), len(batch.template_updates), len(batch.other))
    assert got == counts
    item = first(batch)
    for attr, want in attrs.items():
        assert getattr(item, attr) == want, attr
    doc: dict[str, Any] = orjson.loads(load(name))
    for m in batch.messages:
        assert m.phone_number_id == "106540352242922"
        assert m.display_phone_number == "15550783881"
        assert m.waba_id == doc["entry"][0]["id"]
        assert m.timestamp.tzinfo is UTC
        assert m.timestamp >= T0
        assert m.raw in [
            msg for e in doc["entry"] for c in e["changes"] for msg in c["value"].get("messages", [])
        ]
    for s in batch.statuses:
        assert s.timestamp.tzinfo is UTC
        assert s.raw["id"] == s.wamid


def test_text_message_fields() -> None:
    (m,) = parse_webhook(load("messages__text")).messages
    assert m == InboundMessage(
        wamid="wamid.HBgLMzQ2MDAxMTEyMjIVAgASGBQzQUJDMTIzNDU2Nzg5AA==",
        wa_id=CUST,
        phone_number_id="106540352242922",
        display_phone_number="15550783881",
        timestamp=T0,
        type=MessageType.TEXT,
        text="Hola, ¿tenéis la talla M? 👕",
        profile_name="Lucía Pérez",
        waba_id="102290129340398",
        raw_type="text",
    )
    assert m.raw["text"] == {"body": "Hola, ¿tenéis la talla M? 👕"}


def test_unknown_type_keeps_raw_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="carewindow.wire.webhook"):
        (m,) = parse_webhook(load("messages__unknown_type")).messages
        parse_webhook(load("messages__unknown_type"))
    assert m.raw["hologram"] == {"id": "55501", "shape": "cube"}
    assert sum("hologram" in r.getMessage() for r in caplog.records) <= 1


def test_referral_is_kept_for_free_entry_point() -> None:
    (m,) = parse_webhook(load("messages__referral")).messages
    assert m.referral is not None
    assert m.referral["source_type"] == "ad"
    assert str(m.referral["ctwa_clid"]).startswith("ARAk")


def test_batched_messages_get_their_own_contact() -> None:
    a, b = parse_webhook(load("batched__two_messages")).messages
    assert (a.wa_id, a.profile_name) == (CUST, "Lucía Pérez")
    assert (b.wa_id, b.profile_name, b.text) == ("447700900123", "Jon", "second")


def test_failed_status_errors() -> None:
    (s,) = parse_webhook(load("statuses__failed_131047")).statuses
    (e,) = s.errors
    assert e.code == 131047
    assert e.title == "Re-engagement message"
    assert e.details.startswith("Message failed to send because more than 24 hours")
    assert s.pricing is None


def test_pricing_pmp_and_cbp() -> None:
    (pmp,) = parse_webhook(load("statuses__sent_with_pricing_pmp")).statuses
    assert pmp.pricing is not None
    assert (pmp.pricing.billable, pmp.pricing.pricing_model, pmp.pricing.category, pmp.pricing.type) == (
        True,
        "PMP",
        "marketing",
        "regular",
    )
    (fcs,) = parse_webhook(load("statuses__delivered_free_customer_service")).statuses
    assert fcs.pricing is not None
    assert (fcs.pricing.billable, fcs.pricing.category, fcs.pricing.type) == (
        False,
        "service",
        "free_customer_service",
    )
    (ai,) = parse_webhook(load("statuses__delivered_general_purpose_ai")).statuses
    assert ai.pricing is not None and (ai.pricing.category, ai.pricing.type) == (
        "general_purpose_ai",
        "regular",
    )
    (cbp,) = parse_webhook(load("statuses__delivered_cbp_conversation")).statuses
    assert cbp.pricing is not None and cbp.pricing.type is None and cbp.pricing.pricing_model == "CBP"
    assert cbp.conversation is not None
    assert (cbp.conversation.id, cbp.conversation.origin_type, cbp.conversation.expiration_timestamp) == (
        "a75d17ad06104c51166f948319b03c6a",
        "utility",
        None,
    )
    (sent,) = parse_webhook(load("statuses__sent_cbp_conversation_expiration")).statuses
    assert sent.conversation is not None
    assert sent.conversation.expiration_timestamp == datetime(2024, 6, 2, 10, 0, tzinfo=UTC)
    (fep,) = parse_webhook(load("statuses__sent_free_entry_point")).statuses
    assert (
        fep.pricing is not None and fep.pricing.type == "free_entry_point" and fep.pricing.billable is False
    )


def test_billable_falls_back_to_pricing_type() -> None:
    body = build_status_webhook(
        waba_id="1",
        phone_number_id="2",
        display_phone_number="3",
        wamid="wamid.A",
        status="sent",
        timestamp=1,
        recipient_id=CUST,
        pricing={"pricing_model": "PMP", "category": "utility", "type": "regular"},
    )
    (s,) = parse_webhook(orjson.dumps(body)).statuses
    assert s.pricing is not None and s.pricing.billable is True


def test_status_rank_orders_progress_and_keeps_failures() -> None:
    order = ["sent", "delivered", "read", "played"]
    ranks = [status_rank(s) for s in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert status_rank("failed") > status_rank("read")
    assert status_rank(DeliveryStatus.UNKNOWN) == 0
    assert status_rank("some_new_status") == 0
    assert set(STATUS_RANK) == set(DeliveryStatus)


# ------------------------------------------------------------------------------------ malformed


def _msg_doc(**message_overrides: object) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(load("messages__text"))
    msg = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    for k, v in message_overrides.items():
        if v is None:
            msg.pop(k)
        else:
            msg[k] = v
    return doc


_MSG = "entry[0].changes[0].value.messages[0]"

MALFORMED: list[tuple[str, bytes | dict[str, Any], str]] = [
    ("not json", b"{nope", "body is not valid JSON"),
    ("empty body", b"", "body is not valid JSON"),
    ("invalid utf-8", b'{"object": "\xff"}', "body is not valid JSON"),
    ("array", b"[]", "body is a JSON array, not an object"),
    ("string", b'"whatsapp"', "body is a JSON string, not an object"),
    (
        "other object",
        {"object": "page", "entry": []},
        "object is 'page', expected 'whatsapp_business_account'",
    ),
    ("missing object", {"entry": []}, "object is None"),
    ("deep object", b'{"object": ' + b"[" * 1000 + b"]" * 1000 + b"}", "object is a JSON array"),
    ("entry not list", {"object": "whatsapp_business_account", "entry": {}}, "entry is not a list"),
    ("entry item", {"object": "whatsapp_business_account", "entry": [1]}, "entry[0] is not an object"),
    (
        "changes missing",
        {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
        "entry[0].changes is not a list",
    ),
    (
        "change not object",
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": ["x"]}]},
        "entry[0].changes[0] is not an object",
    ),
    (
        "field missing",
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"value": {}}]}]},
        "entry[0].changes[0].field is not a string",
    ),
    (
        "value not object",
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": []}]}]},
        "entry[0].changes[0].value is not an object",
    ),
    ("no id", _msg_doc(id=None), f"{_MSG}.id is missing or not a string"),
    ("numeric id", _msg_doc(id=5), f"{_MSG}.id is missing or not a string"),
    ("no from", _msg_doc(**{"from": None}), f"{_MSG}.from is missing or not a string"),
    ("no timestamp", _msg_doc(timestamp=None), f"{_MSG}.timestamp is not a Unix time"),
    ("word timestamp", _msg_doc(timestamp="yesterday"), f"{_MSG}.timestamp is not a Unix time"),
    ("float timestamp", _msg_doc(timestamp="1751364000.5"), f"{_MSG}.timestamp is not a Unix time"),
    ("bool timestamp", _msg_doc(timestamp=True), f"{_MSG}.timestamp is not a Unix time"),
    ("huge timestamp", _msg_doc(timestamp=10**15), f"{_MSG}.timestamp is out of range"),
    ("message not object", _msg_doc(), ""),  # replaced below
]


def _second_message_bad() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(load("batched__two_messages"))
    doc["entry"][0]["changes"][0]["value"]["messages"][1]["timestamp"] = "soon"
    return doc


def _no_metadata() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(load("statuses__sent"))
    del doc["entry"][0]["changes"][0]["value"]["metadata"]
    return doc


def _status_without_status() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(load("statuses__sent"))
    del doc["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
    return doc


def _template_without_name() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(load("message_template_status_update__paused"))
    del doc["entry"][0]["changes"][0]["value"]["message_template_name"]
    return doc


MALFORMED[-1] = (
    "second message timestamp",
    _second_message_bad(),
    "entry[0].changes[0].value.messages[1].timestamp is not a Unix time",
)
MALFORMED += [
    ("no metadata", _no_metadata(), "entry[0].changes[0].value.metadata is not an object"),
    (
        "status without status",
        _status_without_status(),
        "value.statuses[0].status is missing or not a string",
    ),
    ("template without name", _template_without_name(), "value.message_template_name is missing"),
]


@pytest.mark.parametrize(
    ("body", "reason"), [(b, r) for _, b, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed_payload_reason(body: bytes | dict[str, Any], reason: str) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(WebhookFormatError) as info:
        parse_webhook(raw)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_numeric_timestamp_and_ids_are_tolerated() -> None:
    doc = _msg_doc(timestamp=1751364000)
    doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = 106540352242922
    (m,) = parse_webhook(orjson.dumps(doc)).messages
    assert m.timestamp == T0 and m.phone_number_id == "106540352242922"


def test_unknown_fields_and_empty_batch() -> None:
    doc: dict[str, Any] = orjson.loads(load("messages__text"))
    doc["entry"][0]["changes"][0]["value"]["brand_new_thing"] = {"x": 1}
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["brand_new_field"] = [1, 2]
    assert len(parse_webhook(orjson.dumps(doc)).messages) == 1
    assert parse_webhook(b'{"object": "whatsapp_business_account", "entry": []}') == WebhookBatch()


# ------------------------------------------------------------------------------------- builders

COMMON: dict[str, Any] = {
    "waba_id": "102290129340398",
    "phone_number_id": "106540352242922",
    "display_phone_number": "15550783881",
}


@pytest.mark.parametrize(
    ("message_type", "content", "text"),
    [
        ("text", {"body": "¿Hola? 👋"}, "¿Hola? 👋"),
        ("image", {"id": "1", "mime_type": "image/jpeg", "sha256": "x", "caption": "foto"}, "foto"),
        ("interactive", {"type": "button_reply", "button_reply": {"id": "y", "title": "Sí"}}, "Sí"),
        ("button", {"payload": "P", "text": "Vale"}, "Vale"),
        ("reaction", {"message_id": "wamid.Z", "emoji": "👍"}, "👍"),
        ("location", {"latitude": 1.5, "longitude": 2.5, "name": "Aquí"}, "Aquí"),
        ("contacts", [{"name": {"formatted_name": "Ana"}, "phones": []}], "Ana"),
    ],
)
def test_message_builder_round_trips(message_type: str, content: Any, text: str) -> None:
    body = build_message_webhook(
        **COMMON,
        wa_id=CUST,
        profile_name="Lucía",
        wamid="wamid.B1",
        timestamp=1751364000,
        message_type=message_type,
        content=content,
        context_wamid="wamid.CTX",
        referral={"source_type": "ad", "source_id": "9"},
    )
    (m,) = parse_webhook(orjson.dumps(body)).messages
    assert (m.wamid, m.wa_id, m.profile_name, m.timestamp) == ("wamid.B1", CUST, "Lucía", T0)
    assert (m.type.value, m.text, m.context_wamid) == (message_type, text, "wamid.CTX")
    assert m.referral == {"source_type": "ad", "source_id": "9"}
    assert m.phone_number_id == COMMON["phone_number_id"]


def _pywa() -> WhatsApp:
    return WhatsApp(phone_id=COMMON["phone_number_id"], token="test-token")


def _raw_update(doc: dict[str, object]) -> RawUpdate:
    return RawUpdate(orjson.dumps(doc), hmac_header=None, update_hash="test")


def test_message_builder_is_parsed_by_pywa() -> None:
    # pywa 4.5 reads the 2026 business-scoped id from contacts, so pass one.
    body = build_message_webhook(
        **COMMON,
        wa_id=CUST,
        profile_name="Lucía",
        wamid="wamid.P1",
        timestamp=1751364000,
        content={"body": "hola"},
        context_wamid="wamid.CTX",
        referral={
            "source_url": "u",
            "source_id": "1",
            "source_type": "ad",
            "headline": "h",
            "body": "b",
            "media_type": "image",
            "image_url": "i",
        },
        user_id="ES.1234",
    )
    msg = Message.from_update(_pywa(), _raw_update(body))
    assert (msg.id, msg.text, msg.timestamp) == ("wamid.P1", "hola", T0)
    assert (msg.from_user.wa_id, msg.from_user.name, msg.from_user.bsuid) == (CUST, "Lucía", "ES.1234")
    assert msg.reply_to_message is not None and msg.reply_to_message.id == "wamid.CTX"
    assert msg.referral is not None and msg.referral.source_type == "ad"
    assert msg.metadata.phone_number_id == COMMON["phone_number_id"]
    (ours,) = parse_webhook(orjson.dumps(body)).messages
    assert ours.user_id == "ES.1234"


def test_status_builder_round_trips_and_is_parsed_by_pywa() -> None:
    body = build_status_webhook(
        **COMMON,
        wamid="wamid.S1",
        status="failed",
        timestamp=1751364000,
        recipient_id=CUST,
        errors=[webhook_error(131047, "more than 24 hours")],
        recipient_user_id="ES.1234",
    )
    (s,) = parse_webhook(orjson.dumps(body)).statuses
    assert s == StatusUpdate(
        wamid="wamid.S1",
        status=DeliveryStatus.FAILED,
        timestamp=T0,
        recipient_id=CUST,
        recipient_user_id="ES.1234",
        phone_number_id=COMMON["phone_number_id"],
        display_phone_number=COMMON["display_phone_number"],
        waba_id=COMMON["waba_id"],
        errors=s.errors,
    )
    assert (s.errors[0].code, s.errors[0].title, s.errors[0].details) == (
        131047,
        "Re-engagement message",
        "more than 24 hours",
    )
    theirs = MessageStatus.from_update(_pywa(), _raw_update(body))
    assert theirs.status.value == "failed" and theirs.id == "wamid.S1"
    assert theirs.error is not None and theirs.error.code == 131047
    assert type(theirs.error).__name__ == "ReEngagementMessage"


def test_status_builder_with_pricing_and_conversation() -> None:
    body = build_status_webhook(
        **COMMON,
        wamid="wamid.S2",
        status="sent",
        timestamp=1751364000,
        recipient_id=CUST,
        pricing={"billable": True, "pricing_model": "CBP", "category": "utility"},
        conversation={"id": "c1", "expiration_timestamp": "1751450400", "origin": {"type": "utility"}},
        recipient_user_id="ES.1",
    )
    (s,) = parse_webhook(orjson.dumps(body)).statuses
    assert s.pricing is not None and s.pricing.category == "utility"
    assert s.conversation is not None and s.conversation.origin_type == "utility"
    assert s.conversation.expiration_timestamp == datetime(2025, 7, 2, 10, 0, tzinfo=UTC)
    theirs = MessageStatus.from_update(_pywa(), _raw_update(body))
    assert theirs.pricing is not None and theirs.pricing.category.value == "utility"
    assert theirs.conversation is not None and theirs.conversation.id == "c1"


def test_status_builder_without_user_id_has_no_contacts() -> None:
    body = build_status_webhook(
        **COMMON, wamid="wamid.S3", status="read", timestamp=1751364000, recipient_id=CUST
    )
    value = body["entry"][0]["changes"][0]["value"]  # type: ignore[index]
    assert "contacts" not in value
    assert value["statuses"][0] == {
        "id": "wamid.S3",
        "status": "read",
        "timestamp": "1751364000",
        "recipient_id": CUST,
    }


def test_template_status_builder_round_trips_and_is_parsed_by_pywa() -> None:
    body = build_template_status_webhook(
        waba_id="102290129340398",
        template_id="1043256783422132",
        name="summer_sale",
        language="es",
        event="PAUSED",
        timestamp=1751364000,
        category="MARKETING",
    )
    (t,) = parse_webhook(orjson.dumps(body)).template_updates
    assert (t.event, t.template_id, t.name, t.language, t.reason, t.category) == (
        "PAUSED",
        "1043256783422132",
        "summer_sale",
        "es",
        None,
        "MARKETING",
    )
    theirs = PywaTemplateStatusUpdate.from_update(_pywa(), _raw_update(body))
    assert theirs.template_id == "1043256783422132" and theirs.new_status.value == "PAUSED"
    assert theirs.timestamp == T0


def test_recorded_bsuid_payloads_parse_in_pywa() -> None:
    msg = Message.from_update(_pywa(), _raw_update(orjson.loads(load("messages__bsuid"))))
    assert msg.from_user.bsuid == "ES.13491208655302741918"
    st = MessageStatus.from_update(_pywa(), _raw_update(orjson.loads(load("statuses__read_bsuid"))))
    assert st.status.value == "read"
