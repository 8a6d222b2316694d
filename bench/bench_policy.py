"""Decisions per second of ``carewindow.policy.decide`` on one core.

(a) a session (text) message inside an open window; (b) a template with 3 named parameters.
Run ``python bench/bench_policy.py``; a harness can call :func:`run` for the rows.
Each loop cycles through 1,024 different ``now`` values so no result can be reused between calls.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carewindow.policy import (
    CareWindow,
    ConsentState,
    ConsentStatus,
    ContactState,
    Decision,
    PolicySettings,
    SendRequest,
    Template,
    TemplateCategory,
    TemplateRef,
    TemplateStatus,
    decide,
)

LAST_INBOUND = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOWS = [LAST_INBOUND + timedelta(minutes=1, seconds=i * 7) for i in range(1024)]


def _measure(call: Callable[[datetime], Decision], *, seconds: float) -> float:
    """Best of 3 rounds of ~``seconds`` each, in calls per second."""
    nows = NOWS
    batch = len(nows)
    best = 0.0
    for _ in range(3):
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for now in nows:
                call(now)
            done += batch
            elapsed = time.perf_counter() - start
            if elapsed >= seconds or time.perf_counter() >= deadline:
                break
        best = max(best, done / elapsed)
    return best


def run(seconds: float = 1.0) -> list[dict[str, object]]:
    """Measure both benchmarks and return one row each."""
    settings = PolicySettings()
    state = ContactState(
        wa_id="34600111222",
        window=CareWindow(last_inbound_at=LAST_INBOUND, opened_at=LAST_INBOUND),
        consent=ConsentState(status=ConsentStatus.OPTED_IN, source="web_form", updated_at=LAST_INBOUND),
    )
    session = SendRequest(to="34600111222", message_type="text")
    template = Template(
        name="ticket_update",
        language="es",
        category=TemplateCategory.UTILITY,
        status=TemplateStatus.APPROVED,
        body="Hola {{customer_name}}, tu ticket {{ticket_id}} está {{ticket_status}}.",
    )
    params = {"customer_name": "Ana", "ticket_id": "T-42", "ticket_status": "resuelto"}
    templated = SendRequest(
        to="34600111222",
        message_type="template",
        template=TemplateRef(name="ticket_update", language="es", params=params),
    )
    assert decide(session, state, template=None, settings=settings, now=NOWS[0]).allowed
    assert decide(templated, state, template=template, settings=settings, now=NOWS[0]).allowed

    def session_call(now: datetime) -> Decision:
        return decide(session, state, template=None, settings=settings, now=now)

    def template_call(now: datetime) -> Decision:
        return decide(templated, state, template=template, settings=settings, now=now)

    return [
        {
            "benchmark": "policy: session in open window",
            "value": round(_measure(session_call, seconds=seconds), 1),
            "unit": "decisions/s",
            "target": ">= 1,000,000",
        },
        {
            "benchmark": "policy: template with 3 named parameters",
            "value": round(_measure(template_call, seconds=seconds), 1),
            "unit": "decisions/s",
            "target": ">= 200,000",
        },
    ]


def main() -> None:
    """Print the rows as a small table."""
    for row in run():
        print(f"{row['benchmark']:<45} {row['value']:>14,.0f} {row['unit']}  (target {row['target']})")


if __name__ == "__main__":
    main()
