"""Window analytics: how customers' messages were answered, read off a message log (pure, one pass).

Each event is one message of one contact, in time order per contact. A customer message is *answered in
the window* when the business's next message goes out while the window (extended by any later customer
message) is still open; a window *expired unanswered* when it closed with a customer message waiting.
Templates sent after such a window, before the customer writes again, are *late-reply templates*: their
charges are spend that a reply inside the window would have avoided.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

__all__ = ["WindowEvent", "WindowStats", "window_analytics"]


class WindowEvent(NamedTuple):
    """One message: ``contact`` is any key of the (number, customer) pair."""

    contact: Hashable
    outbound: bool
    at: datetime
    template: bool = False
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(slots=True, kw_only=True)
class WindowStats:
    """What :func:`window_analytics` counts. ``awaiting`` are customer messages whose window is still
    open and not yet answered; the share leaves them out."""

    customer_messages: int = 0
    answered_in_window: int = 0
    answered_late: int = 0
    unanswered: int = 0
    awaiting: int = 0
    windows_expired_unanswered: int = 0
    first_reply_seconds: list[float] = field(default_factory=list)
    late_templates: int = 0
    late_template_spend: dict[str, Decimal] = field(default_factory=dict)

    @property
    def answered_in_window_share(self) -> float | None:
        """Answered in the window / customer messages that are no longer awaiting; None when none."""
        decided = self.customer_messages - self.awaiting
        return self.answered_in_window / decided if decided else None

    @property
    def median_first_reply_seconds(self) -> float | None:
        """Median time from the first waiting customer message to the business's next message."""
        return statistics.median(self.first_reply_seconds) if self.first_reply_seconds else None


def window_analytics(events: Iterable[WindowEvent], *, window: timedelta, now: datetime) -> WindowStats:
    """Count answers, expiries and late-reply template spend over ``events`` (grouped by contact, each
    contact's events in time order). ``now`` decides whether a still-waiting message's window closed."""
    stats = WindowStats()
    current: Hashable = object()
    pending: list[datetime] = []
    last_in: datetime | None = None
    missed = False

    def close_contact() -> None:
        if pending and last_in is not None:
            if now >= last_in + window:
                stats.windows_expired_unanswered += 1
                stats.unanswered += len(pending)
            else:
                stats.awaiting += len(pending)

    for contact, outbound, at, template, amount, currency in events:
        if contact != current:
            close_contact()
            current, pending, last_in, missed = contact, [], None, False
        if not outbound:
            stats.customer_messages += 1
            if pending and last_in is not None and at >= last_in + window:
                stats.windows_expired_unanswered += 1
                stats.unanswered += len(pending)
                pending = []
            pending.append(at)
            last_in = at if last_in is None or at > last_in else last_in
            missed = False
            continue
        closed = last_in is None or at >= last_in + window
        if pending:
            if not closed:
                stats.answered_in_window += len(pending)
            else:
                stats.windows_expired_unanswered += 1
                stats.answered_late += len(pending)
                missed = True
            stats.first_reply_seconds.append((at - pending[0]).total_seconds())
            pending = []
        if missed and template and closed:
            stats.late_templates += 1
            if amount and currency:
                stats.late_template_spend[currency] = (
                    stats.late_template_spend.get(currency, Decimal(0)) + amount
                )
    close_contact()
    return stats
