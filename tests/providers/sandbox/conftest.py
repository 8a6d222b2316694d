"""Fixtures: the sandbox in process over httpx, with a callback receiver that checks signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sandbox_support import CALLBACK, SECRET, START, TOKEN, Clock, Env, Receiver

from carewindow.providers.sandbox import SandboxConfig, create_sandbox_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


EnvFactory = Callable[..., Any]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    """Build an Env with config overrides; everything is closed when the test ends."""
    opened: list[Env] = []

    async def factory(**overrides: Any) -> Env:
        receiver = Receiver()
        clock = Clock(START)
        options: dict[str, Any] = {
            "access_token": TOKEN,
            "callback_url": CALLBACK,
            "app_secret": SECRET,
            "status_delays": (0, 0, 0),
            "callback_backoff": 0,
            "clock": clock,
            "base_url": "http://sandbox.test/graph",
        }
        config = SandboxConfig(**(options | overrides))
        app = create_sandbox_app(
            config,
            http_client_factory=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)),
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test")
        env = Env(app=app, sandbox=app.state.sandbox, client=client, receiver=receiver, clock=clock)
        opened.append(env)
        return env

    yield factory
    for env in opened:
        await env.sandbox.aclose()
        await env.client.aclose()


@pytest.fixture
async def env(make_env: EnvFactory) -> Env:
    result: Env = await make_env()
    return result
