"""scripts/newcomer (``make newcomer``) knows the README's tour as it is written: every command of
the tour's block, in order, is one the script checks. The full run (a clone, a fresh install, two
servers) is tests/acceptance/test_newcomer.py; this says in a second which README command the
script no longer knows, and checks how the tour's block is read."""

from __future__ import annotations

import re
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _newcomer() -> ModuleType:
    loader = SourceFileLoader("newcomer", str(ROOT / "scripts" / "newcomer"))
    spec = spec_from_loader("newcomer", loader)
    assert spec is not None
    module = module_from_spec(spec)
    sys.modules["newcomer"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def test_the_script_checks_every_command_of_the_readme_tour() -> None:
    newcomer = _newcomer()
    commands = newcomer.tour_commands((ROOT / "README.md").read_text())
    assert len(commands) == len(newcomer.TOUR)
    for command, (shape, _, _) in zip(commands, newcomer.TOUR, strict=True):
        assert re.search(shape, command, re.DOTALL), (shape, command)


def test_tour_commands_span_lines_while_a_quote_is_open() -> None:
    newcomer = _newcomer()
    readme = (
        "## A five-minute tour\n\n```sh\nA=1; B=2\n\n# a comment\ncurl -d '{\n  \"x\": 1}'\n"
        "curl -s -X PUT x \\\n  -d '{}'\necho done\n```\n"
    )
    assert newcomer.tour_commands(readme) == [
        "A=1; B=2",
        "curl -d '{\n  \"x\": 1}'",
        "curl -s -X PUT x \\\n  -d '{}'",
        "echo done",
    ]
    with pytest.raises(newcomer.Deviation, match="never ends"):
        newcomer.tour_commands("## A five-minute tour\n```sh\ncurl -d '{\n```\n")
