"""Test-suite hygiene that pytest itself does not check."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).parent


def test_no_test_imports_conftest() -> None:
    # Several conftest.py files exist; "import conftest" picks one by import order (and under xdist,
    # by chance). Shared helpers live in uniquely named modules such as service_support.py.
    offenders = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*.py")
        if any(line.startswith("from conftest import") for line in p.read_text().splitlines())
    ]
    assert offenders == []


def test_test_module_names_are_unique() -> None:
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_subscription_event_names_match_the_events_sent() -> None:
    from typing import get_args

    from carewindow.actions.fanout import EVENT as FANOUT_EVENT
    from carewindow.actions.outgoing import EVENT_TYPES
    from carewindow.api.schemas import SUBSCRIPTION_EVENTS

    # The events actions/outgoing.py sends, and the raw webhooks actions/fanout.py forwards.
    assert set(get_args(SUBSCRIPTION_EVENTS)) == {*EVENT_TYPES, FANOUT_EVENT}
