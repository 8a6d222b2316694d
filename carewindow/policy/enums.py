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

    @classmethod
    def parse(cls, value: object, default: TemplateCategory | None = None) -> TemplateCategory:
        """The category for Meta's (or a stored) text, any case; ``default`` (else ``MARKETING``, the
        dearest, so an unknown category is never priced low) for anything else."""
        if isinstance(value, str):
            member = _CATEGORY_BY_TEXT.get(value.strip().lower())
            if member is not None:
                return member
        return default if default is not None else cls.MARKETING


_CATEGORY_BY_TEXT: dict[str, TemplateCategory] = {m.value: m for m in TemplateCategory}


class TemplateStatus(StrEnum):
    """Template review status as Meta reports it (``message_template_status_update`` ``event``).

    ``APPROVED``, ``REINSTATED`` (no longer flagged or disabled) and ``FLAGGED`` (approved, at risk:
    sendable until its ``disable_info.disable_date``) may be sent; every other status, and any value
    Meta adds later (:meth:`parse` gives ``UNKNOWN``; the text itself is kept beside it), may not.
    Sources: docs/rules.md "Template statuses"."""

    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    FLAGGED = "FLAGGED"
    IN_APPEAL = "IN_APPEAL"
    REINSTATED = "REINSTATED"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    ARCHIVED = "ARCHIVED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNKNOWN = "UNKNOWN"
    """A value this version does not know: kept as text, never sent."""

    @classmethod
    def parse(cls, value: object) -> TemplateStatus:
        """The status for Meta's (or a stored) text, case-insensitively; ``UNKNOWN`` for anything else."""
        if isinstance(value, str):
            member = _STATUS_BY_TEXT.get(value.strip().upper())
            if member is not None:
                return member
        return cls.UNKNOWN

    @property
    def sendable(self) -> bool:
        """Whether a template in this status may be sent (``FLAGGED``: until its disable date)."""
        return self in _SENDABLE


_STATUS_BY_TEXT: dict[str, TemplateStatus] = {m.value: m for m in TemplateStatus}
_SENDABLE = frozenset({TemplateStatus.APPROVED, TemplateStatus.REINSTATED, TemplateStatus.FLAGGED})


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
