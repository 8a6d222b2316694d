"""README.md's configuration table is generated from the settings class (scripts/settings-table)."""

from __future__ import annotations

import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

import pytest

from carewindow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "settings-table"


def _script() -> ModuleType:
    loader = SourceFileLoader("settings_table", str(SCRIPT))
    spec = spec_from_loader("settings_table", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_readme_table_is_what_the_settings_class_gives() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"| `CAREWINDOW_{name.upper()}` |" in readme, name
    for name in ("LOG_LEVEL", "LEASE_SECONDS", "MAX_ATTEMPTS"):  # the ones the table used to leave out
        assert f"`CAREWINDOW_{name}`" in readme


def test_a_stale_table_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    readme = (ROOT / "README.md").read_text()
    stale = tmp_path / "README.md"
    stale.write_text("\n".join(line for line in readme.splitlines() if "CAREWINDOW_LOG_LEVEL" not in line))
    monkeypatch.setattr(script, "README", stale)
    assert script.main(["--check"]) == 1
    assert script.main(["--write"]) == 0
    assert "`CAREWINDOW_LOG_LEVEL`" in stale.read_text()
    assert script.main(["--check"]) == 0


def test_a_setting_without_a_meaning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    monkeypatch.delitem(script.MEANINGS, "log_level")
    with pytest.raises(SystemExit, match=r"settings without a meaning.*log_level"):
        script.table()
    monkeypatch.setitem(script.MEANINGS, "log_level", "x")
    monkeypatch.setitem(script.MEANINGS, "no_such_setting", "x")
    with pytest.raises(SystemExit, match="no longer exist: no_such_setting"):
        script.table()
