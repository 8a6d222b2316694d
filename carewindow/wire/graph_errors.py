"""Graph API error answers: the code table, a typed error, and Meta's error JSON both ways.

::

    Exception
    └── GraphError      one Graph API error answer (``code``, ``subcode``, ``details``, ``http_status``)

``ERROR_CODES`` decides what is worth retrying. Codes not in the table fall back to the HTTP status
(5xx and 429 are transient) and to Meta's own ``is_transient`` flag when it sends one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = ["ERROR_CODES", "ErrorSpec", "GraphError", "error_spec", "is_transient", "webhook_error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorSpec:
    """What carewindow knows about one Meta error code."""

    title: str
    transient: bool
    http_status: int = 400
    # Seconds before the same request may succeed: the least a retry waits (transient codes), or how
    # long Meta asks not to resend at all (131049: 24 h). None: the usual backoff.
    retry_after: float | None = None
    # The limit is per recipient (131056, the business-consumer pair): the worker holds back every
    # message to that customer, not the whole number (docs/subsystems/delivery.md).
    per_recipient: bool = False


def _p(title: str, http_status: int = 400) -> ErrorSpec:
    return ErrorSpec(title=title, transient=False, http_status=http_status)


def _t(title: str, http_status: int = 429) -> ErrorSpec:
    return ErrorSpec(title=title, transient=True, http_status=http_status)


# Titles follow pywa's errors.py and Meta's error-code page. Meta does not document the HTTP status per
# code (whatsapp-facts §5: unconfirmed except 190 -> 401); these are what the sandbox answers with.
ERROR_CODES: Final[Mapping[int, ErrorSpec]] = {
    # whatsapp-platform.md §5
    100: _p("Invalid parameter"),
    190: _p("Access token has expired", 401),
    368: _p("Temporarily blocked for policies violations", 403),
    130429: _t("Rate limit hit"),
    131008: _p("Required parameter is missing"),
    131009: _p("Parameter value is not valid"),
    131021: _p("Recipient cannot be sender"),
    131026: _p("Message undeliverable"),
    131030: _p("Recipient phone number not in allowed list"),
    131031: _p("Account has been locked", 403),
    131047: _p("Re-engagement message"),
    131048: _t("Spam rate limit hit"),
    # Meta: wait at least 24 h before resending (per-user marketing limits page, quoted by pywa's
    # MessageUndeliverableDueToHealthyEcosystemEngagement @0bcf2f1).
    131049: ErrorSpec(
        title="This message was not delivered to maintain healthy ecosystem engagement",
        transient=False,
        retry_after=24 * 3600.0,
    ),
    131050: _p("User has stopped marketing messages"),
    131051: _p("Unsupported message type"),
    # One message every 6 s to the same user (Cloud API overview, platform-2026-update.md §1.5): the
    # worker backs off for that recipient only.
    131056: ErrorSpec(
        title="(Business Account, Consumer Account) pair rate limit hit",
        transient=True,
        http_status=429,
        retry_after=6.0,
        per_recipient=True,
    ),
    132000: _p("Number of parameters does not match the expected number of params"),
    132001: _p("Template name does not exist in the translation"),
    132005: _p("Translated text too long"),
    132007: _p("Template Format Character Policy Violated"),
    132012: _p("Parameter format does not match format in the created template"),
    132015: _p("Template is Paused"),
    132016: _p("Template is Disabled"),
    132018: _p("There was an issue with the parameters in your template"),
    # Further codes from whatsapp-facts §5 / pywa. Throttling and "try later" codes are transient.
    3: _p("Capability or permissions issue", 403),
    4: _t("Application request limit reached"),
    10: _p("Permission denied", 403),
    80007: _t("Rate limit issues"),
    130472: _p("User's number is part of an experiment"),
    131000: _t("Something went wrong", 500),
    131005: _p("Access denied", 403),
    131016: _t("Service unavailable", 503),
    131042: _p("Business eligibility payment issue"),
    131052: _p("Media download error"),
    131053: _p("Media upload error"),
    131057: _t("Account in maintenance mode", 503),
    131062: _p("Business-scoped user id recipients are not supported for this message"),
    131064: _p("Messaging limit reached due to template classification violations"),
    132008: _p("Template parameter value is invalid"),
    # The 2026 platform (issue 23; pywa/errors.py @0bcf2f1, platform-2026-update.md §1.5).
    131037: _p("The 555 business phone number has no approved display name"),
    131063: _p("Marketing templates are disabled for Cloud API"),
    132068: _p("Flow is in blocked state"),
    132069: ErrorSpec(
        title="Flow is in throttled state", transient=True, http_status=400, retry_after=360.0
    ),  # 10 sends per flow per hour: a retry waits at least a tenth of the hour
}


def error_spec(code: int) -> ErrorSpec | None:
    """The table entry for ``code``, if carewindow knows it."""
    return ERROR_CODES.get(code)


def is_transient(code: int, http_status: int | None = None) -> bool:
    """Whether retrying the same request later may succeed (table first, then the HTTP status)."""
    spec = ERROR_CODES.get(code)
    if spec is not None:
        return spec.transient
    return http_status is not None and (http_status >= 500 or http_status in (408, 429))


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(15)


class GraphError(Exception):
    """One Graph API error answer, as Meta sent it (or as the sandbox will send it)."""

    __slots__ = (
        "code",
        "details",
        "fbtrace_id",
        "http_status",
        "is_transient_flag",
        "message",
        "subcode",
        "type",
        "user_message",
        "user_title",
    )

    def __init__(
        self,
        *,
        code: int,
        message: str,
        http_status: int,
        type: str = "OAuthException",  # Meta's field name, kept for symmetry with to_json
        subcode: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        is_transient_flag: bool | None = None,
        user_title: str | None = None,
        user_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.type = type
        self.subcode = subcode
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.is_transient_flag = is_transient_flag
        self.user_title = user_title
        self.user_message = user_message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__: rebuild from the fields so the error survives pickle and copy.
        return (_rebuild, ({name: getattr(self, name) for name in self.__slots__},))

    def __repr__(self) -> str:
        return f"GraphError(code={self.code}, http_status={self.http_status}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.http_status})" + (f": {self.details}" if self.details else "")

    @property
    def title(self) -> str:
        """The table title for the code, else Meta's message."""
        spec = ERROR_CODES.get(self.code)
        return spec.title if spec is not None else self.message

    @property
    def reason(self) -> str:
        """Why, in Meta's words for people: ``error_user_title`` and ``error_user_msg`` when Meta sent
        them (e.g. "Content in This Language Already Exists"), else the message and its details."""
        told = _distinct(self.user_title, self.user_message)
        return ": ".join(told or _distinct(self.message, self.details) or [self.title])

    def describe(self) -> dict[str, object]:
        """Everything Meta said, for the contract's error JSON: Meta's own field names (``code``,
        ``error_subcode``, ``message``, ``type``, ``error_user_title``, ``error_user_msg``,
        ``fbtrace_id``), ``details`` (``error_data.details``), the table ``title`` and the HTTP status.
        Fields Meta did not send are left out."""
        fields: dict[str, object | None] = {
            "code": self.code,
            "error_subcode": self.subcode,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "error_user_title": self.user_title,
            "error_user_msg": self.user_message,
            "type": self.type or None,
            "http_status": self.http_status,
            "fbtrace_id": self.fbtrace_id,
        }
        return {k: v for k, v in fields.items() if v is not None}

    @property
    def transient(self) -> bool:
        """Worth retrying later: table entry, else Meta's ``is_transient``, else 5xx/429."""
        if self.code in ERROR_CODES:
            return ERROR_CODES[self.code].transient
        if self.is_transient_flag is not None:
            return self.is_transient_flag
        return is_transient(self.code, self.http_status)

    @classmethod
    def for_code(
        cls,
        code: int,
        *,
        details: str | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
    ) -> GraphError:
        """The error Meta would answer for ``code`` (used by the sandbox and tests)."""
        spec = ERROR_CODES.get(code)
        title = spec.title if spec is not None else "Unknown error"
        return cls(
            code=code,
            message=f"(#{code}) {title}",
            http_status=http_status or (spec.http_status if spec is not None else 400),
            subcode=subcode,
            details=details if details is not None else title,
            fbtrace_id=fbtrace_id or _fbtrace_id(),
        )

    @classmethod
    def from_response(cls, status_code: int, body: bytes | Mapping[str, object]) -> GraphError:
        """Read a non-2xx Graph answer. Non-JSON bodies (a proxy's HTML 502) give code 0."""
        doc: object = body
        if isinstance(body, bytes | bytearray):
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None
        err = doc.get("error") if isinstance(doc, Mapping) else None
        if not isinstance(err, Mapping):
            snippet = body[:120].decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else ""
            return cls(
                code=0,
                message=f"HTTP {status_code} without a Graph error body",
                http_status=status_code,
                type="",
                details=" ".join(snippet.split()) or None,
            )
        data = err.get("error_data")
        details = data.get("details") if isinstance(data, Mapping) else data
        flag = err.get("is_transient")
        return cls(
            code=_as_int(err.get("code")) or 0,
            message=_as_str(err.get("message")) or f"HTTP {status_code}",
            http_status=status_code,
            type=_as_str(err.get("type")) or "",
            subcode=_as_int(err.get("error_subcode")),
            details=_as_str(details),
            fbtrace_id=_as_str(err.get("fbtrace_id")),
            is_transient_flag=flag if isinstance(flag, bool) else None,
            user_title=_as_str(err.get("error_user_title")),
            user_message=_as_str(err.get("error_user_msg")),
        )

    def to_json(self) -> dict[str, object]:
        """Meta's error JSON: ``{"error": {"message", "type", "code", "error_data", ...}}``."""
        err: dict[str, object] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details or self.title},
        }
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.is_transient_flag is not None:
            err["is_transient"] = self.is_transient_flag
        if self.user_title is not None:
            err["error_user_title"] = self.user_title
        if self.user_message is not None:
            err["error_user_msg"] = self.user_message
        err["fbtrace_id"] = self.fbtrace_id or _fbtrace_id()
        return {"error": err}


def _rebuild(fields: dict[str, Any]) -> GraphError:
    return GraphError(**fields)


def webhook_error(code: int, details: str | None = None) -> dict[str, object]:
    """An error object as it appears in ``statuses[].errors[]`` of a failed-status webhook."""
    spec = ERROR_CODES.get(code)
    title = spec.title if spec is not None else "Unknown error"
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details if details is not None else title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def _distinct(*parts: str | None) -> list[str]:
    """The non-empty parts, each once (a part already contained in an earlier one is dropped)."""
    out: list[str] = []
    for p in parts:
        text = (p or "").strip()
        if text and not any(text in q for q in out):
            out.append(text)
    return out


def _as_int(v: object) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def _as_str(v: object) -> str | None:
    return v if isinstance(v, str) else None
