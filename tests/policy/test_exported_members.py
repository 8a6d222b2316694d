"""``carewindow.policy.__all__`` is the library's API: complete, sorted, documented."""

from __future__ import annotations

import inspect
import re

import carewindow.policy as policy


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    if re.fullmatch(r"[A-Z0-9_]+", name):
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    assert policy.__all__ == sorted(policy.__all__, key=_isort_key)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(policy).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == set(policy.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(policy.__all__) == len(set(policy.__all__))


def test_every_exported_class_and_function_has_a_docstring() -> None:
    for name in policy.__all__:
        value = getattr(policy, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
