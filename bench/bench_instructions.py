"""Instructions per event of the ingest hot path's Python code, counted by valgrind's callgrind.

Rates and CPU times on a shared 2-core machine drift by ±20 % or more between runs (and by 2-3x
between machines); instruction counts do not: the same code, inputs and hash seed give the same count
to a few parts in ten thousand, whatever else the machine is doing. They are the A/B measure for a
change of a few per cent. Two paths, each the difference between a long and a short run in one fresh
process (so start-up and warm-up cancel out), divided by the events in between:

- the request thread's share: signature check and ``parse_webhook`` of each body;
- the group commit's share: ``do_ingest_batch`` on batches of 24 webhooks, one transaction each, on
  a fresh copy of a seeded database (the database's own work is in another process on PostgreSQL and
  not counted; on SQLite it is in process and counted).

The bodies are the ingest bench's mix (1 customer message : 3 statuses) at a fixed time. Needs
valgrind (Debian's package); the part is skipped with a note when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import common

NOW = 1_795_000_000  # fixed, so every run parses and stores the same bytes
SIZE = 24
WARM = 8  # batches before counting: prepared statements, caches
SHORT, LONG = 4, 24  # measured batches (or passes over the bodies) of the two runs
BODIES = SIZE * (WARM + LONG)


def _bodies() -> list[bytes]:
    return common.webhook_mix(BODIES, contacts=5000, now=NOW).bodies


def _count(argv: list[str]) -> int:
    """Instructions callgrind counted for ``python -m bench.bench_instructions <argv>``."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    out = subprocess.run(
        [*cmd, "-m", "bench.bench_instructions", *argv],
        cwd=common.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def _per_event(counts: dict[int, int], events_per_step: int) -> int:
    return round((counts[LONG] - counts[SHORT]) / ((LONG - SHORT) * events_per_step))


def _both(argv: Callable[[int], list[str]]) -> dict[int, int]:
    """The short and the long run's counts, side by side (one per core)."""
    with ThreadPoolExecutor(2) as pool:
        futures = {n: pool.submit(_count, argv(n)) for n in (SHORT, LONG)}
        return {n: f.result() for n, f in futures.items()}


def parse_row() -> dict[str, Any]:
    counts = _both(lambda n: ["parse", str(n)])
    return {
        "benchmark": "instructions: signature check + parse_webhook (request thread)",
        "value": _per_event(counts, BODIES),
        "unit": "instructions/webhook",
        "target": "(A/B measure)",
    }


def batch_row(kind: str) -> dict[str, Any]:
    with common.database(kind) as seeded:
        common.migrate(seeded)
        common.seed_outbound(seeded, messages=BODIES, contacts=5000, now_ts=NOW)
        if kind == "postgresql":
            with psycopg.connect(common.plain_url(seeded), autocommit=True) as conn:
                conn.execute("ANALYZE")
        with _copy(kind, seeded, "a") as short, _copy(kind, seeded, "b") as long:
            counts = _both(lambda n: ["batch", short if n == SHORT else long, str(n)])
    where = "in process, SQLite's own work included" if kind == "sqlite" else "PostgreSQL's work not included"
    return {
        "benchmark": f"instructions: ingest write path {kind}, {SIZE} webhooks per commit ({where})",
        "value": _per_event(counts, SIZE),
        "unit": "instructions/event",
        "target": "(A/B measure)",
    }


class _copy:
    """A fresh copy of the seeded database (each run stores the same webhooks anew)."""

    def __init__(self, kind: str, seeded: str, suffix: str) -> None:
        self.kind, self.seeded, self.suffix = kind, seeded, suffix

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            self.tmp = Path(tempfile.mkdtemp(prefix="cw-bench-"))
            source = Path(self.seeded.removeprefix("sqlite:///"))
            for f in source.parent.glob(source.name + "*"):  # with any -wal / -shm beside it
                shutil.copy(f, self.tmp / f.name.replace(source.name, "b.db"))
            return f"sqlite:///{self.tmp}/b.db"
        admin = common.plain_url(common.PG_URL)
        self.name = f"{self.seeded.rsplit('/', 1)[1]}_{self.suffix}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.seeded.rsplit("/", 1)[1]}"')
        return admin.rsplit("/", 1)[0] + "/" + self.name

    def __exit__(self, *exc: object) -> None:
        if self.kind == "sqlite":
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        with psycopg.connect(common.plain_url(common.PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run(*, databases: tuple[str, ...] = ("sqlite", "postgresql")) -> list[dict[str, Any]]:
    if shutil.which("valgrind") is None:
        note = "skipped: valgrind is not installed (Debian package valgrind)"
        return [{"benchmark": "instructions", "value": None, "unit": note}]
    rows = [parse_row()]
    for kind in databases:
        if kind == "postgresql" and not common.pg_available():
            continue
        rows.append(batch_row(kind))
    return rows


# ------------------------------------------------------------------------ the counted child processes


def _child_parse(passes: int) -> None:
    from carewindow.wire import signature
    from carewindow.wire.webhook import parse_webhook

    bodies = _bodies()
    signed = [(b, signature.sign(b, common.SECRET)) for b in bodies]
    for _ in range(passes):
        for body, sig in signed:
            if not signature.verify(body, sig, common.SECRET):
                raise SystemExit("signature check failed")
            parse_webhook(body)


def _child_batch(url: str, batches: int) -> None:
    from carewindow.actions.ingest import IngestJob, do_ingest_batch
    from carewindow.policy import PolicySettings
    from carewindow.storage.engine import HeldConnection, make_engine
    from carewindow.wire.webhook import parse_webhook

    at = datetime.fromtimestamp(NOW, UTC)
    jobs = [IngestJob(body=b, batch=parse_webhook(b), received_at=at) for b in _bodies()]
    engine = make_engine(url)
    held = HeldConnection(engine)  # as the group commit's thread keeps its connection
    settings = PolicySettings()
    try:
        for b in range(WARM + batches):
            with held.write_tx() as conn:
                do_ingest_batch(conn, jobs[b * SIZE : (b + 1) * SIZE], settings=settings)
    finally:
        held.close()
        engine.dispose()


if __name__ == "__main__":
    if sys.argv[1] == "parse":
        _child_parse(int(sys.argv[2]))
    else:
        _child_batch(sys.argv[2], int(sys.argv[3]))
