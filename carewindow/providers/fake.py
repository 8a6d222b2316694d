"""An in-memory ``Provider`` with scripted answers, for unit tests of the worker and actions.

A real fake in the spirit of ``httpx.MockTransport``: no patching, every call is recorded, and the
next answers are whatever the test queued::

    fake = FakeProvider()
    fake.push(ProviderGraphError(GraphError.for_code(131047)))   # first send fails
    fake.push(SendResult(wamid="wamid.A"))                       # second succeeds
    # any further send gets a fresh wamid
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from carewindow.providers.base import ProviderError, ProviderGraphError, SendResult
from carewindow.wire.graph_errors import GraphError

__all__ = ["Answer", "FakeProvider"]

Answer: TypeAlias = SendResult | str | BaseException | Callable[[Mapping[str, object]], SendResult]
"""A scripted send answer: a result, a bare wamid, an exception to raise, or a function of the body."""


class FakeProvider:
    """``Provider`` that answers sends from a queue and keeps templates in a dict."""

    def __init__(self, answers: Iterable[Answer] = (), *, template_status: str = "APPROVED") -> None:
        self._answers: deque[Answer] = deque(answers)
        self._ids = itertools.count(1)
        self._template_ids = itertools.count(100_000_001)
        self.sent: list[Mapping[str, object]] = []
        self.endpoints: list[str] = []  # the endpoint of each send, in order
        """Every body given to ``send`` (accepted or not), in call order."""
        self.accepted: list[SendResult] = []
        self.templates: dict[tuple[str, str], dict[str, object]] = {}
        """Templates by (name, language), as ``list_templates`` returns them."""
        self.template_status = template_status
        self.closed = False

    def push(self, *answers: Answer) -> None:
        """Queue answers for the next sends."""
        self._answers.extend(answers)

    @property
    def pending(self) -> int:
        """Scripted answers not yet used."""
        return len(self._answers)

    def next_wamid(self) -> str:
        """A fresh, unique wamid in Meta's style."""
        return f"wamid.FAKE{next(self._ids):012d}"

    async def send(self, body: Mapping[str, object], *, endpoint: str = "messages") -> SendResult:
        """Record ``body`` (and its endpoint) and answer with the next scripted answer (default: a
        fresh wamid)."""
        self._check_open()
        self.sent.append(body)
        self.endpoints.append(endpoint)
        answer: Answer = self._answers.popleft() if self._answers else self.next_wamid()
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            result = SendResult(wamid=answer, raw=_send_response(body, answer))
        elif isinstance(answer, SendResult):
            result = answer
        else:
            result = answer(body)
        self.accepted.append(result)
        return result

    async def list_templates(self) -> list[Mapping[str, object]]:
        """Copies of the stored templates."""
        self._check_open()
        return [dict(t) for t in self.templates.values()]

    async def create_template(self, definition: Mapping[str, object]) -> Mapping[str, object]:
        """Store the template with ``template_status``; 100 if it already exists, like Meta."""
        self._check_open()
        name, language = str(definition.get("name", "")), str(definition.get("language", ""))
        if (name, language) in self.templates:
            raise ProviderGraphError(
                GraphError.for_code(100, details=f"Content in this language already exists: {name}")
            )
        tid = str(next(self._template_ids))
        category = str(definition.get("category", "")).upper()
        self.templates[(name, language)] = {
            **definition,
            "id": tid,
            "status": self.template_status,
            "category": category,
        }
        return {"id": tid, "status": self.template_status, "category": category}

    async def delete_template(self, name: str) -> None:
        """Remove every language of ``name``; Meta's 100 error when there is none."""
        self._check_open()
        keys = [k for k in self.templates if k[0] == name]
        if not keys:
            raise ProviderGraphError(GraphError.for_code(100, details=f"Template {name} not found"))
        for k in keys:
            del self.templates[k]

    async def aclose(self) -> None:
        """Mark closed; later calls raise."""
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise ProviderError("provider is closed")


def _send_response(body: Mapping[str, object], wamid: str) -> dict[str, object]:
    to = str(body.get("to", ""))
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
        "messages": [{"id": wamid}],
    }
