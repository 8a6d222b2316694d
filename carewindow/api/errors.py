"""The one place that turns errors into HTTP: ``{"error": {"code", "message", ...details}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import singledispatch
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from carewindow.actions.errors import REFUSAL_STATUS, ActionError
from carewindow.policy import PolicyError
from carewindow.providers.base import ProviderError
from carewindow.storage.errors import StorageError, Unavailable

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by routes for errors that are about HTTP itself (auth, roles, bad webhooks)."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def provider_failure(exc: ProviderError, what: str) -> ApiError:
    """The contract's error for a provider that did not do ``what`` (e.g. "create the template"):
    ``provider_error``, 502 when retrying may help, else 422. The message gives Meta's reason
    (``error_user_title`` / ``error_user_msg`` when sent, e.g. "Content in This Language Already
    Exists") with its code; ``provider`` carries every field Meta sent (``ProviderError.describe``);
    ``provider_code`` is Meta's code alone."""
    numbers = []
    if exc.code is not None:
        numbers.append(f"Meta error {exc.code}")
    subcode = exc.describe().get("error_subcode")
    if subcode is not None:
        numbers.append(f"subcode {subcode}")
    suffix = f" ({', '.join(numbers)})" if numbers else ""
    lead = (
        f"The provider could not {what} now, retry later"
        if exc.transient
        else f"The provider refused to {what}"
    )
    return ApiError(
        502 if exc.transient else 422,
        "provider_error",
        f"{lead}: {exc.reason}{suffix}",
        provider_code=exc.code,
        provider=exc.describe(),
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Response:
    # Details never overwrite the two fields every client reads.
    extra = {k: v for k, v in (details or {}).items() if k not in ("code", "message")}
    body = {"error": {"code": code, "message": message, **extra}}
    return Response(
        orjson.dumps(body, default=str), status_code=status, media_type="application/json", headers=headers
    )


@singledispatch
def error_answer(exc: BaseException) -> Response:
    """The contract's answer to ``exc``: status, error JSON and headers, as one ``Response``.

    Used by the FastAPI app's exception handlers (``install``) and by the hot routes (api/edge.py),
    so both answer alike. The implementation for the most specific registered class of ``exc`` runs
    (``functools.singledispatch`` follows the class hierarchy as Starlette's handler lookup does);
    ``install`` registers a handler for exactly the classes registered here.
    """
    raise TypeError(f"not an exception: {exc!r}")


@error_answer.register
def _api_error(exc: ApiError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, headers=headers, details=exc.details)


@error_answer.register
def _action_error(exc: ActionError) -> Response:
    status = REFUSAL_STATUS.get(exc.code, exc.http_status)
    return error_response(status, exc.code, exc.message, details=exc.details)


@error_answer.register
def _policy_error(exc: PolicyError) -> Response:
    status = REFUSAL_STATUS.get(exc.code, 422)
    return error_response(status, exc.code, exc.message, details={"meta_code": exc.meta_code, **exc.details})


@error_answer.register
def _validation(exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(_not_json(e) for e in errors):
        # The body was not read as JSON at all: that is the one thing to say (not "Input should be a
        # valid dictionary", which is what validating its raw bytes gives).
        return error_response(
            415,
            "unsupported_media_type",
            "Content-Type must be application/json: send the header "
            "'Content-Type: application/json' with a JSON body.",
        )
    fields = [_field(e, exc.body) for e in errors]
    first = fields[0] if fields else {"loc": [], "msg": "invalid request"}
    where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return error_response(422, "validation_error", message, details={"fields": fields})


_PREFIXES = ("Value error, ", "Assertion failed, ")  # pydantic's words around a validator's own message
_BODY_TYPES = ("model_attributes_type", "model_type", "dict_type")  # the body is not an object


def _not_json(e: Mapping[str, Any]) -> bool:
    """A body model validated from raw bytes: the request's content type was not JSON."""
    return (
        tuple(e.get("loc", ())) == ("body",)
        and e.get("type") in _BODY_TYPES
        and isinstance(e.get("input"), bytes | bytearray)
    )


def _field(e: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """One entry of ``fields``: where, what (in plain words, not the framework's), and the type."""
    loc = [str(p) for p in e.get("loc", ())]
    kind = str(e.get("type", ""))
    msg = str(e.get("msg", ""))
    extra: dict[str, Any] = {}
    if kind == "json_invalid":
        raw = e.get("loc", ())
        pos = raw[1] if len(raw) > 1 and isinstance(raw[1], int) else None
        reason = str((e.get("ctx") or {}).get("error") or "").strip()
        msg = "body is not valid JSON"
        if pos is not None and isinstance(body, str | bytes):
            doc = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            line = doc.count("\n", 0, pos) + 1
            column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
            msg += f" (line {line}, column {column})"
            extra = {"line": line, "column": column}
        elif pos is not None:
            msg += f" (at character {pos + 1})"
        if reason:
            msg += f": {reason}"
        loc = ["body"]
    elif kind == "missing" and loc == ["body"]:
        msg = "a JSON object is required as the request body"
    elif kind in _BODY_TYPES and loc == ["body"]:
        msg = "the body must be a JSON object"
    else:
        for prefix in _PREFIXES:
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
    return {"loc": loc, "msg": msg, "type": kind, **extra}


@error_answer.register
def _http(exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


@error_answer.register
def _db_error(exc: StorageError) -> Response:
    if isinstance(exc, Unavailable):
        # The driver's own words (e.g. "database is locked"), never the statement or its parameters.
        log.warning("database unavailable: %s", exc.reason)
        return error_response(
            503,
            "unavailable",
            "The database is unavailable; nothing was written. Retry shortly.",
            headers={"Retry-After": "1"},
        )
    log.error("database error: %s", exc.reason)
    return error_response(500, "internal_error", "An internal database error occurred.")


@error_answer.register
def _internal(exc: Exception) -> Response:
    # Last resort: a bug still answers in the contract's shape (and is logged with its traceback).
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "An internal error occurred; it has been logged.")


def handled_classes() -> list[type[Exception]]:
    """The exception classes ``error_answer`` has an answer for."""
    return [cls for cls in error_answer.registry if cls is not object and issubclass(cls, Exception)]


def install(app: FastAPI) -> None:
    """Answer every exception a route raises through ``error_answer``."""

    async def handle(_request: Request, exc: Exception) -> Response:
        return error_answer(exc)

    for cls in handled_classes():
        app.add_exception_handler(cls, handle)
