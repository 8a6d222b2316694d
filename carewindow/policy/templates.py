"""Message templates: definition checks, parameter checks that mirror the Cloud API, and rendering.

Placeholder parsing is done once per ``Template`` (in ``__post_init__``) and kept on the frozen instance,
so validating and rendering a send costs a dictionary lookup, four substring scans and one
``str.format`` call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Final, TypeAlias

from carewindow.policy.enums import ParameterFormat, TemplateCategory, TemplateStatus
from carewindow.policy.errors import TemplateDefinitionError, TemplateParamsInvalid
from carewindow.policy.frozen import fast_constructor

__all__ = [
    "BODY_MAX",
    "BUTTON_TEXT_MAX",
    "FOOTER_MAX",
    "HEADER_MAX",
    "HEADER_MEDIA",
    "RenderedTemplate",
    "Template",
    "TemplateButton",
    "TemplateParams",
    "TemplateRef",
    "header_media_parameter",
    "parse_placeholders",
    "render_template",
    "validate_params",
    "validate_template_definition",
]

BODY_MAX: Final = 1024
HEADER_MAX: Final = 60
FOOTER_MAX: Final = 60
BUTTON_TEXT_MAX: Final = 25
BUTTONS_MAX: Final = 10
#: Media header formats (Meta's ``HEADER`` ``format`` IMAGE, VIDEO, DOCUMENT, lowercased): a send
#: names the file in a header parameter ``{"type": "image", "image": {"id" | "link": ...}}``.
HEADER_MEDIA: Final = frozenset({"image", "video", "document"})
NAME_RE: Final = re.compile(r"[a-z0-9_]{1,512}")
LANGUAGE_RE: Final = re.compile(r"[a-z]{2,3}(_[A-Z]{2}|_[A-Za-z]{4})?")
_TOKEN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAMED = re.compile(r"[a-z_][a-z0-9_]*")
_POSITIONAL = re.compile(r"[1-9][0-9]*")

#: Template parameter values: a list for ``{{1}}`` templates, a mapping for ``{{name}}`` templates.
TemplateParams: TypeAlias = Sequence[str] | Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateButton:
    """A template button: ``quick_reply``, ``url`` (with ``url``) or ``phone_number`` (with the number)."""

    type: str
    text: str
    url: str | None = None
    phone_number: str | None = None


class _Compiled:
    """A template's parsed placeholders, ready for fast validation and rendering."""

    __slots__ = (
        "body_format",
        "error",
        "fmt",
        "getter",
        "header_format",
        "header_keys",
        "keys",
        "keyset",
        "n",
        "n_body",
    )

    def __init__(self, body: str, header: str | None) -> None:
        self.error: TemplateDefinitionError | None = None
        self.fmt: ParameterFormat | None = None
        self.keys: tuple[str, ...] = ()
        self.n_body = 0
        self.body_format = body.replace("{", "{{").replace("}", "}}")
        self.header_format: str | None = None
        self.header_keys: tuple[str, ...] = ()
        try:
            self._compile(body, header)
        except TemplateDefinitionError as exc:
            self.error = exc
        self.keyset: frozenset[str] = frozenset(self.keys)
        self.n = len(self.keys)
        self.getter: Callable[[Mapping[str, str]], tuple[Any, ...]] = _tuple_getter(self.keys)

    def _compile(self, body: str, header: str | None) -> None:
        body_fmt, body_keys = parse_placeholders(body)
        header_fmt, header_keys = parse_placeholders(header) if header else (None, ())
        if len(header_keys) > 1:
            raise TemplateDefinitionError(
                "A template header may hold at most one placeholder.",
                details={"field": "header", "reason": "too many placeholders"},
            )
        if body_fmt and header_fmt and body_fmt is not header_fmt:
            raise TemplateDefinitionError(
                "Header and body must use the same placeholder style ({{1}} or {{name}}), not a mix.",
                details={"field": "header", "reason": "mixed placeholder formats"},
            )
        self.fmt = body_fmt or header_fmt
        self.header_keys = header_keys
        self.n_body = len(body_keys)
        if self.fmt is ParameterFormat.POSITIONAL:
            # Meta numbers header and body separately; here the header value follows the body values.
            header_key = tuple(str(self.n_body + 1) for _ in header_keys)
            keys = body_keys + header_key
            self.body_format = _to_format(body, {k: i for i, k in enumerate(body_keys)})
            if header:
                self.header_format = _to_format(header, {"1": self.n_body} if header_keys else {})
        else:
            keys = body_keys + tuple(k for k in header_keys if k not in body_keys)
            index = {k: i for i, k in enumerate(keys)}
            self.body_format = _to_format(body, index)
            if header:
                self.header_format = _to_format(header, index)
        self.keys = keys


def _tuple_getter(keys: tuple[str, ...]) -> Callable[[Mapping[str, str]], tuple[Any, ...]]:
    """``m -> (m[k1], m[k2], ...)`` at C speed (itemgetter returns a bare value for a single key)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda m: (m[key],)
    if not keys:
        return lambda m: ()
    getter: Callable[[Mapping[str, str]], tuple[Any, ...]] = itemgetter(*keys)
    return getter


def _to_format(text: str, index: Mapping[str, int]) -> str:
    """``"Hi {{name}} {x}"`` -> ``"Hi {0} {{x}}"``: a str.format template over the values tuple."""
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(text[pos : match.start()].replace("{", "{{").replace("}", "}}"))
        out.append(f"{{{index[match.group(1)]}}}")
        pos = match.end()
    out.append(text[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


def parse_placeholders(body: str) -> tuple[ParameterFormat | None, tuple[str, ...]]:
    """The placeholder style of ``body`` and its placeholder names in order of first use.

    ``"Hi {{1}}, ticket {{2}}"`` -> ``(POSITIONAL, ("1", "2"))``; ``"{{name}}"`` -> ``(NAMED, ("name",))``;
    no placeholders -> ``(None, ())``. Raises :class:`TemplateDefinitionError` for an invalid name, a mix of
    styles, or positional placeholders that are not ``{{1}}`` .. ``{{n}}`` in order, each used once.
    """
    names: list[str] = []
    fmt: ParameterFormat | None = None
    for match in _TOKEN.finditer(body):
        token = match.group(1)
        if _POSITIONAL.fullmatch(token):
            kind = ParameterFormat.POSITIONAL
        elif _NAMED.fullmatch(token):
            kind = ParameterFormat.NAMED
        else:
            raise TemplateDefinitionError(
                f"Invalid placeholder {{{{{token}}}}}: use {{{{1}}}}, {{{{2}}}}... or lowercase names "
                "like {{ticket_id}}.",
                details={"placeholder": token, "reason": "invalid placeholder"},
            )
        if fmt is not None and kind is not fmt:
            raise TemplateDefinitionError(
                "A template uses either positional ({{1}}) or named ({{name}}) placeholders, not both.",
                details={"placeholder": token, "reason": "mixed placeholder formats"},
            )
        fmt = kind
        if kind is ParameterFormat.POSITIONAL:
            if token != str(len(names) + 1):
                raise TemplateDefinitionError(
                    f"Positional placeholders must run {{{{1}}}}, {{{{2}}}}... in order, each once; "
                    f"found {{{{{token}}}}} after {len(names)}.",
                    details={"placeholder": token, "reason": "positional placeholders out of sequence"},
                )
            names.append(token)
        elif token not in names:
            names.append(token)
    return fmt, tuple(names)


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A catalog template. Build it freely; :func:`validate_template_definition` checks Meta's rules,
    and sending an invalid one is refused with ``validation_error``."""

    name: str
    language: str
    category: TemplateCategory
    status: TemplateStatus
    body: str
    header: str | None = None
    footer: str | None = None
    buttons: tuple[TemplateButton, ...] = ()
    disable_at: datetime | None = None
    """``FLAGGED``: when Meta disables it (``disable_info.disable_date``); sendable until then."""
    status_text: str | None = None
    """Meta's own word when ``status`` is ``UNKNOWN`` (a value this version does not know)."""
    header_media: str | None = None
    """``image``, ``video`` or ``document`` when the header is media (then ``header`` is None)."""
    _compiled: _Compiled = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _Compiled(self.body, self.header))

    @property
    def parameter_format(self) -> ParameterFormat | None:
        """``POSITIONAL``, ``NAMED``, or None for a template without placeholders."""
        self._raise_if_invalid()
        return self._compiled.fmt

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The parameters a send must supply, in order: the body's, then the header's.

        Named: unique names. Positional: ``"1"``..``"n"`` for the body, then ``"n+1"`` for a header
        ``{{1}}`` (its value comes last in the list).
        """
        self._raise_if_invalid()
        return self._compiled.keys

    def _raise_if_invalid(self) -> None:
        error = self._compiled.error
        if error is not None:
            raise TemplateDefinitionError(error.message, details=dict(error.details))


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRef:
    """A request to send template ``name`` in ``language`` with ``params``."""

    name: str
    language: str
    params: TemplateParams = ()
    header: Mapping[str, Any] | None = None
    """A media header's parameter, as Meta takes it: ``{"type": "image", "image": {"id": ...}}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedTemplate:
    """A template ready to send: the parameters in wire order and the text the customer will see.

    ``parameters`` are the body's ``(parameter_name, value)`` pairs (name None when positional);
    ``header_parameters`` the header's.
    """

    name: str
    language: str
    category: TemplateCategory
    parameter_format: ParameterFormat | None
    parameters: tuple[tuple[str | None, str], ...]
    body_text: str
    header_text: str | None
    footer_text: str | None
    header_parameters: tuple[tuple[str | None, str], ...] = ()
    header_media: Mapping[str, Any] | None = None
    """A media header's parameter (``TemplateRef.header``, checked), sent as Meta's header component."""


_make_rendered = fast_constructor(RenderedTemplate)
_NAMED_FMT = ParameterFormat.NAMED
_POSITIONAL_FMT = ParameterFormat.POSITIONAL


def validate_template_definition(template: Template) -> None:
    """Check ``template`` against Meta's rules; raise :class:`TemplateDefinitionError` on the first
    problem (name ``^[a-z0-9_]{1,512}$``, body 1..1024, header and footer <= 60, at most 10 buttons with
    text <= 25, valid placeholders)."""

    def fail(fld: str, reason: str) -> TemplateDefinitionError:
        return TemplateDefinitionError(
            f"Invalid template {fld}: {reason}.", details={"field": fld, "reason": reason}
        )

    if not NAME_RE.fullmatch(template.name):
        raise fail("name", "use 1 to 512 lowercase letters, digits and underscores")
    if not LANGUAGE_RE.fullmatch(template.language):
        raise fail("language", "use a language code such as es, en_US or pt_BR")
    if not template.body.strip():
        raise fail("body", "the body is required")
    if len(template.body) > BODY_MAX:
        raise fail("body", f"at most {BODY_MAX} characters")
    if template.header is not None and len(template.header) > HEADER_MAX:
        raise fail("header", f"at most {HEADER_MAX} characters")
    if template.header_media is not None:
        if template.header_media not in HEADER_MEDIA:
            raise fail("header_format", "a media header is IMAGE, VIDEO or DOCUMENT")
        if template.header is not None:
            raise fail("header", "a media header has no text")
    if template.footer is not None:
        if len(template.footer) > FOOTER_MAX:
            raise fail("footer", f"at most {FOOTER_MAX} characters")
        if _TOKEN.search(template.footer):
            raise fail("footer", "the footer cannot hold placeholders")
    if len(template.buttons) > BUTTONS_MAX:
        raise fail("buttons", f"at most {BUTTONS_MAX} buttons")
    for i, button in enumerate(template.buttons):
        if not button.text or len(button.text) > BUTTON_TEXT_MAX:
            raise fail(f"buttons[{i}].text", f"1 to {BUTTON_TEXT_MAX} characters")
        if button.type == "url" and not button.url:
            raise fail(f"buttons[{i}].url", "a url button needs a url")
        if button.type == "phone_number" and not button.phone_number:
            raise fail(f"buttons[{i}].phone_number", "a phone_number button needs a phone number")
    template._raise_if_invalid()


def validate_params(template: Template, params: TemplateParams) -> None:
    """Check ``params`` as the Cloud API would; raise :class:`TemplateParamsInvalid` with Meta's number:
    132000 wrong count or missing names, 132012 wrong style or unknown names or a non-string value,
    132018 a newline, tab or more than 4 consecutive spaces, 131008 an empty value, 132005 text too long
    after substitution. Raises :class:`TemplateDefinitionError` when the template itself is invalid."""
    render_template(template, params)


def header_media_parameter(template: Template, header: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The media header parameter of a send, checked: required (132000) when the template's header is
    media, of its type and naming the file by ``id`` (from ``POST /v1/media``) or ``link`` (132012);
    refused (132000) when the template has no media header. None when there is none to send."""
    kind = template.header_media
    if kind is None:
        if header is None:
            return None
        raise TemplateParamsInvalid(
            f"Template {template.name!r} has no media header; drop the header parameter.",
            meta_code=132000,
            details={"component": "header", "reason": "no media header"},
        )
    shape = f'{{"type": "{kind}", "{kind}": {{"id": "<media id from POST /v1/media>"}}}} (or "link")'
    what = f"Template {template.name!r} has a media header ({kind.upper()}):"
    if header is None:
        raise TemplateParamsInvalid(
            f"{what} send template.header as {shape}.",
            meta_code=132000,
            details={"component": "header", "missing": ["header"], "header_format": kind.upper()},
        )
    obj = header.get(kind) if isinstance(header, Mapping) and header.get("type") == kind else None
    if not isinstance(obj, Mapping):
        raise TemplateParamsInvalid(
            f"{what} template.header must be {shape}.",
            meta_code=132012,
            details={"component": "header", "reason": "wrong header type", "header_format": kind.upper()},
        )
    ref = {k: obj[k] for k in ("id", "link") if isinstance(obj.get(k), str) and obj[k]}
    if len(ref) != 1:
        raise TemplateParamsInvalid(
            f"The {kind} header names its file by exactly one of id or link: {shape}.",
            meta_code=132012,
            details={"component": "header", "reason": "id or link required", "header_format": kind.upper()},
        )
    filename = obj.get("filename")
    if kind == "document" and isinstance(filename, str) and filename:
        ref["filename"] = filename
    return {"type": kind, kind: ref}


def render_template(
    template: Template, params: TemplateParams, header: Mapping[str, Any] | None = None
) -> RenderedTemplate:
    """Validate ``params`` (see :func:`validate_params`) and ``header`` (a media header's parameter,
    :func:`header_media_parameter`) and return the template as it will be sent."""
    media = (
        header_media_parameter(template, header)
        if header is not None or template.header_media is not None
        else None
    )
    compiled = template._compiled
    fmt = compiled.fmt
    if compiled.error is not None:
        template._raise_if_invalid()
    if fmt is _NAMED_FMT:
        if type(params) is dict or isinstance(params, Mapping):
            if params.keys() != compiled.keyset:
                raise _names_error(compiled, params)
            values = compiled.getter(params)
        elif params:
            raise TemplateParamsInvalid(
                "This template uses named parameters ({{name}}); send them as an object of name -> value.",
                meta_code=132012,
                details={"expected": list(compiled.keys), "reason": "named parameters expected"},
            )
        else:
            raise _count_error(compiled, 0)
    elif type(params) is list or type(params) is tuple or _is_sequence(params):
        if len(params) != compiled.n:
            raise _count_error(compiled, len(params))
        values = tuple(params)
    elif params:
        raise TemplateParamsInvalid(
            "This template uses positional parameters ({{1}}); send them as a list in order."
            if fmt is not None
            else "This template takes no parameters.",
            meta_code=132012 if fmt is not None else 132000,
            details={
                "expected": list(compiled.keys),
                "reason": "positional parameters expected" if fmt is not None else "no parameters expected",
            },
        )
    elif compiled.n:
        raise _count_error(compiled, 0)
    else:
        values = ()
    if values:
        _check_values(compiled, values)
    body_text = compiled.body_format.format(*values)
    if len(body_text) > BODY_MAX:
        raise TemplateParamsInvalid(
            f"The body is {len(body_text)} characters after substitution; the limit is {BODY_MAX}.",
            meta_code=132005,
            details={"component": "body", "length": len(body_text), "limit": BODY_MAX},
        )
    header_text = None
    header_format = compiled.header_format
    if header_format is not None:
        header_text = header_format.format(*values)
        if len(header_text) > HEADER_MAX:
            raise TemplateParamsInvalid(
                f"The header is {len(header_text)} characters after substitution; the limit is {HEADER_MAX}.",
                meta_code=132005,
                details={"component": "header", "length": len(header_text), "limit": HEADER_MAX},
            )
    n_body = compiled.n_body
    keys = compiled.keys
    if fmt is _NAMED_FMT:
        pairs: tuple[tuple[str | None, str], ...] = tuple(zip(keys, values, strict=True))
        body_pairs = pairs[:n_body]
        header_keys = compiled.header_keys
        header_pairs = tuple(p for p in pairs if p[0] in header_keys) if header_keys else ()
    else:
        body_pairs = tuple((None, v) for v in values[:n_body])
        header_pairs = tuple((None, v) for v in values[n_body:])
    return _make_rendered(
        name=template.name,
        language=template.language,
        category=template.category,
        parameter_format=fmt,
        parameters=body_pairs,
        body_text=body_text,
        header_text=header_text,
        footer_text=template.footer,
        header_parameters=header_pairs,
        header_media=media,
    )


def _is_sequence(params: object) -> bool:
    return isinstance(params, Sequence) and not isinstance(params, str | bytes)


def _check_values(compiled: _Compiled, values: tuple[Any, ...]) -> None:
    try:
        joined = "\x00".join(values)
    except TypeError:
        for key, value in zip(compiled.keys, values, strict=True):
            if not isinstance(value, str):
                raise TemplateParamsInvalid(
                    f"Parameter {key} must be text, got {type(value).__name__}.",
                    meta_code=132012,
                    details={"parameter": key, "reason": "value must be a string"},
                ) from None
        raise  # pragma: no cover - join fails only on a non-string
    if "\n" in joined or "\r" in joined or "\t" in joined or "     " in joined:
        for key, value in zip(compiled.keys, values, strict=True):
            if "\n" in value or "\r" in value or "\t" in value or "     " in value:
                raise TemplateParamsInvalid(
                    f"Parameter {key} contains a newline, a tab or more than 4 consecutive spaces, "
                    "which WhatsApp refuses; replace them with a single space.",
                    meta_code=132018,
                    details={"parameter": key, "reason": "newline, tab or more than 4 consecutive spaces"},
                )
    if "" in values:
        key = compiled.keys[values.index("")]
        raise TemplateParamsInvalid(
            f"Parameter {key} is empty; WhatsApp needs a value for every parameter.",
            meta_code=131008,
            details={"parameter": key, "reason": "empty value"},
        )


def _count_error(compiled: _Compiled, given: int) -> TemplateParamsInvalid:
    expected = compiled.n
    missing = list(compiled.keys[given:]) if compiled.fmt is _POSITIONAL_FMT else list(compiled.keys)
    return TemplateParamsInvalid(
        f"The template takes {expected} parameter{'s' if expected != 1 else ''}; {given} given.",
        meta_code=132000,
        details={"expected": expected, "given": given, "missing": missing if given < expected else []},
    )


def _names_error(compiled: _Compiled, params: Mapping[str, str]) -> TemplateParamsInvalid:
    missing = [k for k in compiled.keys if k not in params]
    unexpected = sorted(str(k) for k in params if k not in compiled.keyset)
    if unexpected:
        return TemplateParamsInvalid(
            f"Unknown parameter name{'s' if len(unexpected) > 1 else ''} {', '.join(unexpected)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + f". The template takes: {', '.join(compiled.keys) or 'no parameters'}.",
            meta_code=132012,
            details={"missing": missing, "unexpected": unexpected},
        )
    return TemplateParamsInvalid(
        f"Missing parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
        meta_code=132000,
        details={"missing": missing, "unexpected": []},
    )
