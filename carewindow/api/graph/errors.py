"""The gateway's errors in Meta's shape: ``{"error": {"message", "type", "code", "error_data", ...}}``.

Every refusal answers Meta's error JSON, so an unmodified client raises the exception it raises for
Meta (pywa's ``ReEngagementMessage`` for 131047). Meta's code when Meta has one for the same reason;
for carewindow's own reasons (no consent, re-engagement used up) the documented codes of
``CAREWINDOW_CODES`` (docs/gateway.md). ``error_data.details`` says carewindow's reason and contract
code in words; ``error_data.carewindow`` carries them as fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.responses import Response

from carewindow.actions.errors import ActionError, SendRefused, ValidationFailed
from carewindow.api.errors import ApiError
from carewindow.wire.graph_errors import ERROR_CODES, GraphError

__all__ = [
    "CAREWINDOW_CODES",
    "GATEWAY_UNAVAILABLE",
    "GatewayError",
    "graph_error_of",
    "graph_response",
    "refusal_error",
    "token_error",
]

# carewindow's refusals Meta has no code for, in a block Meta does not use (docs/gateway.md).
CAREWINDOW_CODES: Final[Mapping[str, int]] = {
    "no_consent": 139001,
    "payment_method_required": 131042,  # Meta: "Business eligibility payment issue"
    "reengagement_pending": 139002,
    "template_not_approved": 132001,
    "template_not_found": 132001,
    "template_params_invalid": 132000,
    "window_closed": 131047,
    "validation_error": 131009,
}
_TITLES: Final[Mapping[int, str]] = {
    139001: "The customer has not given consent to receive this message",
    139002: "Re-engagement limit reached: wait for the customer to answer",
}
GATEWAY_UNAVAILABLE = 131016  # Meta's "Service unavailable": nothing was sent, retry later


class GatewayError(GraphError):
    """A Graph error with carewindow's own fields (``error_data.carewindow``)."""

    def __init__(self, *, carewindow: Mapping[str, Any], **fields: Any) -> None:
        super().__init__(**fields)
        self.carewindow = dict(carewindow)

    def to_json(self) -> dict[str, object]:
        doc = super().to_json()
        inner = doc["error"]
        if isinstance(inner, dict) and isinstance(inner.get("error_data"), dict):
            inner["error_data"]["carewindow"] = self.carewindow
        return doc


def graph_response(err: GraphError) -> Response:
    return Response(orjson.dumps(err.to_json()), status_code=err.http_status, media_type="application/json")


def _error(
    code: int,
    *,
    message: str,
    details: str,
    reason: str,
    http_status: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> GraphError:
    spec = ERROR_CODES.get(code)
    title = spec.title if spec is not None else _TITLES.get(code, "carewindow refused the request")
    return GatewayError(
        carewindow={"code": reason, **(extra or {})},
        code=code,
        message=f"(#{code}) {title}",
        http_status=http_status or (spec.http_status if spec is not None else 400),
        details=details,
        user_title=title if code in _TITLES else None,
        user_message=message if code in _TITLES else None,
    )


def token_error(reason: str) -> GraphError:
    """Meta's answer to a missing or invalid access token (code 190, HTTP 401)."""
    return GraphError(
        code=190,
        message=f"Invalid OAuth access token - {reason}",
        http_status=401,
        details=reason,
    )


def refusal_error(exc: SendRefused) -> GraphError:
    """A policy refusal: Meta's code (the decision's ``meta_code``) or carewindow's documented one."""
    details = dict(exc.details)
    meta_code = details.pop("meta_code", None)
    code = meta_code if isinstance(meta_code, int) else CAREWINDOW_CODES.get(exc.code, 131009)
    return _error(
        code,
        message=exc.message,
        details=f"carewindow refused this message ({exc.code}): {exc.message}",
        reason=exc.code,
        extra={k: v for k, v in details.items() if isinstance(v, str | int | float | bool | list)},
    )


def graph_error_of(exc: Exception) -> GraphError | None:
    """The Graph error for what a gateway handler raised (None: not ours to translate)."""
    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, SendRefused):
        return refusal_error(exc)
    if isinstance(exc, ValidationFailed):
        return _error(131009, message=exc.message, details=exc.message, reason=exc.code)
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return token_error(exc.message)
        if exc.status == 403:
            return _error(10, message=exc.message, details=exc.message, http_status=403, reason=exc.code)
        return _error(100, message=exc.message, details=exc.message, reason=exc.code)
    if isinstance(exc, ActionError):
        return _error(100, message=exc.message, details=exc.message, reason=exc.code)
    return None
