"""carewindow's own Meta client (``providers.meta.MetaProvider``) pointed at the sandbox by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sandbox_support import CUSTOMER, PHONE_ID, TOKEN, WABA_ID, Env

from carewindow.providers.base import ProviderError
from carewindow.providers.meta import MetaProvider

pytestmark = pytest.mark.anyio

TEXT = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": CUSTOMER,
    "type": "text",
    "text": {"body": "Hola"},
}


@pytest.fixture
async def provider(env: Env) -> AsyncIterator[MetaProvider]:
    client = MetaProvider(
        base_url="http://sandbox.test/graph",
        graph_version="v23.0",
        token=TOKEN,
        phone_number_id=PHONE_ID,
        waba_id=WABA_ID,
        transport=httpx.ASGITransport(app=env.app),
    )
    yield client
    await client.aclose()


async def test_meta_provider_sends_and_reads_sandbox_errors(env: Env, provider: MetaProvider) -> None:
    with pytest.raises(ProviderError) as closed:
        await provider.send(TEXT)
    assert (closed.value.code, closed.value.transient) == (131047, False)
    await env.customer()
    result = await provider.send(TEXT)
    assert result.wamid == (await env.client.get("/sent")).json()[0]["wamid"]
    await env.client.post("/faults", json={"fail_next": 1, "status": 503, "code": 131000})
    with pytest.raises(ProviderError) as fault:
        await provider.send(TEXT)
    assert (fault.value.code, fault.value.transient) == (131000, True)


async def test_meta_provider_manages_templates_with_paging(env: Env, provider: MetaProvider) -> None:
    created: dict[str, Any] = dict(
        await provider.create_template(
            {
                "name": "hello",
                "language": "es",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "Hola"}],
            }
        )
    )
    assert created["status"] == "APPROVED"
    for i in range(120):  # more than the provider's page size of 100: it must follow paging.next
        await env.create_template(f"t{i:03d}", "Body")
    listed = await provider.list_templates()
    assert len(listed) == 121
    await provider.delete_template("hello")
    assert len(await provider.list_templates()) == 120
