"""Errors raised by actions; api/errors.py is the one place that turns them into HTTP (the inbox
answers with the same statuses, from the same ``REFUSAL_STATUS`` table).

ActionError
├── SendRefused          the policy said no (carries the Decision and its contract code)
├── ValidationFailed     the request breaks a platform limit (validation_error, 422)
├── NotFound             unknown message, contact, template, ticket ... (not_found, 404)
└── Conflict             the request contradicts stored state (conflict, 409)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from carewindow.policy import RefusalCode

if TYPE_CHECKING:
    from carewindow.policy import Decision

# Contract table: refusal code -> HTTP status (other action errors answer their own ``http_status``).
REFUSAL_STATUS = {
    RefusalCode.WINDOW_CLOSED.value: 409,
    RefusalCode.NO_CONSENT.value: 403,
    RefusalCode.MARKETING_OPTED_OUT.value: 403,
    RefusalCode.TEMPLATE_NOT_FOUND.value: 404,
    RefusalCode.TEMPLATE_NOT_APPROVED.value: 409,
    RefusalCode.TEMPLATE_PARAMS_INVALID.value: 422,
    RefusalCode.REENGAGEMENT_PENDING.value: 409,
    RefusalCode.VALIDATION_ERROR.value: 422,
    RefusalCode.PAYMENT_METHOD_REQUIRED.value: 402,
}


class ActionError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class SendRefused(ActionError):
    def __init__(self, decision: Decision) -> None:
        code = decision.code.value if decision.code else "refused"
        super().__init__(decision.message, **dict(decision.details))
        self.code = code
        self.decision = decision


class ValidationFailed(ActionError):
    code = "validation_error"
    http_status = 422

    def __init__(self, errors: Sequence[tuple[Sequence[str | int], str]]) -> None:
        fields = [{"loc": list(loc), "msg": msg} for loc, msg in errors]
        first = errors[0] if errors else ((), "invalid request")
        where = ".".join(str(p) for p in first[0])
        super().__init__(f"{where}: {first[1]}" if where else first[1], fields=fields)


class NotFound(ActionError):
    code = "not_found"
    http_status = 404


class Conflict(ActionError):
    code = "conflict"
    http_status = 409
