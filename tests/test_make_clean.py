"""``make clean`` keeps the database and says so; ``make clean-all`` deletes it and says so first."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for path in (".venv/bin/python", ".pytest_cache/x", "var/carewindow.db", "var/dev-api-key"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    return tmp_path


def _make(tree: Path, target: str) -> str:
    r = subprocess.run(["make", "-s", target], cwd=tree, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def test_clean_keeps_the_database_and_says_so(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    out = _make(tree, "clean")
    assert not (tree / ".venv").exists() and not (tree / ".pytest_cache").exists()
    assert (tree / "var" / "carewindow.db").exists() and (tree / "var" / "dev-api-key").exists()
    assert "kept var/" in out and "make clean-all" in out


def test_clean_all_deletes_the_database_and_says_so(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    out = _make(tree, "clean-all")
    assert not (tree / "var").exists() and not (tree / ".venv").exists()
    assert "deleting var/" in out and "carewindow.db" in out and "dev-api-key" in out
    assert "var/" not in _make(tree, "clean-all")  # nothing left to delete: nothing said about it
