"""wire.messages: platform limits at and past each edge, Send API bodies and answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import pytest

from carewindow.wire.errors import SendResponseFormatError
from carewindow.wire.messages import (
    OUTBOUND_TYPES,
    FieldError,
    build_mark_read_body,
    build_send_body,
    build_send_response,
    parse_send_response,
    validate_outbound,
)


def locs(errors: list[FieldError]) -> list[tuple[str | int, ...]]:
    return [e.loc for e in errors]


def buttons(n: int, title_len: int = 5) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "¿Confirmas?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": f"{i}".ljust(title_len, "x")}}
                for i in range(n)
            ]
        },
    }


def list_message(sections: int, rows_per_section: int, **row: str) -> dict[str, Any]:
    return {
        "type": "list",
        "body": {"text": "Elige hora"},
        "action": {
            "button": "Horas",
            "sections": [
                {
                    "title": f"Día {s}",
                    "rows": [
                        {
                            "id": f"r{s}-{r}",
                            "title": row.get("title", "09:30"),
                            **{k: v for k, v in row.items() if k != "title"},
                        }
                        for r in range(rows_per_section)
                    ],
                }
                for s in range(sections)
            ],
        },
    }


# (case, type, content, expected error locations). Rows come in pairs: at the limit, then past it.
CASES: list[tuple[str, str, Any, list[tuple[str | int, ...]]]] = [
    ("text ok", "text", {"body": "hola", "preview_url": False}, []),
    ("text at 4096", "text", {"body": "a" * 4096}, []),
    ("text past 4096", "text", {"body": "a" * 4097}, [("text", "body")]),
    ("text 4096 emoji code points", "text", {"body": "é" * 4096}, []),
    ("text missing body", "text", {}, [("text", "body")]),
    ("text blank body", "text", {"body": "   "}, [("text", "body")]),
    ("text body not string", "text", {"body": 5}, [("text", "body")]),
    ("text preview_url not bool", "text", {"body": "x", "preview_url": "yes"}, [("text", "preview_url")]),
    ("image by id", "image", {"id": "1479537139650973"}, []),
    ("image by link", "image", {"link": "https://example.com/a.jpg", "caption": "c" * 1024}, []),
    (
        "image caption past 1024",
        "image",
        {"link": "https://example.com/a.jpg", "caption": "c" * 1025},
        [("image", "caption")],
    ),
    ("image neither id nor link", "image", {"caption": "x"}, [("image",)]),
    ("image both id and link", "image", {"id": "1", "link": "https://e.com/a"}, [("image",)]),
    ("image link not http", "image", {"link": "ftp://e.com/a"}, [("image", "link")]),
    ("audio no caption", "audio", {"id": "1", "caption": "x"}, [("audio", "caption")]),
    ("sticker ok", "sticker", {"id": "1"}, []),
    ("document filename", "document", {"id": "1", "filename": "a.pdf", "caption": "factura"}, []),
    ("video filename refused", "video", {"id": "1", "filename": "a.mp4"}, [("video", "filename")]),
    ("location ok", "location", {"latitude": 40.4199, "longitude": -3.7036, "name": "Tienda"}, []),
    ("location at bounds", "location", {"latitude": -90, "longitude": 180}, []),
    (
        "location past bounds",
        "location",
        {"latitude": 90.0001, "longitude": -180.5},
        [("location", "latitude"), ("location", "longitude")],
    ),
    (
        "location strings",
        "location",
        {"latitude": "40", "longitude": True},
        [("location", "latitude"), ("location", "longitude")],
    ),
    ("location nan", "location", {"latitude": float("nan"), "longitude": 0}, [("location", "latitude")]),
    ("location missing", "location", {}, [("location", "latitude"), ("location", "longitude")]),
    (
        "contacts ok",
        "contacts",
        [{"name": {"formatted_name": "Marta Gómez"}, "phones": [{"phone": "+34600"}]}],
        [],
    ),
    ("contacts wrapped", "contacts", {"contacts": [{"name": {"formatted_name": "Marta"}}]}, []),
    ("contacts empty", "contacts", [], [("contacts",)]),
    ("contacts not list", "contacts", "Marta", [("contacts",)]),
    ("contacts no name", "contacts", [{"phones": []}], [("contacts", 0, "name")]),
    ("reaction ok", "reaction", {"message_id": "wamid.X", "emoji": "👍"}, []),
    ("reaction removal", "reaction", {"message_id": "wamid.X", "emoji": ""}, []),
    ("reaction missing both", "reaction", {}, [("reaction", "message_id"), ("reaction", "emoji")]),
    (
        "reaction long emoji",
        "reaction",
        {"message_id": "wamid.X", "emoji": "👍" * 20},
        [("reaction", "emoji")],
    ),
    ("buttons 1", "interactive", buttons(1), []),
    ("buttons 3", "interactive", buttons(3), []),
    ("buttons 4", "interactive", buttons(4), [("interactive", "action", "buttons")]),
    ("buttons 0", "interactive", buttons(0), [("interactive", "action", "buttons")]),
    ("button title 20", "interactive", buttons(2, title_len=20), []),
    (
        "button title 21",
        "interactive",
        buttons(2, title_len=21),
        [("interactive", "action", "buttons", i, "reply", "title") for i in range(2)],
    ),
    ("button body 1024", "interactive", {**buttons(1), "body": {"text": "b" * 1024}}, []),
    (
        "button body 1025",
        "interactive",
        {**buttons(1), "body": {"text": "b" * 1025}},
        [("interactive", "body", "text")],
    ),
    ("button body missing", "interactive", {**buttons(1), "body": None}, [("interactive", "body")]),
    (
        "button footer 61",
        "interactive",
        {**buttons(1), "footer": {"text": "f" * 61}},
        [("interactive", "footer", "text")],
    ),
    (
        "button header text 60",
        "interactive",
        {**buttons(1), "header": {"type": "text", "text": "h" * 60}},
        [],
    ),
    (
        "duplicate button titles",
        "interactive",
        {
            "type": "button",
            "body": {"text": "?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "a", "title": "Sí"}},
                    {"type": "reply", "reply": {"id": "b", "title": "Sí"}},
                ]
            },
        },
        [("interactive", "action", "buttons", 1, "reply", "title")],
    ),
    ("interactive without type", "interactive", {"body": {"text": "x"}}, [("interactive", "type")]),
    ("list 1x10", "interactive", list_message(1, 10), []),
    ("list 1x11 rows", "interactive", list_message(1, 11), [("interactive", "action", "sections")]),
    ("list 10 sections x 1 row", "interactive", list_message(10, 1), []),
    ("list 11 sections", "interactive", list_message(11, 1), [("interactive", "action", "sections")] * 2),
    ("list 2x6 rows in all", "interactive", list_message(2, 6), [("interactive", "action", "sections")]),
    ("list row title 24", "interactive", list_message(1, 1, title="t" * 24), []),
    (
        "list row title 25",
        "interactive",
        list_message(1, 1, title="t" * 25),
        [("interactive", "action", "sections", 0, "rows", 0, "title")],
    ),
    ("list row description 72", "interactive", list_message(1, 1, description="d" * 72), []),
    (
        "list row description 73",
        "interactive",
        list_message(1, 1, description="d" * 73),
        [("interactive", "action", "sections", 0, "rows", 0, "description")],
    ),
    (
        "list no sections",
        "interactive",
        {"type": "list", "body": {"text": "x"}, "action": {"button": "B", "sections": []}},
        [("interactive", "action", "sections")],
    ),
    (
        "list button 21",
        "interactive",
        {**list_message(1, 1), "action": {**list_message(1, 1)["action"], "button": "b" * 21}},
        [("interactive", "action", "button")],
    ),
    (
        "cta_url passes through",
        "interactive",
        {
            "type": "cta_url",
            "body": {"text": "x"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Ver", "url": "https://e.com"}},
        },
        [],
    ),
    (
        "template named",
        "template",
        {"name": "ticket_update", "language": "es", "parameters": {"ticket_id": "T-42"}},
        [],
    ),
    ("template cloud shape", "template", {"name": "ticket_update", "language": {"code": "es"}}, []),
    ("template missing", "template", {}, [("template", "name"), ("template", "language")]),
    ("unknown type", "poll", {"question": "?"}, [("type",)]),
    ("content not object", "text", ["hola"], [("text",)]),
]


@pytest.mark.parametrize(
    ("message_type", "content", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validate_outbound(message_type: str, content: Any, want: list[tuple[str | int, ...]]) -> None:
    errors = validate_outbound(message_type, content)
    assert locs(errors) == want, errors
    assert all(e.msg for e in errors)


def test_outbound_types() -> None:
    assert {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "reaction",
        "template",
    } == OUTBOUND_TYPES


def test_send_body_text_reply() -> None:
    body = build_send_body(
        to="34600111222", message_type="text", content={"body": "hola"}, context_wamid="wamid.IN"
    )
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "34600111222",
        "type": "text",
        "context": {"message_id": "wamid.IN"},
        "text": {"body": "hola"},
    }


def test_send_body_contacts_is_a_list() -> None:
    cards = [{"name": {"formatted_name": "Marta"}}]
    assert build_send_body(to="1", message_type="contacts", content=cards)["contacts"] == cards
    assert build_send_body(to="1", message_type="contacts", content={"contacts": cards})["contacts"] == cards


class Fmt(StrEnum):
    NAMED = "NAMED"
    POSITIONAL = "POSITIONAL"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    """Shaped like policy.RenderedTemplate."""

    name: str
    language: str
    category: str = "UTILITY"
    parameter_format: Fmt
    parameters: tuple[tuple[str | None, str], ...]
    body_text: str = ""
    header_text: str | None = None
    footer_text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedWithHeader(Rendered):
    header_parameters: Sequence[tuple[str | None, str]] = ()


def test_send_body_named_template() -> None:
    t = Rendered(
        name="ticket_update", language="es", parameter_format=Fmt.NAMED, parameters=(("ticket_id", "T-42"),)
    )
    body = build_send_body(to="34600111222", message_type="template", content=None, template=t)
    assert body["template"] == {
        "name": "ticket_update",
        "language": {"code": "es"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "ticket_id", "text": "T-42"}]}
        ],
    }


def test_send_body_positional_template_omits_parameter_name() -> None:
    t = Rendered(
        name="order",
        language="en_US",
        parameter_format=Fmt.POSITIONAL,
        parameters=(("1", "Ada"), (None, "42")),
    )
    body = build_send_body(to="1", message_type="template", content=None, template=t)
    assert body["template"]["components"][0]["parameters"] == [  # type: ignore[index]
        {"type": "text", "text": "Ada"},
        {"type": "text", "text": "42"},
    ]


def test_send_body_template_without_parameters_or_with_header() -> None:
    plain = Rendered(name="hello_world", language="en_US", parameter_format=Fmt.POSITIONAL, parameters=())
    assert build_send_body(to="1", message_type="template", content=None, template=plain)["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }
    headed = RenderedWithHeader(
        name="sale",
        language="es",
        parameter_format=Fmt.NAMED,
        parameters=(("code", "BF"),),
        header_parameters=(("date", "1 dic"),),
    )
    comps = build_send_body(to="1", message_type="template", content=None, template=headed)["template"][
        "components"
    ]  # type: ignore[index]
    assert [c["type"] for c in comps] == ["header", "body"]
    assert comps[0]["parameters"] == [{"type": "text", "parameter_name": "date", "text": "1 dic"}]


def test_send_body_needs_content() -> None:
    with pytest.raises(ValueError, match="needs content"):
        build_send_body(to="1", message_type="text", content=None)


def test_send_response_round_trip() -> None:
    answer = build_send_response(wa_id="34600111222", wamid="wamid.OK", recipient_input="+34600111222")
    assert answer == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+34600111222", "wa_id": "34600111222"}],
        "messages": [{"id": "wamid.OK", "message_status": "accepted"}],
    }
    assert parse_send_response(answer) == "wamid.OK"
    assert parse_send_response(orjson.dumps(answer)) == "wamid.OK"


@pytest.mark.parametrize(
    "data", [b"<html>", b"[]", {}, {"messages": []}, {"messages": [{"id": ""}]}, {"messages": "x"}]
)
def test_send_response_without_wamid(data: Any) -> None:
    with pytest.raises(SendResponseFormatError):
        parse_send_response(data)


def test_mark_read_body() -> None:
    assert build_mark_read_body("wamid.X") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.X",
    }
