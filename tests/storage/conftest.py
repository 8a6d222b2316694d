"""Fixtures shared by the storage tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from carewindow.storage.engine import make_engine


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on this test's fresh database (``db_url``: SQLite and PostgreSQL)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
