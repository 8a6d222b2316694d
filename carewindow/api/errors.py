"""The one place that turns errors into HTTP: ``{"error": {"code", "message", ...details}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from carewindow.actions.errors import REFUSAL_STATUS, ActionError
from carewindow.policy import PolicyError
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


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_r: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers=headers, details=exc.details)

    @app.exception_handler(ActionError)
    async def _action_error(_r: Request, exc: ActionError) -> Response:
        status = REFUSAL_STATUS.get(exc.code, exc.http_status)
        return error_response(status, exc.code, exc.message, details=exc.details)

    @app.exception_handler(PolicyError)
    async def _policy_error(_r: Request, exc: PolicyError) -> Response:
        status = REFUSAL_STATUS.get(exc.code, 422)
        return error_response(
            status, exc.code, exc.message, details={"meta_code": exc.meta_code, **exc.details}
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, exc: RequestValidationError) -> Response:
        fields = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = fields[0] if fields else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return error_response(422, "validation_error", message, details={"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(StorageError)
    async def _db_error(_r: Request, exc: StorageError) -> Response:
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

    @app.exception_handler(Exception)
    async def _internal(_r: Request, exc: Exception) -> Response:
        # Last resort: a bug still answers in the contract's shape (and is logged with its traceback).
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "An internal error occurred; it has been logged.")
