"""Templates: placeholder parsing, definition rules, and parameter checks that mirror the Cloud API."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import NAMED_PARAMS, template

from carewindow.policy import (
    ParameterFormat,
    RenderedTemplate,
    TemplateButton,
    TemplateCategory,
    TemplateDefinitionError,
    TemplateParamsInvalid,
    parse_placeholders,
    render_template,
    validate_params,
    validate_template_definition,
)

POSITIONAL = template("order_shipped", body="Hi {{1}}, order {{2}} ships on {{3}}.")
NO_PARAMS = template("hello", body="Hello! How can we help?")


class TestParsePlaceholders:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ("Hi {{1}}, order {{2}}", (ParameterFormat.POSITIONAL, ("1", "2"))),
            ("Hi {{name}}, {{ticket_id}} {{name}}", (ParameterFormat.NAMED, ("name", "ticket_id"))),
            ("No placeholders {here}", (None, ())),
            ("{{_x1}}", (ParameterFormat.NAMED, ("_x1",))),
        ],
    )
    def test_valid(self, body: str, expected: tuple[ParameterFormat | None, tuple[str, ...]]) -> None:
        assert parse_placeholders(body) == expected

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            ("{{1}} and {{name}}", "mixed placeholder formats"),
            ("{{2}}", "positional placeholders out of sequence"),
            ("{{1}} {{3}}", "positional placeholders out of sequence"),
            ("{{1}} {{1}}", "positional placeholders out of sequence"),
            ("{{0}}", "invalid placeholder"),
            ("{{Name}}", "invalid placeholder"),
            ("{{ name }}", "invalid placeholder"),
            ("{{}}", "invalid placeholder"),
            ("{{ticket-id}}", "invalid placeholder"),
        ],
    )
    def test_invalid(self, body: str, reason: str) -> None:
        with pytest.raises(TemplateDefinitionError) as info:
            parse_placeholders(body)
        assert info.value.details["reason"] == reason
        assert (info.value.code, info.value.meta_code) == ("validation_error", 100)


class TestDefinition:
    def test_a_good_template_passes(self) -> None:
        buttons = (
            TemplateButton(type="quick_reply", text="Stop promotions"),
            TemplateButton(type="url", text="Track", url="https://example.com/t/{{1}}"),
            TemplateButton(type="phone_number", text="Call us", phone_number="+34600000000"),
        )
        ok = template(header="Ticket {{ticket_id}}", footer="Reply STOP to opt out")
        validate_template_definition(
            type(ok)(
                name=ok.name,
                language="en_US",
                category=ok.category,
                status=ok.status,
                body=ok.body,
                header=ok.header,
                footer=ok.footer,
                buttons=buttons,
            )
        )

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"name": "Ticket Update"}, "name"),
            ({"name": "x" * 513}, "name"),
            ({"name": ""}, "name"),
            ({"language": "spanish"}, "language"),
            ({"body": "   "}, "body"),
            ({"body": "x" * 1025}, "body"),
            ({"header": "x" * 61}, "header"),
            ({"footer": "x" * 61}, "footer"),
            ({"footer": "Ref {{1}}"}, "footer"),
            ({"buttons": (TemplateButton(type="quick_reply", text="x" * 26),)}, "buttons[0].text"),
            ({"buttons": (TemplateButton(type="quick_reply", text=""),)}, "buttons[0].text"),
            ({"buttons": (TemplateButton(type="url", text="Go"),)}, "buttons[0].url"),
            ({"buttons": (TemplateButton(type="phone_number", text="Call"),)}, "buttons[0].phone_number"),
            (
                {"buttons": tuple(TemplateButton(type="quick_reply", text=str(i)) for i in range(11))},
                "buttons",
            ),
        ],
    )
    def test_rules(self, changes: dict[str, Any], field: str) -> None:
        base = {
            "name": "ticket_update",
            "language": "es",
            "category": TemplateCategory.UTILITY,
            "body": "Hi {{1}}",
            "status": template().status,
        }
        bad = type(template())(**(base | changes))
        with pytest.raises(TemplateDefinitionError) as info:
            validate_template_definition(bad)
        assert info.value.details["field"] == field

    @pytest.mark.parametrize(
        ("body", "header"),
        [
            ("Hi {{1}}", "{{name}}"),  # styles differ between header and body
            ("Hi {{name}}", "{{a}} {{b}}"),  # a header holds at most one placeholder
            ("Hi {{1}} {{name}}", None),
        ],
    )
    def test_invalid_placeholders_surface_on_use(self, body: str, header: str | None) -> None:
        bad = template(body=body, header=header)  # building it never raises: catalogs hold what they hold
        with pytest.raises(TemplateDefinitionError):
            validate_template_definition(bad)
        with pytest.raises(TemplateDefinitionError):
            _ = bad.placeholders
        with pytest.raises(TemplateDefinitionError):
            _ = bad.parameter_format
        with pytest.raises(TemplateDefinitionError):
            render_template(bad, [])


class TestRender:
    def test_named(self) -> None:
        rendered = render_template(template(footer="Gracias"), NAMED_PARAMS)
        assert rendered == RenderedTemplate(
            name="ticket_update",
            language="es",
            category=TemplateCategory.UTILITY,
            parameter_format=ParameterFormat.NAMED,
            parameters=(("customer_name", "Ana"), ("ticket_id", "T-42"), ("ticket_status", "resuelto")),
            body_text="Hola Ana, tu ticket T-42 está resuelto.",
            header_text=None,
            footer_text="Gracias",
        )

    def test_positional(self) -> None:
        rendered = render_template(POSITIONAL, ["Ana", "A-1", "Monday"])
        assert rendered.parameters == ((None, "Ana"), (None, "A-1"), (None, "Monday"))
        assert rendered.body_text == "Hi Ana, order A-1 ships on Monday."
        assert POSITIONAL.parameter_format is ParameterFormat.POSITIONAL

    def test_no_parameters(self) -> None:
        assert render_template(NO_PARAMS, []).body_text == "Hello! How can we help?"
        assert render_template(NO_PARAMS, {}).parameters == ()
        assert NO_PARAMS.parameter_format is None

    def test_literal_braces_survive(self) -> None:
        braces = template(body="Code {x} {{1}} }{ {0}", name="braces")
        assert braces.placeholders == ("1",)
        assert render_template(braces, ["7"]).body_text == "Code {x} 7 }{ {0}"

    def test_named_header_shares_names_with_the_body(self) -> None:
        with_header = template(header="Ticket {{ticket_id}}")
        rendered = render_template(with_header, NAMED_PARAMS)
        assert rendered.header_text == "Ticket T-42"
        assert rendered.header_parameters == (("ticket_id", "T-42"),)
        header_only = template(header="About {{topic}}", body="Hello {{name}}")
        assert header_only.placeholders == ("name", "topic")
        assert (
            render_template(header_only, {"name": "Ana", "topic": "billing"}).header_text == "About billing"
        )

    def test_positional_header_value_comes_after_the_body_values(self) -> None:
        with_header = template(body="Hi {{1}}, order {{2}}", header="Order {{1}}", name="p")
        assert with_header.placeholders == ("1", "2", "3")
        rendered = render_template(with_header, ("Ana", "A-1", "A-1"))
        assert (rendered.body_text, rendered.header_text) == ("Hi Ana, order A-1", "Order A-1")
        assert rendered.header_parameters == ((None, "A-1"),)

    def test_static_header(self) -> None:
        assert render_template(template(header="Update"), NAMED_PARAMS).header_text == "Update"

    def test_single_named_parameter(self) -> None:
        one = template(body="Code {{code}}", name="otp", category=TemplateCategory.AUTHENTICATION)
        assert render_template(one, {"code": "123456"}).parameters == (("code", "123456"),)


# One row per way a send can fail, with the Cloud API number it mirrors.
PARAM_ERRORS: list[tuple[str, Any, Any, int, dict[str, Any]]] = [
    ("named: one missing", template(), {"customer_name": "Ana", "ticket_id": "T-42"}, 132000,
     {"missing": ["ticket_status"], "unexpected": []}),
    ("named: unknown name", template(), NAMED_PARAMS | {"extra": "x"}, 132012,
     {"missing": [], "unexpected": ["extra"]}),
    ("named: typo", template(), {"customer_name": "A", "tiket_id": "T", "ticket_status": "s"}, 132012,
     {"missing": ["ticket_id"], "unexpected": ["tiket_id"]}),
    ("named: list given", template(), ["Ana", "T-42", "ok"], 132012, {"reason": "named parameters expected"}),
    ("named: nothing given", template(), [], 132000, {"given": 0, "expected": 3}),
    ("named: empty mapping", template(), {}, 132000,
     {"missing": ["customer_name", "ticket_id", "ticket_status"]}),
    ("positional: too few", POSITIONAL, ["Ana"], 132000, {"expected": 3, "given": 1, "missing": ["2", "3"]}),
    ("positional: too many", POSITIONAL, ["a", "b", "c", "d"], 132000, {"expected": 3, "given": 4}),
    ("positional: mapping given", POSITIONAL, {"1": "a"}, 132012,
     {"reason": "positional parameters expected"}),
    ("positional: empty mapping", POSITIONAL, {}, 132000, {"expected": 3, "given": 0}),
    ("positional: string given", POSITIONAL, "abc", 132012, {"reason": "positional parameters expected"}),
    ("none expected: one given", NO_PARAMS, ["x"], 132000, {"expected": 0, "given": 1}),
    ("none expected: mapping given", NO_PARAMS, {"x": "y"}, 132000, {"reason": "no parameters expected"}),
    ("newline", POSITIONAL, ["Ana", "A\n1", "x"], 132018, {"parameter": "2"}),
    ("carriage return", POSITIONAL, ["Ana\r", "A", "x"], 132018, {"parameter": "1"}),
    ("tab", template(), NAMED_PARAMS | {"ticket_id": "T\t42"}, 132018, {"parameter": "ticket_id"}),
    ("five spaces", template(), NAMED_PARAMS | {"ticket_status": "a     b"}, 132018,
     {"parameter": "ticket_status"}),
    ("not a string", POSITIONAL, ["Ana", 42, "x"], 132012, {"parameter": "2"}),
    ("empty value", POSITIONAL, ["Ana", "", "x"], 131008, {"parameter": "2"}),
    ("body too long", POSITIONAL, ["x" * 1010, "y", "z"], 132005, {"component": "body", "limit": 1024}),
    ("header too long", template(header="Ticket {{ticket_id}}"), NAMED_PARAMS | {"ticket_id": "T" * 60},
     132005, {"component": "header", "limit": 60}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tpl", "params", "meta_code", "details"),
    [row[1:] for row in PARAM_ERRORS],
    ids=[row[0] for row in PARAM_ERRORS],
)
def test_param_errors(tpl: Any, params: Any, meta_code: int, details: dict[str, Any]) -> None:
    with pytest.raises(TemplateParamsInvalid) as info:
        validate_params(tpl, params)
    error = info.value
    assert error.code == "template_params_invalid"
    assert error.meta_code == meta_code
    assert details.items() <= error.details.items()
    assert error.message and str(error) == error.message


def test_four_spaces_are_fine() -> None:
    validate_params(POSITIONAL, ["a    b", "x", "y"])
