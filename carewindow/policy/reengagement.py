"""The re-engagement rule: after the window closes, at most N re-engagement templates until the
customer writes again (docs/rules.md, "Re-engagement and notifications").

A template the customer does not answer cannot open a window, so a business that keeps sending them to
continue a conversation is spamming. The counter goes up for each re-engagement template (which ones
count is ``decision.py``'s ``_reengages``) and goes back to zero on the first customer message at or
after the first of those templates, or when that first one is older than the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Reengagement", "record_reengagement", "reengagement_allowed", "reset_reengagement"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reengagement:
    """Templates sent since the window closed, and when the first of them went out."""

    templates_sent_since_close: int = 0
    first_sent_at: datetime | None = None


_NONE_SENT = Reengagement()


def _expired(reengagement: Reengagement, now: datetime | None, horizon: timedelta | None) -> bool:
    first = reengagement.first_sent_at
    return first is not None and now is not None and horizon is not None and now - first >= horizon


def reengagement_allowed(
    reengagement: Reengagement, *, limit: int, now: datetime | None = None, horizon: timedelta | None = None
) -> bool:
    """Whether one more re-engagement template may go out while the window is closed (``limit`` 0
    means no limit; with ``now`` and ``horizon``, templates first sent a horizon ago no longer count)."""
    return (
        limit <= 0 or reengagement.templates_sent_since_close < limit or _expired(reengagement, now, horizon)
    )


def record_reengagement(
    reengagement: Reengagement, *, at: datetime, horizon: timedelta | None = None
) -> Reengagement:
    """Count a re-engagement template sent at ``at`` (a count past the horizon starts over)."""
    if _expired(reengagement, at, horizon):
        return Reengagement(templates_sent_since_close=1, first_sent_at=at)
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
