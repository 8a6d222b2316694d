"""The "done when" of the first-hour issue, run by ``make test``: scripts/newcomer clones this
checkout's committed HEAD, runs ``make run`` on a free port, plays the README's tour with curl,
restarts the server and plays it again, and runs the README's CLI examples from another directory.

It takes about 45 s (most of it installing the clone's own .venv), which is why it runs here rather
than only as ``make newcomer``. Uncommitted changes are not in the clone: it checks what is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_newcomer_follows_the_readme_without_a_deviation() -> None:
    missing = [tool for tool in ("git", "make", "curl", "bash") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"scripts/newcomer needs {', '.join(missing)}")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is nothing to clone")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "newcomer")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "all as the README says" in done.stdout
