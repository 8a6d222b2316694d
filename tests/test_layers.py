"""Imports go one way: policy -> wire -> storage, providers -> actions -> api, worker, web, cli."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "carewindow"

# What each layer may import from carewindow (besides itself).
ALLOWED: dict[str, set[str]] = {
    "policy": set(),
    "wire": {"policy"},
    "storage": {"policy", "wire"},
    "providers": {"policy", "wire"},
    "actions": {"policy", "wire", "storage", "providers", "settings"},
    "worker": {"policy", "wire", "storage", "providers", "actions", "settings"},
    # gc_tuning: process settings for the long-running entry points (serve, worker, sandbox).
    "api": {"policy", "wire", "storage", "providers", "actions", "settings", "worker", "web", "gc_tuning"},
    "web": {"policy", "wire", "storage", "providers", "actions", "settings"},
    "cli": {
        "policy",
        "wire",
        "storage",
        "providers",
        "actions",
        "settings",
        "worker",
        "api",
        "web",
        "gc_tuning",
    },
}
POLICY_THIRD_PARTY = {"phonenumbers"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer_files() -> list[tuple[str, Path]]:
    return [
        (layer, p)
        for layer in ALLOWED
        for p in sorted((PACKAGE / layer).rglob("*.py"))
        if "migrations" not in p.parts
    ]


@pytest.mark.parametrize(("layer", "path"), _layer_files(), ids=lambda v: str(v))
def test_imports_point_inwards(layer: str, path: Path) -> None:
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "carewindow" and len(parts) > 1 and parts[1] != layer:
            assert parts[1] in ALLOWED[layer], f"{path.relative_to(PACKAGE)} imports {name}"
        if layer == "policy" and parts[0] != "carewindow":
            stdlib = parts[0] in sys.stdlib_module_names or parts[0] == "__future__"
            assert stdlib or parts[0] in POLICY_THIRD_PARTY, f"policy may not import {name}"
