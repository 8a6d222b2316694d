"""Public identifiers: prefixed, time-sortable, unguessable."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    # 12 hex digits of milliseconds keep ids roughly ordered by creation; 10 random bytes keep them unique.
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(10).hex()}"
