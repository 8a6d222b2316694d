"""Webhook ingestion with media: the same runs as ``batch`` and ``ingest`` with 20 % of the customer
messages photos (each writes its media fetch job in the ingest transaction, actions/media.py), next
to the all-text runs, so the rows read as a comparison (issue 20: within 10 %).

The fetch itself (Graph API download, store) is the worker's and is not measured here: the webhook's
200 never waits for it. ``python -m bench media`` (``--db``, ``--seconds``; ``--events`` is fixed at
the batch part's 6000).
"""

from __future__ import annotations

from typing import Any

from bench import bench_batch, bench_ingest, common

SHARE = 0.2


def run(
    *,
    seconds: float = 10,
    connections: int = 64,
    databases: tuple[str, ...] = ("sqlite", "postgresql"),
    events: int = 6000,
    size: int = 24,
    http: bool = True,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            rows.append({"benchmark": "media postgresql", "value": None, "unit": "skipped: no PostgreSQL"})
            continue
        for media in (0.0, SHARE):
            row = bench_batch.batch(kind, events=events, size=size, media=media)
            row["benchmark"] = f"media: {row['benchmark']}" + ("" if media else ", all text")
            rows.append(row)
        if not http:
            continue
        for media in (0.0, SHARE):
            for row in bench_ingest.ingest(
                kind,
                seconds=seconds,
                connections=connections,
                fixed_rate=1000,
                fixed_seconds=min(seconds, 10),
                ceiling_rps=0,
                media=media,
            ):
                label = f"{media:.0%} of the customer messages media" if media else "all text"
                row["benchmark"] = f"media: {row['benchmark']} ({label})"
                rows.append(row)
    return rows
