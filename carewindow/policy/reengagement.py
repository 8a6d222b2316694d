"""The re-engagement rule: after the window closes, at most N templates until the customer writes again.

A template the customer does not answer cannot open a window, so a business that keeps sending them is
spamming. The counter goes up for each template sent while the window is closed and goes back to zero on
the first customer message at or after the first of those templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Reengagement", "record_reengagement", "reengagement_allowed", "reset_reengagement"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reengagement:
    """Templates sent since the window closed, and when the first of them went out."""

    templates_sent_since_close: int = 0
    first_sent_at: datetime | None = None


_NONE_SENT = Reengagement()


def reengagement_allowed(reengagement: Reengagement, *, limit: int) -> bool:
    """Whether one more template may go out while the window is closed (``limit`` 0 means no limit)."""
    return limit <= 0 or reengagement.templates_sent_since_close < limit


def record_reengagement(reengagement: Reengagement, *, at: datetime) -> Reengagement:
    """Count a template sent at ``at`` while the window was closed."""
    first = reengagement.first_sent_at
    return Reengagement(
        templates_sent_since_close=reengagement.templates_sent_since_close + 1,
        first_sent_at=at if first is None or at < first else first,
    )


def reset_reengagement(reengagement: Reengagement, *, customer_message_at: datetime) -> Reengagement:
    """Start over when the customer writes at or after the first re-engagement template."""
    first = reengagement.first_sent_at
    if first is None or customer_message_at < first:
        return reengagement
    return _NONE_SENT
