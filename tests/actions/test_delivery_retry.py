"""actions.delivery_retry: the worker's transactions are redone when the database picks them as a
deadlock victim, and only then."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from carewindow.actions import delivery, delivery_retry
from carewindow.storage.errors import StorageError


def _flaky(failures: list[StorageError]) -> tuple[list[int], Callable[..., int]]:
    calls: list[int] = []

    def work(n: int, *, times: int) -> int:
        calls.append(n)
        if failures:
            raise failures.pop(0)
        return n * times

    return calls, work


def test_a_deadlock_victim_is_redone_with_the_same_arguments() -> None:
    calls, work = _flaky([StorageError("deadlock detected", retryable=True)] * 2)
    assert delivery_retry._redone(work)(3, times=2) == 6
    assert calls == [3, 3, 3]


def test_other_errors_are_not_redone() -> None:
    calls, work = _flaky([StorageError("syntax error")])
    with pytest.raises(StorageError, match="syntax error"):
        delivery_retry._redone(work)(1, times=1)
    assert calls == [1]


def test_the_wrappers_keep_the_signatures_of_the_delivery_actions() -> None:
    for name in ("claim", "mark_in_flight", "record"):
        assert inspect.signature(getattr(delivery_retry, name)) == inspect.signature(getattr(delivery, name))
