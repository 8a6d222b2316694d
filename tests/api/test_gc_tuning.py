"""Serving processes run the collector less often (carewindow/gc_tuning.py, docs/performance-design.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from carewindow.gc_tuning import YOUNG_THRESHOLD


def test_the_serving_module_tunes_the_collector_in_its_process() -> None:
    # uvicorn imports carewindow.api.asgi in each serving process (``--workers`` children too): in a
    # fresh interpreter, importing it must leave the young-generation threshold at ours.
    code = textwrap.dedent(
        """
        import gc, os
        os.environ.setdefault("CAREWINDOW_DATABASE_URL", "sqlite://")
        before = gc.get_threshold()[0]
        import carewindow.api.asgi  # noqa: F401
        print(before, gc.get_threshold()[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    before, after = (int(v) for v in out.stdout.split()[-2:])
    assert before != YOUNG_THRESHOLD
    assert after == YOUNG_THRESHOLD
