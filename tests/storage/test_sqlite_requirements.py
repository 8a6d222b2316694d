"""SQLite builds carewindow cannot work with are refused when the engine is made, with the reason."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from carewindow.storage import engine as engine_module
from carewindow.storage.engine import make_engine


class _NoJson:
    def execute(self, sql: str, *_: Any) -> None:
        if "json_each" in sql:
            raise sqlite3.OperationalError("no such table: json_each")

    def close(self) -> None:
        pass


def test_sqlite_without_json_functions_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine_module.sqlite3, "connect", lambda *_a, **_k: _NoJson())
    with pytest.raises(RuntimeError, match=r"no JSON functions.*3\.38"):
        make_engine(f"sqlite:///{tmp_path}/x.db")
