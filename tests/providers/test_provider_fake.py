"""FakeProvider: scripted answers in order, every body recorded, templates in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from carewindow.providers.base import (
    Provider,
    ProviderError,
    ProviderGraphError,
    ProviderTimeout,
    SendResult,
)
from carewindow.providers.fake import FakeProvider
from carewindow.wire.graph_errors import GraphError

BODY: Mapping[str, object] = {
    "messaging_product": "whatsapp",
    "to": "34600111222",
    "type": "text",
    "text": {"body": "a"},
}


def test_default_answer_is_a_fresh_wamid() -> None:
    fake = FakeProvider()
    assert isinstance(fake, Provider)

    async def go() -> list[SendResult]:
        return [await fake.send(BODY) for _ in range(3)]

    results = asyncio.run(go())
    assert len({r.wamid for r in results}) == 3
    assert all(r.wamid.startswith("wamid.") for r in results)
    assert results[0].raw["contacts"] == [{"input": "34600111222", "wa_id": "34600111222"}]
    assert fake.sent == [BODY] * 3 and fake.accepted == results


def test_scripted_answers_in_order() -> None:
    graph = ProviderGraphError(GraphError.for_code(131047))
    fake = FakeProvider([graph, "wamid.SECOND"])
    fake.push(
        ProviderTimeout(),
        SendResult(wamid="wamid.FOURTH"),
        lambda body: SendResult(wamid=f"wamid.to{body['to']}"),
    )
    assert fake.pending == 5

    async def go() -> list[object]:
        out: list[object] = []
        for _ in range(6):
            try:
                out.append((await fake.send(BODY)).wamid)
            except ProviderError as exc:
                out.append(exc)
        return out

    first, second, third, fourth, fifth, sixth = asyncio.run(go())
    assert first is graph and graph.code == 131047 and not graph.transient
    assert second == "wamid.SECOND"
    assert isinstance(third, ProviderTimeout) and third.transient
    assert third.message == "The provider did not answer in time."
    assert fourth == "wamid.FOURTH"
    assert fifth == "wamid.to34600111222"
    assert isinstance(sixth, str) and sixth.startswith("wamid.FAKE")
    assert len(fake.sent) == 6 and len(fake.accepted) == 4 and fake.pending == 0


def test_templates_round_trip() -> None:
    fake = FakeProvider(template_status="PENDING")
    definition = {"name": "ticket_update", "language": "es", "category": "utility", "components": []}

    async def go() -> None:
        created = await fake.create_template(definition)
        assert created["status"] == "PENDING" and created["category"] == "UTILITY"
        with pytest.raises(ProviderGraphError):
            await fake.create_template(definition)
        (listed,) = await fake.list_templates()
        assert listed["name"] == "ticket_update" and listed["id"] == created["id"]
        await fake.delete_template("ticket_update")
        assert await fake.list_templates() == []
        with pytest.raises(ProviderGraphError) as info:
            await fake.delete_template("ticket_update")
        assert info.value.code == 100

    asyncio.run(go())


def test_closed_fake_refuses() -> None:
    fake = FakeProvider()

    async def go() -> None:
        await fake.aclose()
        with pytest.raises(ProviderError):
            await fake.send(BODY)

    asyncio.run(go())
    assert fake.closed and fake.sent == []


def test_provider_errors_survive_pickle() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ProviderGraphError(GraphError.for_code(131026))))
    assert err.code == 131026 and not err.transient and err.error.http_status == 400
    timeout = pickle.loads(pickle.dumps(ProviderTimeout()))
    assert timeout.transient
