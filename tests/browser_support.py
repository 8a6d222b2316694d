"""Headless Chromium for the browser tests: Debian's package, driven by Playwright (never a download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_marks(group: str) -> list[pytest.MarkDecorator]:
    """A browser module's ``pytestmark``: skipped with the reason when Chromium is missing, and kept on
    one xdist worker (``--dist loadgroup``) so that its tests share one server."""
    marks = [
        pytest.mark.browser,
        pytest.mark.skipif(
            not Path(CHROMIUM).exists(),
            reason=f"{CHROMIUM} is missing: run scripts/browser to install Debian's chromium package",
        ),
    ]
    if os.environ.get("PYTEST_XDIST_WORKER"):
        marks.append(pytest.mark.xdist_group(group))
    return marks
