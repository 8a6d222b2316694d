"""When to try a failed send again: a pure function of the attempt count and the error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryDecision:
    retry: bool
    at: datetime | None = None


def next_attempt(
    *,
    attempts: int,
    transient: bool,
    now: datetime,
    max_attempts: int,
    jitter: float,
    base: float = 1.0,
    cap: float = 300.0,
    min_delay: float | None = None,
) -> RetryDecision:
    """Exponential backoff with full jitter (``jitter`` in [0, 1) comes from the caller's RNG).

    Full jitter spreads retries of a burst that failed together (a 130429 throughput error hits
    every in-flight message at once) so they do not all come back in the same instant. ``min_delay``
    is the least wait the error itself asks for (``ErrorSpec.retry_after``).
    """
    if not transient or attempts >= max_attempts:
        return RetryDecision(retry=False)
    delay = min(cap, base * (2 ** (attempts - 1))) * (0.5 + jitter / 2)
    if min_delay is not None:  # the error says how long the same request keeps failing (e.g. 131056: 6 s)
        delay = max(delay, min_delay)
    return RetryDecision(retry=True, at=now + timedelta(seconds=delay))
