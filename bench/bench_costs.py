"""``carewindow costs simulate`` on a one-million-message log: parse the JSONL and replay it, one core.

The log mixes customer messages (30 %), session replies to customers who wrote recently (50 %) and
templates of every category (20 %) over 50,000 contacts and three months around the October 2026 era
change, so ``auto`` walks every code path.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from carewindow.policy import PolicySettings
from carewindow.policy.pricing import replay, summarise
from carewindow.storage.export import gc_paused, read_log

CATEGORIES = ("marketing", "utility", "authentication")


def write_log(path: Path, *, messages: int, contacts: int = 50_000, seed: int = 7) -> int:
    """Write a log with ``messages`` business messages (plus customer messages); returns the lines."""
    rnd = random.Random(seed)
    numbers = [f"{rnd.choice(('34', '55', '91', '1', '44'))}6{n:08d}" for n in range(contacts)]
    t = datetime(2026, 9, 1, tzinfo=UTC)
    step = timedelta(days=90) / (messages * 1.45)
    lines = out = 0
    # Like a real ledger: session replies go to customers who wrote recently (their window is open);
    # templates go to anyone.
    recent: deque[str] = deque(maxlen=2000)
    with open(path, "wb") as f:
        while out < messages:
            t += step
            r = rnd.random()
            reply = 0.3 <= r <= 0.8 and recent
            wa_id = recent[rnd.randrange(len(recent))] if reply else numbers[rnd.randrange(contacts)]
            if r < 0.3:
                recent.append(wa_id)
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


def simulate(path: Path, model: str) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, messages priced) to read ``path`` and replay it under ``model``
    (what ``costs simulate --from-file`` does). One thread: CPU seconds are seconds on one core, and
    stay meaningful on a machine shared with other work."""
    cpu, wall = time.process_time(), time.perf_counter()
    with gc_paused(), open(path, "rb") as f:
        entries, _recorded = read_log(f)
        totals = summarise(replay(entries, settings=PolicySettings(pricing_model=model)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, sum(t.messages for t in totals.values())


def run(*, messages: int = 1_000_000, models: tuple[str, ...] = ("auto", "meta_cbp")) -> list[dict[str, Any]]:
    """One row per model: CPU seconds (one core) to simulate ``messages`` business messages from a JSONL
    log, parse included; ``wall_s`` beside it."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        lines = write_log(path, messages=messages)
        for model in models:
            cpu, wall, priced = simulate(path, model)
            assert priced == messages
            rows.append(
                {
                    "benchmark": f"costs: simulate {messages / 1e6:g}M messages ({model})",
                    "value": round(cpu, 2),
                    "unit": "s",
                    "target": "< 10",
                    "wall_s": round(wall, 2),
                    "log_lines": lines,
                    "us_per_message": round(cpu / messages * 1e6, 2),
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
