"""``wire.graph_request``: Graph send bodies as pywa, Chatwoot and Meta's docs write them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carewindow.wire.graph_errors import GraphError
from carewindow.wire.graph_request import GraphMarkRead, GraphSend, parse_graph_request

TEXT = st.text(min_size=1, max_size=20)


def _code(doc: Any) -> int:
    with pytest.raises(GraphError) as err:
        parse_graph_request(doc)
    return err.value.code


def test_chatwoot_text_with_null_context() -> None:
    doc = {
        "messaging_product": "whatsapp",
        "context": None,
        "to": "346001",
        "text": {"body": "x"},
        "type": "text",
    }
    parsed = parse_graph_request(doc)
    assert parsed == GraphSend(
        to="346001", type="text", content={"body": "x"}, template=None, context_wamid=None
    )


def test_reply_reaction_and_mark_read() -> None:
    reply = parse_graph_request(
        {
            "messaging_product": "whatsapp",
            "to": "1",
            "text": {"body": "x"},
            "context": {"message_id": "wamid.A"},
        }
    )
    assert isinstance(reply, GraphSend) and reply.context_wamid == "wamid.A" and reply.type == "text"
    reaction = parse_graph_request(
        {
            "messaging_product": "whatsapp",
            "to": "1",
            "type": "reaction",
            "reaction": {"message_id": "w", "emoji": "👍"},
        }
    )
    assert isinstance(reaction, GraphSend) and reaction.content == {"message_id": "w", "emoji": "👍"}
    read = parse_graph_request({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.B"})
    assert read == GraphMarkRead(message_id="wamid.B", typing=False)


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        ([], 100),
        ({"messaging_product": "sms", "to": "1"}, 100),
        ({"to": "1", "text": {"body": "x"}}, 131008),
        ({"messaging_product": "whatsapp", "text": {"body": "x"}}, 131008),
        ({"messaging_product": "whatsapp", "to": "1", "type": "fax"}, 131051),
        ({"messaging_product": "whatsapp", "to": "1", "type": "image"}, 131008),
        ({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x"}, "context": {}}, 131009),
        ({"messaging_product": "whatsapp", "to": "1", "type": "template", "template": {"name": "t"}}, 131008),
        ({"messaging_product": "whatsapp", "status": "read"}, 131008),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1",
                "type": "template",
                "template": {
                    "name": "t",
                    "language": {"code": "es"},
                    "components": [{"type": "button", "sub_type": "url", "index": 0, "parameters": []}],
                },
            },
            131009,
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "1",
                "type": "template",
                "template": {
                    "name": "t",
                    "language": {"code": "es"},
                    "components": [
                        {
                            "type": "header",
                            "parameters": [
                                {"type": "image", "image": {"link": "x"}},
                                {"type": "image", "image": {"link": "y"}},
                            ],
                        }
                    ],
                },
            },
            131009,  # a header takes one media parameter
        ),
    ],
)
def test_bad_bodies_get_metas_codes(doc: Any, code: int) -> None:
    assert _code(doc) == code


def _template(components: list[dict[str, Any]]) -> Any:
    doc = {
        "messaging_product": "whatsapp",
        "to": "1",
        "type": "template",
        "template": {
            "name": "t",
            "language": {"policy": "deterministic", "code": "es"},
            "components": components,
        },
    }
    parsed = parse_graph_request(doc)
    assert isinstance(parsed, GraphSend) and parsed.template is not None
    return parsed.template


@given(body=st.lists(TEXT, max_size=5), header=st.lists(TEXT, max_size=2), header_first=st.booleans())
def test_positional_parameters_are_body_then_header_whatever_the_component_order(
    body: list[str], header: list[str], header_first: bool
) -> None:
    comps = [
        {"type": "body", "parameters": [{"type": "text", "text": v} for v in body]},
        {"type": "HEADER", "parameters": [{"type": "text", "text": v} for v in header]},
    ]
    t = _template(comps[::-1] if header_first else comps)
    assert t.params == (*body, *header)  # the order the policy's render_template expects
    assert (t.name, t.language) == ("t", "es")


@given(names=st.lists(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), unique=True, min_size=1, max_size=4))
def test_named_parameters_become_a_mapping(names: list[str]) -> None:
    params = [{"type": "text", "parameter_name": n, "text": n.upper()} for n in names]
    t = _template([{"type": "body", "parameters": params}])
    assert t.params == {n: n.upper() for n in names}


def test_mixed_named_and_positional_is_refused_and_currency_uses_its_fallback() -> None:
    mixed = [{"type": "text", "parameter_name": "a", "text": "1"}, {"type": "text", "text": "2"}]
    assert (
        _code(
            {
                "messaging_product": "whatsapp",
                "to": "1",
                "type": "template",
                "template": {
                    "name": "t",
                    "language": {"code": "es"},
                    "components": [{"type": "body", "parameters": mixed}],
                },
            }
        )
        == 131009
    )
    money = {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}}
    assert _template([{"type": "body", "parameters": [money]}]).params == ("$10",)


def test_a_media_header_parameter_becomes_the_templates_header() -> None:
    image = {"type": "image", "image": {"id": "4490709327384033"}}
    t = _template(
        [
            {"type": "header", "parameters": [image]},
            {"type": "body", "parameters": [{"type": "text", "text": "R-1"}]},
        ]
    )
    assert t.header == image and t.params == ("R-1",)
    assert _template([{"type": "body", "parameters": []}]).header is None
