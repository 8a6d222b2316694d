"""The policy's vocabulary: every closed set of values is a ``StrEnum`` so it serialises as itself."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Action",
    "ConsentStatus",
    "MessageKind",
    "OnClosed",
    "ParameterFormat",
    "SendPurpose",
    "TemplateCategory",
    "TemplateStatus",
    "WindowState",
]


class WindowState(StrEnum):
    """Whether the customer care window is open at a given moment."""

    OPEN = "open"
    CLOSED = "closed"


class ConsentStatus(StrEnum):
    """What the customer has said about receiving templates."""

    UNKNOWN = "unknown"
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class TemplateCategory(StrEnum):
    """Meta's template categories (lowercase here; Meta spells them in capitals)."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"


class TemplateStatus(StrEnum):
    """Template review status as Meta reports it. Only ``APPROVED`` templates may be sent."""

    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"


class ParameterFormat(StrEnum):
    """How a template names its placeholders: ``{{1}}`` (positional) or ``{{ticket_id}}`` (named)."""

    POSITIONAL = "positional"
    NAMED = "named"


class MessageKind(StrEnum):
    """A free-form message that needs an open window, or a template that does not."""

    SESSION = "session"
    TEMPLATE = "template"


class OnClosed(StrEnum):
    """What to do with a session message when the window is closed."""

    REJECT = "reject"
    TEMPLATE = "template"
    DEFER = "defer"


class Action(StrEnum):
    """What the caller must do with a decision."""

    SEND = "send"
    """Send the requested message now."""
    SEND_FALLBACK = "send_fallback"
    """Send the fallback template instead and drop the original."""
    HOLD = "hold"
    """Hold the original until the customer writes, and send the fallback template to re-engage."""
    REFUSE = "refuse"
    """Send nothing; ``Decision.code`` and ``Decision.message`` say why."""


class SendPurpose(StrEnum):
    """Why a template goes out while the window is closed (docs/rules.md, "Re-engagement and
    notifications"): only re-engagement templates count against ``reengagement_limit``."""

    AUTO = "auto"
    """Fallbacks and knocks re-engage; any other template re-engages when the customer's last window
    closed within the re-engagement horizon, else it is a notification."""
    REENGAGEMENT = "reengagement"
    """Sent to continue a conversation: counts."""
    NOTIFICATION = "notification"
    """A notification (order shipped, appointment reminder): does not count and is not limited."""
