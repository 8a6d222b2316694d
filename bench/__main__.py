"""``python -m bench [part ...]``: run the benchmarks, print one table, write bench/results.json.

Parts: ceiling+ingest (``ingest``), the ingest write path alone (``batch``), its instruction
counts (``instructions``), ``delivery``, ``policy``, ``scale``, ``media`` (ingestion with 20 % media
messages next to all text), the Graph gateway and the webhook fan-out (``gateway``); default all. See
docs/performance.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import common

PARTS = ("policy", "batch", "instructions", "ingest", "delivery", "scale", "media", "gateway")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("parts", nargs="*", default=list(PARTS), help=f"any of {PARTS}")
    ap.add_argument("--seconds", type=float, default=10, help="wrk duration per ingestion run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--messages", type=int, default=6000, help="messages per delivery run")
    ap.add_argument("--workers", default="1,3", help="delivery worker counts, comma-separated")
    ap.add_argument("--sizes", default="10000,1000000", help="contact counts for the scale part")
    ap.add_argument("--db", default="sqlite,postgresql", help="databases for ingest and scale")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the ingest and delivery parts; each row shows the median run and every run's value",
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results.json"))
    args = ap.parse_args()
    dbs = tuple(d for d in args.db.split(",") if d)
    rows: list[dict[str, Any]] = []
    started = time.time()
    load_before = common.load_average()
    speed_before = common.python_loop_seconds()
    for part in args.parts:
        try:
            runs = args.repeat if part in REPEATED else 1
            rows.extend(_median_rows([_part_rows(part, args, dbs) for _ in range(max(1, runs))]))
        except Exception as exc:  # one broken part must not lose the others' figures
            rows.append(
                {"benchmark": part, "value": None, "unit": f"failed: {type(exc).__name__}: {exc}"[:300]}
            )
    _report(rows, args, started, load_before, speed_before)


REPEATED = ("ingest", "delivery", "media")  # rates on a shared 2-core machine drift by ±20 % minute to minute


def _part_rows(part: str, args: Any, dbs: tuple[str, ...]) -> list[dict[str, Any]]:
    if part == "policy":
        from bench import bench_policy

        return bench_policy.run()
    if part == "batch":
        from bench import bench_batch

        return bench_batch.run(databases=dbs)
    if part == "instructions":
        from bench import bench_instructions

        return bench_instructions.run(databases=dbs)
    if part == "ingest":
        from bench import bench_ingest

        return bench_ingest.run(seconds=args.seconds, connections=args.connections, databases=dbs)
    if part == "delivery":
        from bench import bench_delivery

        workers = tuple(int(w) for w in args.workers.split(","))
        return bench_delivery.run(messages=args.messages, workers=workers)
    if part == "scale":
        from bench import bench_scale

        sizes = tuple(int(s) for s in args.sizes.split(","))
        return bench_scale.run(sizes=sizes, databases=dbs)
    if part == "media":
        from bench import bench_media

        return bench_media.run(seconds=args.seconds, connections=args.connections, databases=dbs)
    if part == "gateway":
        from bench import bench_gateway

        return bench_gateway.run(messages=min(args.messages, 400), databases=dbs)
    raise ValueError(f"unknown part {part!r}; choose from {PARTS}")


def _median_rows(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per benchmark: the run with the median value (its details kept), plus every run's value."""
    if len(runs) == 1:
        return runs[0]
    out = []
    for i, row in enumerate(runs[0]):
        same = [r[i] for r in runs if i < len(r) and r[i]["benchmark"] == row["benchmark"]]
        numeric = [r for r in same if isinstance(r.get("value"), int | float)]
        if len(numeric) < 2:
            out.append(row)
            continue
        numeric.sort(key=lambda r: r["value"])
        median = dict(numeric[(len(numeric) - 1) // 2])
        median["runs"] = [r["value"] for r in numeric]
        out.append(median)
    return out


def _report(
    rows: list[dict[str, Any]], args: Any, started: float, load_before: float, speed_before: float
) -> None:
    table = Table(title="carewindow benchmarks")
    for col in ("benchmark", "value", "unit", "details", "target"):
        table.add_column(col, overflow="fold")
    for r in rows:
        details = ", ".join(
            f"{k}={v}" for k, v in r.items() if k not in ("benchmark", "value", "unit", "target")
        )
        value = r.get("value")
        table.add_row(
            str(r["benchmark"]),
            f"{value:,}" if isinstance(value, int | float) else str(value),
            str(r.get("unit", "")),
            details,
            str(r.get("target", "")),
        )
    Console().print(table)
    meta = {
        "started": started,
        "seconds": round(time.time() - started, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # This machine's speed for plain Python, to compare absolute figures across machines (and
        # across the run: a shared host's speed drifts).
        "python_loop_seconds_before": speed_before,
        "python_loop_seconds_after": common.python_loop_seconds(),
        "syscall_us": common.syscall_microseconds(),
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")
    print(
        f"wrote {args.out} (load average {load_before:.2f} -> {meta['load_average_after']:.2f}; "
        f"Python loop {speed_before} -> {meta['python_loop_seconds_after']} s)"
    )


if __name__ == "__main__":
    main()
