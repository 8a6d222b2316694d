"""Hostile webhook payloads through HTTP: deep nesting, bodies over the size limit, wrong types, unicode,
duplicated keys. Never a 5xx; a rejected payload (4xx) changes no row in any table."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from liveserver import bound_socket, thread_server
from reliability import record
from service_support import make_settings
from sqlalchemy import Engine

from carewindow.api.app import create_app
from carewindow.storage.engine import make_engine
from carewindow.storage.tables import metadata
from carewindow.wire.signature import HEADER, sign

LONG = os.environ.get("CAREWINDOW_FUZZ") == "long"
EXAMPLES = 2000 if LONG else 150
SECRET = "fuzz-secret"
LIMIT = 8192

VALID: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550000001",
                            "phone_number_id": "100000000000001",
                        },
                        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34600111222"}],
                        "messages": [
                            {
                                "from": "34600111222",
                                "id": "wamid.fuzz",
                                "timestamp": "1751364000",
                                "type": "text",
                                "text": {"body": "hola"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
PATHS = [
    ("object",),
    ("entry",),
    ("entry", 0, "changes"),
    ("entry", 0, "changes", 0, "field"),
    ("entry", 0, "changes", 0, "value"),
    ("entry", 0, "changes", 0, "value", "metadata"),
    ("entry", 0, "changes", 0, "value", "contacts"),
    ("entry", 0, "changes", 0, "value", "messages"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "from"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "id"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "timestamp"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "type"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "text"),
]


def _mutate(path: tuple[Any, ...], value: Any) -> bytes:
    doc = json.loads(json.dumps(VALID))
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return json.dumps(doc, ensure_ascii=False).encode()


def _nested(depth: int) -> bytes:
    return ('{"object":' + "[" * depth + "1" + "]" * depth + "}").encode()


def _duplicated(key_value: str) -> bytes:
    return (
        b'{"object":"whatsapp_business_account","entry":[],"entry":' + json.dumps(key_value).encode() + b"}"
    )


bodies = st.one_of(
    st.tuples(st.sampled_from(PATHS), json_values).map(lambda t: _mutate(*t)),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 100_000).map(_nested),
    st.text(max_size=30).map(_duplicated),
    st.binary(max_size=200),
    st.integers(LIMIT + 1, LIMIT * 4).map(lambda n: _mutate(PATHS[-1], {"body": "ñ" * n})),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60).map(
        lambda t: _mutate(("entry", 0, "changes", 0, "value", "messages", 0, "text"), {"body": t})
    ),
)


def _snapshot(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(t.select()).all())) for t in metadata.sorted_tables}


@pytest.fixture(scope="module")
def app_client(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[httpx.Client, Engine]]:
    db = tmp_path_factory.mktemp("webhook-fuzz") / "cw.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = create_app(
        make_settings(f"sqlite:///{db}", meta_app_secret=SECRET, max_webhook_bytes=LIMIT),
        engine=engine,
        run_worker=False,
    )
    with thread_server(app, bound_socket()) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, engine
    engine.dispose()


def test_webhook_http_fuzz(app_client: tuple[httpx.Client, Engine]) -> None:
    client, engine = app_client
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              derandomize=not LONG)  # fmt: skip
    @given(body=bodies, signed=st.sampled_from([True, True, True, False]))
    def run(body: bytes, signed: bool) -> None:
        before = _snapshot(engine)
        headers = {"Content-Type": "application/json", HEADER: sign(body, SECRET) if signed else "sha256=0"}
        r = client.post("/webhooks/whatsapp", content=body, headers=headers)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (r.status_code, r.text[:300], body[:300])
        if r.status_code != 200:
            err = r.json()["error"]
            assert err["code"] and err["message"]
            assert _snapshot(engine) == before, "a rejected webhook changed the database"
        if len(body) > LIMIT:
            assert r.status_code == 413

    run()
    record(
        "webhook:fuzz",
        area="bad input",
        fault="hypothesis webhook payloads over HTTP: wrong types at 13 places, random JSON, nesting up "
        f"to 100,000 levels, duplicated keys, raw bytes, bodies over the {LIMIT}-byte limit, unicode, "
        "bad signatures",
        cases=sum(seen.values()),
        result=f"0 5xx ({', '.join(f'{n} × {s}' for s, n in sorted(seen.items()))}); "
        "0 rows changed by any rejected payload",
        test="tests/api/test_webhook_http_fuzz.py",
        long=LONG,
    )
