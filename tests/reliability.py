"""Reliability results: tests record what they tried and what happened, scripts/reliability-report
renders them into docs/reliability.md, so the table there is always the one the tests produced.

Rows live in ``var/reliability-results.json`` keyed by a stable id; a rerun replaces its row. Writes take
an exclusive file lock because pytest-xdist workers record at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("CAREWINDOW_RELIABILITY_RESULTS", ROOT / "var" / "reliability-results.json"))


def record(
    row_id: str,
    *,
    area: str,
    fault: str,
    cases: int,
    result: str,
    test: str,
    **numbers: Any,
) -> None:
    """Add or replace one row: ``fault`` tried ``cases`` times, with ``result`` in plain words."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        except json.JSONDecodeError:
            rows = {}
        rows[row_id] = {
            "area": area,
            "fault": fault,
            "cases": cases,
            "result": result,
            "test": test,
            **numbers,
        }
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        tmp.replace(RESULTS)
