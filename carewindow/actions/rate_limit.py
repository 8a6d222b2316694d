"""A token bucket per business number (the platform's throughput limit, default 80 messages/s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    tokens: float
    updated_at: datetime


def take(bucket: Bucket, *, want: int, now: datetime, rate: float, burst: float) -> tuple[int, Bucket]:
    """Grant up to ``want`` tokens; pure, so every worker can apply it to the shared row."""
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    tokens = min(burst, bucket.tokens + elapsed * rate)
    granted = min(want, int(tokens))
    return granted, Bucket(tokens=tokens - granted, updated_at=now)


def wait_for(bucket: Bucket, *, rate: float) -> float:
    """Seconds until one more token is there."""
    return max(0.0, (1.0 - bucket.tokens) / rate)
