"""The delivery worker's three transactions (``actions.delivery``: claim, stamp in flight, record),
each redone when PostgreSQL aborts it to break a deadlock (``storage.engine.retry_tx``). A lost
``record`` would turn a sent message into an ``uncertain`` one. Same signatures as the originals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from carewindow.actions import delivery
from carewindow.storage.engine import retry_tx

P = ParamSpec("P")
T = TypeVar("T")


def _redone(fn: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return retry_tx(lambda: fn(*args, **kwargs))

    return run


claim = _redone(delivery.claim)
mark_in_flight = _redone(delivery.mark_in_flight)
record = _redone(delivery.record)
