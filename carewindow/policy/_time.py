"""Small time helpers shared by the policy modules (no clock reads here: ``now`` is always passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

ONE_SECOND = timedelta(seconds=1)


def require_aware(value: datetime, name: str) -> None:
    """Reject a naive datetime: the policy compares instants, and a naive one is not an instant."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {value.isoformat()}")


def fmt_utc(value: datetime) -> str:
    """``2026-11-23 09:00 UTC``: how refusal messages show a moment."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(delta: timedelta) -> str:
    """A rough human duration: ``45 s``, ``12 min``, ``3 h``, ``4 days``."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
