"""``carewindow send``: the parameters of the template and of the fallback, in the CLI's own terms.

The request the CLI builds is checked against an in-memory HTTP transport standing in for the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from carewindow.cli import main


@dataclass
class Server:
    sent: list[dict[str, Any]] = field(default_factory=list)  # request bodies
    answers: list[httpx.Response] = field(default_factory=list)  # next answers (else 202)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The CLI's HTTP client talks to a handler that records each body and answers as told."""
    fake = Server()
    sent, answers = fake.sent, fake.answers

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if answers:
            return answers.pop(0)
        return httpx.Response(
            202,
            json={
                "id": "msg_1",
                "kind": "template",
                "status": "queued",
                "charge": {"amount": "0.02", "currency": "EUR", "pricing_model": "seed"},
            },
        )

    def client(server: str, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=server, transport=httpx.MockTransport(handler))

    monkeypatch.setattr(main, "_client", client)
    yield fake


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main.app,
        ["send", "+34600111222", *args, "--server", "http://cw.test", "--api-key", "k"],
        env={"COLUMNS": "300"},
    )
    return result.exit_code, " ".join(result.output.split())


def test_named_and_positional_params(server: Server) -> None:
    code, out = run("--template", "ticket_update", "--param", "ticket_id=T-99")
    assert code == 0, out
    assert server.sent[-1]["template"]["parameters"] == {"ticket_id": "T-99"}
    code, out = run("--template", "hello", "--param", "Ana", "--param", "T-1")
    assert code == 0, out
    assert server.sent[-1]["template"]["parameters"] == ["Ana", "T-1"]
    # A value with "=" that is not NAME=VALUE (a URL with a query) is a plain value.
    code, out = run("--template", "link", "--param", "https://x.test/?a=b")
    assert code == 0, out
    assert server.sent[-1]["template"]["parameters"] == ["https://x.test/?a=b"]


def test_fallback_carries_its_parameters(server: Server) -> None:
    code, out = run(
        "--text",
        "hello",
        "--on-closed",
        "template",
        "--fallback",
        "ticket_update",
        "--fallback-param",
        "ticket_id=T-99",
        "--language",
        "es",
    )
    assert code == 0, out
    body = server.sent[-1]
    assert body["fallback_template"] == {
        "name": "ticket_update",
        "language": "es",
        "parameters": {"ticket_id": "T-99"},
    }
    assert body["on_closed"] == "template" and body["text"] == {"body": "hello"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--template", "t", "--param", "ticket_id=T-99", "--param", "Ana"],
            "--param: give every parameter as NAME=VALUE",
        ),
        (["--template", "t", "--param", "a=1", "--param", "a=2"], "--param a=…: given twice"),
        (["--text", "hi", "--param", "x=1"], "--param belongs to --template"),
        (["--text", "hi", "--fallback-param", "x=1"], "--fallback-param needs --fallback"),
        (
            ["--text", "hi", "--fallback", "t", "--fallback-param", "a=1", "--fallback-param", "b"],
            "--fallback-param: give every parameter as NAME=VALUE",
        ),
    ],
)
def test_wrong_parameter_forms_are_said_in_cli_terms(server: Server, args: list[str], said: str) -> None:
    code, out = run(*args)
    assert code == 2 and said in out, out
    assert not server.sent  # nothing was sent


def _refusal(**details: Any) -> httpx.Response:
    return httpx.Response(
        422,
        json={
            "error": {
                "code": "template_params_invalid",
                "message": "This template uses named parameters ({{name}}); send them as an object of "
                "name -> value. Fix the parameters and send again.",
                **details,
            }
        },
    )


@pytest.mark.parametrize(
    ("details", "said"),
    [
        (
            {
                "template": "ticket_update",
                "role": "template",
                "expected": ["ticket_id"],
                "reason": "named parameters expected",
            },
            "template 'ticket_update' has named placeholders: give them by name, --param ticket_id=VALUE",
        ),
        (
            {
                "template": "ticket_update",
                "role": "fallback_template",
                "expected": ["ticket_id"],
                "reason": "named parameters expected",
            },
            "fallback template 'ticket_update' has named placeholders: give them by name, "
            "--fallback-param ticket_id=VALUE",
        ),
        (
            {
                "template": "hello",
                "role": "template",
                "expected": ["1", "2"],
                "reason": "positional parameters expected",
            },
            "template 'hello' has numbered placeholders ({{1}}, {{2}}): give --param VALUE 2 times, in order",
        ),
        (
            {"template": "hi", "role": "template", "expected": [], "reason": "no parameters expected"},
            "template 'hi' takes no parameters: leave out --param",
        ),
        (
            {"template": "t", "role": "template", "missing": ["order_id"], "unexpected": []},
            "(add --param order_id=VALUE)",
        ),
        (
            {"template": "t", "role": "template", "expected": 2, "given": 1, "missing": ["2"]},
            "(add --param VALUE for {{2}})",
        ),
    ],
)
def test_server_refusals_of_parameters_are_said_in_cli_terms(
    server: Server, details: dict[str, Any], said: str
) -> None:
    server.answers.append(_refusal(**details))
    code, out = run("--template", "t", "--param", "x")
    assert code == 1 and "422 template_params_invalid" in out, out
    assert said in out, out
    if "reason" in details:
        assert "send them as" not in out  # the API's wording is replaced, not repeated


def test_help_shows_the_parameter_forms() -> None:
    help_text = CliRunner().invoke(main.app, ["send", "--help"], env={"COLUMNS": "300"}).output
    out = " ".join(help_text.replace("│", " ").split())
    assert "--param ticket_id=T-99" in out and "--fallback-param" in out
