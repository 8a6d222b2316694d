"""Knobs of the sandbox. Defaults suit a laptop; tests shrink the delays to zero."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The real clock; the sandbox reads time only through ``SandboxConfig.clock``."""
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    """How the emulated business number behaves; see docs/subsystems/sandbox.md."""

    access_token: str
    phone_number_id: str = "100000000000001"
    waba_id: str = "200000000000001"
    display_phone_number: str = "15550000001"
    graph_version: str = "v23.0"
    # Public URL of the emulated Graph API (used in paging links and /info), without the version.
    base_url: str = "http://127.0.0.1:8000/sandbox/graph"
    callback_url: str | None = None
    app_secret: str = ""
    # Seconds before `sent`, then before `delivered`, then before `read`.
    status_delays: tuple[float, float, float] = (0.05, 0.1, 0.2)
    auto_read: bool = True
    # Seconds to gather statuses into one webhook (Meta batches them); 0 sends one webhook per status.
    status_batch_window: float = 0.0
    status_batch_max: int = 100
    approve_templates: bool = True
    # Meta answers 131047 either synchronously or as a failed status after a 200; default synchronous.
    async_131047: bool = False
    # Recipients starting with this prefix fail asynchronously with 131026 (message undeliverable).
    undeliverable_prefix: str = "1555999"
    # Webhook delivery: attempts per webhook (first try included) and the first backoff, doubled each time.
    callback_attempts: int = 4
    callback_backoff: float = 0.05
    callback_timeout: float = 10.0
    # How long a `timeout` fault hangs before answering (longer than any sane client timeout).
    fault_timeout_seconds: float = 30.0
    page_size: int = 25
    clock: Callable[[], datetime] = utc_now
    # Where uploaded and customer media files are kept (providers/sandbox/media.py); None: a temp dir.
    media_dir: str | None = None
    # Where the catalog and the customers' windows are kept across restarts (persist.py); None: memory only.
    state_file: str | None = None

    def __post_init__(self) -> None:
        if len(self.status_delays) != 3 or any(d < 0 for d in self.status_delays):
            raise ValueError("status_delays must be three non-negative numbers of seconds")
        if self.callback_attempts < 1:
            raise ValueError("callback_attempts must be at least 1")
