"""``carewindow costs simulate`` on a one-million-message log: parse the JSONL and replay it, one core.

The log mixes customer messages (30 %), session replies and templates of every category over 50,000
contacts and three months around the October 2026 era change, so ``auto`` walks every code path.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from carewindow.policy import PolicySettings
from carewindow.policy.pricing import replay, summarise
from carewindow.storage.export import read_log

CATEGORIES = ("marketing", "utility", "authentication")


def write_log(path: Path, *, messages: int, contacts: int = 50_000, seed: int = 7) -> int:
    """Write a log with ``messages`` business messages (plus customer messages); returns the lines."""
    rnd = random.Random(seed)
    numbers = [f"{rnd.choice(('34', '55', '91', '1', '44'))}6{n:08d}" for n in range(contacts)]
    t = datetime(2026, 9, 1, tzinfo=UTC)
    step = timedelta(days=90) / (messages * 1.45)
    lines = out = 0
    with open(path, "wb") as f:
        while out < messages:
            t += step
            wa_id = numbers[rnd.randrange(contacts)]
            r = rnd.random()
            if r < 0.3:
                obj: dict[str, Any] = {
                    "direction": "in",
                    "phone_number_id": "100000000000001",
                    "wa_id": wa_id,
                    "at": t.isoformat(),
                    "referral": r < 0.003,
                }
            else:
                out += 1
                template = r > 0.8
                obj = {
                    "direction": "out",
                    "id": f"msg_{out}",
                    "phone_number_id": "100000000000001",
                    "wa_id": wa_id,
                    "at": t.isoformat(),
                    "kind": "template" if template else "session",
                    "category": rnd.choice(CATEGORIES) if template else None,
                    "charge": {
                        "pricing_model": "seed",
                        "category": "service",
                        "billable": False,
                        "amount": "0",
                        "currency": "USD",
                        "market": "ES",
                        "reason": "free_in_window",
                    },
                }
            f.write(orjson.dumps(obj) + b"\n")
            lines += 1
    return lines


def simulate(path: Path, model: str) -> tuple[float, int]:
    """Seconds to read ``path`` and replay it under ``model`` (what ``costs simulate --from-file`` does)."""
    started = time.perf_counter()
    with open(path, "rb") as f:
        entries, _recorded = read_log(f)
    totals = summarise(replay(entries, settings=PolicySettings(pricing_model=model)))
    elapsed = time.perf_counter() - started
    return elapsed, sum(t.messages for t in totals.values())


def run(*, messages: int = 1_000_000, models: tuple[str, ...] = ("auto", "meta_cbp")) -> list[dict[str, Any]]:
    """One row per model: seconds to simulate ``messages`` business messages from a JSONL log."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        lines = write_log(path, messages=messages)
        for model in models:
            seconds, priced = simulate(path, model)
            assert priced == messages
            rows.append(
                {
                    "benchmark": f"costs: simulate {messages / 1e6:g}M messages ({model})",
                    "value": round(seconds, 2),
                    "unit": "s",
                    "target": "< 10",
                    "log_lines": lines,
                    "us_per_message": round(seconds / messages * 1e6, 2),
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
