"""The customer care window of one (business number, customer) pair.

The window is open on ``[t, t + 24 h)`` where ``t`` is the timestamp of the customer's latest message.
Webhooks arrive late, twice and out of order, so :func:`apply_inbound` is idempotent and never lets an
older message shorten the window. See docs/rules.md for the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from carewindow.policy._time import require_aware
from carewindow.policy.enums import WindowState
from carewindow.policy.frozen import fast_constructor

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from carewindow.policy.settings import PolicySettings

__all__ = ["CareWindow", "WindowView", "apply_inbound", "window_at"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CareWindow:
    """What the policy remembers about a contact's window: enough to answer for any ``now``.

    ``opened_at`` is the first customer message of the current unbroken run of messages (each less than
    the window length after the previous one). ``entry_point_at`` is the timestamp of the click-to-WhatsApp
    referral message that opened that run, when there was one.
    """

    last_inbound_at: datetime | None = None
    opened_at: datetime | None = None
    entry_point_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowView:
    """The window as seen at one moment.

    ``expires_at`` is when it closes (or closed); ``closed_at`` is set only when it is closed and then
    equals ``expires_at``. ``seconds_left`` is rounded up, so it is positive exactly when the window is
    open. ``entry_point_expires_at`` is the end of the free entry point period (price only).
    """

    state: WindowState
    opened_at: datetime | None
    expires_at: datetime | None
    seconds_left: int
    last_inbound_at: datetime | None
    closed_at: datetime | None
    entry_point_expires_at: datetime | None

    @property
    def is_open(self) -> bool:
        """True while free-form (session) messages may be sent."""
        return self.state is WindowState.OPEN


#: WindowView's constructor without the frozen __setattr__ per field, for the decide() hot path.
make_view = fast_constructor(WindowView)
_make_view = make_view
_NEVER_OPENED = WindowView(
    state=WindowState.CLOSED,
    opened_at=None,
    expires_at=None,
    seconds_left=0,
    last_inbound_at=None,
    closed_at=None,
    entry_point_expires_at=None,
)
_OPEN = WindowState.OPEN
_CLOSED = WindowState.CLOSED


def apply_inbound(
    window: CareWindow, *, at: datetime, referral: bool = False, settings: PolicySettings
) -> CareWindow:
    """Record a customer message sent at ``at`` (the webhook's timestamp, not the receipt time).

    Idempotent, and ``last_inbound_at`` (hence the state at any moment after it) does not depend on the
    order in which messages arrive. ``opened_at`` can only see the runs it was told about, so a very late
    message that bridges two runs it did not know were connected is best effort.
    """
    require_aware(at, "at")
    last = window.last_inbound_at
    length = settings.window
    if last is None or at >= last + length:
        # The window was closed at ``at``: this message opens a new one. An earlier free entry point
        # keeps running for its own 72 h (it is about price only).
        entry = at if referral else window.entry_point_at
        return CareWindow(last_inbound_at=at, opened_at=at, entry_point_at=entry)
    if at > last:
        return replace(window, last_inbound_at=at)
    opened = window.opened_at if window.opened_at is not None else last
    if at < opened and at + length > opened:
        # A late message that chains onto the current run from before: it was the real opener.
        return replace(window, opened_at=at, entry_point_at=at if referral else window.entry_point_at)
    if at == opened and referral and window.entry_point_at is None:
        return replace(window, entry_point_at=at)
    return window


def window_at(window: CareWindow, *, now: datetime, settings: PolicySettings) -> WindowView:
    """The window at ``now``: open on ``[last_inbound_at, last_inbound_at + window)``.

    A customer timestamp slightly ahead of ``now`` (clock skew) counts as open: the customer did write.
    """
    last = window.last_inbound_at
    if last is None:
        return _NEVER_OPENED
    expires = last + settings.window
    entry = window.entry_point_at
    entry_expires = None if entry is None else entry + settings.entry_point_window
    if now < expires:
        left = expires - now  # whole seconds, rounded up
        seconds_left = left.days * 86400 + left.seconds + (left.microseconds > 0)
        return _make_view(
            state=_OPEN,
            opened_at=window.opened_at,
            expires_at=expires,
            seconds_left=seconds_left,
            last_inbound_at=last,
            closed_at=None,
            entry_point_expires_at=entry_expires,
        )
    return _make_view(
        state=_CLOSED,
        opened_at=window.opened_at,
        expires_at=expires,
        seconds_left=0,
        last_inbound_at=last,
        closed_at=expires,
        entry_point_expires_at=entry_expires,
    )
