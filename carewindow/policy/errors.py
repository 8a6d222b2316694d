"""Refusal codes and the policy error tree.

::

    PolicyError                      code            meta
    ├── RateNotFound                 validation_error  -
    └── TemplateError
        ├── TemplateNotFound         template_not_found       132001
        ├── TemplateNotApproved      template_not_approved    132001 / 132015 paused / 132016 disabled
        ├── TemplateParamsInvalid    template_params_invalid  132000 count / 132012 format /
        │                                                     132018 newline, tab, spaces / 132005 too long /
        │                                                     131008 empty value
        └── TemplateDefinitionError  validation_error         100

``code`` is the carewindow contract code (the API's ``error.code``); ``meta_code`` is the Cloud API error
number the failure mirrors, so the sandbox can answer exactly as Meta would. ``decide()`` never raises
these for a refusal: it returns a ``Decision`` carrying a ``RefusalCode``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "ERRORS_BY_META_CODE",
    "PolicyError",
    "RateNotFound",
    "RefusalCode",
    "TemplateDefinitionError",
    "TemplateError",
    "TemplateNotApproved",
    "TemplateNotFound",
    "TemplateParamsInvalid",
]


class RefusalCode(StrEnum):
    """Why ``decide()`` refused a message; the values are the API's error codes."""

    WINDOW_CLOSED = "window_closed"
    NO_CONSENT = "no_consent"
    MARKETING_OPTED_OUT = "marketing_opted_out"
    TEMPLATE_NOT_FOUND = "template_not_found"
    TEMPLATE_NOT_APPROVED = "template_not_approved"
    TEMPLATE_PARAMS_INVALID = "template_params_invalid"
    REENGAGEMENT_PENDING = "reengagement_pending"
    VALIDATION_ERROR = "validation_error"
    PAYMENT_METHOD_REQUIRED = "payment_method_required"


class PolicyError(Exception):
    """The request breaks a policy rule."""

    code: ClassVar[str] = RefusalCode.VALIDATION_ERROR.value
    default_meta_code: ClassVar[int | None] = None

    message: str
    meta_code: int | None
    details: dict[str, object]

    def __init__(
        self,
        message: str | None = None,
        *,
        meta_code: int | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        # The class docstring doubles as the default message.
        self.message = message or (type(self).__doc__ or type(self).__name__).strip().splitlines()[0]
        self.meta_code = meta_code if meta_code is not None else self.default_meta_code
        self.details = details if details is not None else {}
        super().__init__(self.message)


class RateNotFound(PolicyError, LookupError):
    """No rate card row covers this market, category and date."""


class TemplateError(PolicyError):
    """The template cannot be sent as requested."""


class TemplateNotFound(TemplateError):
    """No template with this name and language is in the catalog."""

    code = RefusalCode.TEMPLATE_NOT_FOUND.value
    default_meta_code = 132001


class TemplateNotApproved(TemplateError):
    """The template exists but is not approved, so it cannot be sent."""

    code = RefusalCode.TEMPLATE_NOT_APPROVED.value
    default_meta_code = 132001

    #: Meta's error number for each status that is not APPROVED (132001 for the rest).
    META_CODE_BY_STATUS: ClassVar[dict[str, int]] = {"PAUSED": 132015, "DISABLED": 132016}

    @classmethod
    def for_status(cls, *, name: str, language: str, status: str) -> TemplateNotApproved:
        """The error for a template in ``status``, with Meta's number for that status."""
        return cls(
            f"Template {name!r} ({language}) is {status}; only APPROVED templates can be sent.",
            meta_code=cls.META_CODE_BY_STATUS.get(status, 132001),
            details={"template": name, "language": language, "status": status},
        )


class TemplateParamsInvalid(TemplateError):
    """The template parameters do not match the template."""

    code = RefusalCode.TEMPLATE_PARAMS_INVALID.value
    default_meta_code = 132000


class TemplateDefinitionError(TemplateError):
    """The template definition is invalid."""

    code = RefusalCode.VALIDATION_ERROR.value
    default_meta_code = 100


#: Cloud API error number -> the policy error class that mirrors it.
ERRORS_BY_META_CODE: dict[int, type[PolicyError]] = {
    100: TemplateDefinitionError,
    131008: TemplateParamsInvalid,
    132000: TemplateParamsInvalid,
    132001: TemplateNotFound,
    132005: TemplateParamsInvalid,
    132012: TemplateParamsInvalid,
    132015: TemplateNotApproved,
    132016: TemplateNotApproved,
    132018: TemplateParamsInvalid,
}
