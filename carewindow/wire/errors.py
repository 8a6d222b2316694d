"""Errors raised while reading Meta's wire formats.

::

    ValueError
    └── WireFormatError            the bytes are not the Meta JSON we expected
        ├── WebhookFormatError     a webhook body (api answers 400; Meta would retry a 5xx)
        └── SendResponseFormatError  a 2xx Send API answer without a wamid

Graph API error answers are not format errors: see ``wire.graph_errors.GraphError``.
"""

from __future__ import annotations


class WireFormatError(ValueError):
    """The payload is not in the expected Meta format."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookFormatError(WireFormatError):
    """The body is not a WhatsApp Business Account webhook; ``reason`` names the JSON path at fault."""


class SendResponseFormatError(WireFormatError):
    """The Send API answered 2xx but the body carries no message id."""
