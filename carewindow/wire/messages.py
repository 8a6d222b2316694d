"""Outbound Cloud API message objects: platform-limit checks, Send API bodies and answers.

``validate_outbound`` checks the limits of whatsapp-platform.md §4 so the API can answer 422 before
anything is queued; Meta stays the final judge (it answers 131008/131009/100).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import orjson

from carewindow.policy.addresses import is_user_id
from carewindow.wire.errors import SendResponseFormatError

__all__ = [
    "MEDIA_TYPES",
    "OUTBOUND_TYPES",
    "FieldError",
    "TemplateForSend",
    "build_mark_read_body",
    "build_send_body",
    "build_send_response",
    "parse_send_response",
    "template_object",
    "validate_outbound",
]

MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document", "sticker"})
OUTBOUND_TYPES: Final = frozenset(
    {"text", "location", "contacts", "interactive", "reaction", "template"} | MEDIA_TYPES
)

TEXT_BODY_MAX: Final = 4096
CAPTION_MAX: Final = 1024
INTERACTIVE_BODY_MAX: Final = 1024
INTERACTIVE_HEADER_FOOTER_MAX: Final = 60
BUTTON_TITLE_MAX: Final = 20
BUTTON_ID_MAX: Final = 256
LIST_BUTTON_MAX: Final = 20
LIST_SECTIONS_MAX: Final = 10
LIST_ROWS_MAX: Final = 10
SECTION_TITLE_MAX: Final = 24
ROW_ID_MAX: Final = 200
ROW_TITLE_MAX: Final = 24
ROW_DESCRIPTION_MAX: Final = 72

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """One problem in a message object: ``loc`` is the path from the type key, e.g. ``("text", "body")``."""

    loc: Loc
    msg: str


class TemplateForSend(Protocol):
    """What ``build_send_body`` reads from a rendered template (``policy.RenderedTemplate`` fits).

    Typed structurally so wire does not depend on policy's module layout.
    """

    @property
    def name(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def parameter_format(self) -> object: ...
    @property
    def parameters(self) -> Sequence[tuple[str | None, str]]: ...


# ------------------------------------------------------------------------------------ validation


def validate_outbound(
    message_type: str, content: Mapping[str, object] | Sequence[object] | None
) -> list[FieldError]:
    """Problems in a Cloud API style message object of ``message_type``; empty when it looks sendable.

    ``content`` is the object under the type key (``{"body": "hi"}``); for ``contacts`` it is the list
    of cards (``{"contacts": [...]}`` is accepted too).
    """
    if message_type not in OUTBOUND_TYPES:
        return [FieldError(loc=("type",), msg=f"unsupported message type {message_type!r}")]
    if message_type == "contacts":
        return _check_contacts(content)
    errors: list[FieldError] = []
    if not isinstance(content, Mapping):
        return [FieldError(loc=(message_type,), msg="must be an object")]
    checker = _CHECKERS[message_type] if message_type not in MEDIA_TYPES else _check_media
    checker(message_type, content, errors)
    return errors


def _text(
    obj: Mapping[str, object],
    key: str,
    loc: Loc,
    errors: list[FieldError],
    *,
    max_len: int,
    required: bool = False,
) -> str | None:
    v = obj.get(key)
    if v is None:
        if required:
            errors.append(FieldError(loc=(*loc, key), msg="field required"))
        return None
    if not isinstance(v, str):
        errors.append(FieldError(loc=(*loc, key), msg="must be a string"))
        return None
    if required and not v.strip():
        errors.append(FieldError(loc=(*loc, key), msg="must not be empty"))
    elif len(v) > max_len:
        errors.append(FieldError(loc=(*loc, key), msg=f"at most {max_len} characters (got {len(v)})"))
    return v


def _check_text(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    _text(c, "body", (t,), errors, max_len=TEXT_BODY_MAX, required=True)
    if "preview_url" in c and not isinstance(c["preview_url"], bool):
        errors.append(FieldError(loc=(t, "preview_url"), msg="must be a boolean"))


def _check_media(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    has_id, has_link = c.get("id") is not None, c.get("link") is not None
    if has_id == has_link:
        errors.append(FieldError(loc=(t,), msg="give exactly one of id or link"))
    if has_id:
        _text(c, "id", (t,), errors, max_len=256, required=True)
    if has_link:
        link = _text(c, "link", (t,), errors, max_len=2048, required=True)
        if link is not None and not link.startswith(("https://", "http://")):
            errors.append(FieldError(loc=(t, "link"), msg="must be an http(s) URL"))
    if "caption" in c:
        if t in ("audio", "sticker"):
            errors.append(FieldError(loc=(t, "caption"), msg=f"{t} messages take no caption"))
        else:
            _text(c, "caption", (t,), errors, max_len=CAPTION_MAX)
    if "filename" in c:
        if t != "document":
            errors.append(FieldError(loc=(t, "filename"), msg="only documents take a filename"))
        else:
            _text(c, "filename", (t,), errors, max_len=240)


def _check_location(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    for key, bound in (("latitude", 90.0), ("longitude", 180.0)):
        v = c.get(key)
        if v is None:
            errors.append(FieldError(loc=(t, key), msg="field required"))
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            errors.append(FieldError(loc=(t, key), msg="must be a number"))
        elif not -bound <= v <= bound:
            errors.append(FieldError(loc=(t, key), msg=f"must be between {-bound:g} and {bound:g}"))
    _text(c, "name", (t,), errors, max_len=1000)
    _text(c, "address", (t,), errors, max_len=1000)


def _check_contacts(content: object) -> list[FieldError]:
    if isinstance(content, Mapping):
        content = content.get("contacts")
    if isinstance(content, str | bytes) or not isinstance(content, Sequence) or not content:
        return [FieldError(loc=("contacts",), msg="must be a non-empty list of contact cards")]
    errors: list[FieldError] = []
    for i, card in enumerate(content):
        if not isinstance(card, Mapping):
            errors.append(FieldError(loc=("contacts", i), msg="must be an object"))
            continue
        name = card.get("name")
        if not isinstance(name, Mapping):
            errors.append(FieldError(loc=("contacts", i, "name"), msg="field required"))
            continue
        _text(name, "formatted_name", ("contacts", i, "name"), errors, max_len=1000, required=True)
    return errors


def _check_reaction(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    _text(c, "message_id", (t,), errors, max_len=512, required=True)
    emoji = c.get("emoji")
    # An empty emoji is how the Cloud API removes a reaction.
    if emoji is None:
        errors.append(FieldError(loc=(t, "emoji"), msg="field required"))
    elif not isinstance(emoji, str):
        errors.append(FieldError(loc=(t, "emoji"), msg="must be a string"))
    elif len(emoji) > 16:
        errors.append(FieldError(loc=(t, "emoji"), msg="must be a single emoji"))


def _check_template(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    _text(c, "name", (t,), errors, max_len=512, required=True)
    lang = c.get("language")
    if isinstance(lang, Mapping):
        _text(lang, "code", (t, "language"), errors, max_len=16, required=True)
    else:
        _text(c, "language", (t,), errors, max_len=16, required=True)
    params = c.get("parameters")
    if params is not None and (isinstance(params, str) or not isinstance(params, Mapping | Sequence)):
        errors.append(FieldError(loc=(t, "parameters"), msg="must be an object or a list"))


def _check_interactive(t: str, c: Mapping[str, object], errors: list[FieldError]) -> None:
    itype = c.get("type")
    if not isinstance(itype, str) or not itype:
        errors.append(FieldError(loc=(t, "type"), msg="field required"))
        return
    needs_body = itype in ("button", "list", "cta_url", "product_list", "flow")
    body = c.get("body")
    if isinstance(body, Mapping):
        _text(body, "text", (t, "body"), errors, max_len=INTERACTIVE_BODY_MAX, required=needs_body)
    elif body is not None or needs_body:
        errors.append(FieldError(loc=(t, "body"), msg="must be an object with text"))
    footer = c.get("footer")
    if isinstance(footer, Mapping):
        _text(footer, "text", (t, "footer"), errors, max_len=INTERACTIVE_HEADER_FOOTER_MAX)
    header = c.get("header")
    if isinstance(header, Mapping) and header.get("type") == "text":
        _text(header, "text", (t, "header"), errors, max_len=INTERACTIVE_HEADER_FOOTER_MAX, required=True)
    elif itype == "list" and isinstance(header, Mapping):
        errors.append(FieldError(loc=(t, "header", "type"), msg="a list header must be text"))
    action = c.get("action")
    if not isinstance(action, Mapping):
        if itype in ("button", "list", "cta_url"):
            errors.append(FieldError(loc=(t, "action"), msg="field required"))
        return
    if itype == "button":
        _check_reply_buttons(action, errors)
    elif itype == "list":
        _check_list(action, errors)


def _check_reply_buttons(action: Mapping[str, object], errors: list[FieldError]) -> None:
    loc: Loc = ("interactive", "action", "buttons")
    buttons = action.get("buttons")
    if not isinstance(buttons, Sequence) or isinstance(buttons, str):
        errors.append(FieldError(loc=loc, msg="must be a list of 1 to 3 reply buttons"))
        return
    if not 1 <= len(buttons) <= 3:
        errors.append(FieldError(loc=loc, msg=f"must hold 1 to 3 reply buttons (got {len(buttons)})"))
    titles: set[str] = set()
    ids: set[str] = set()
    for i, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, Mapping) else None
        if not isinstance(reply, Mapping):
            errors.append(FieldError(loc=(*loc, i, "reply"), msg="field required"))
            continue
        if button.get("type", "reply") != "reply":
            errors.append(FieldError(loc=(*loc, i, "type"), msg="must be 'reply'"))
        title = _text(reply, "title", (*loc, i, "reply"), errors, max_len=BUTTON_TITLE_MAX, required=True)
        bid = _text(reply, "id", (*loc, i, "reply"), errors, max_len=BUTTON_ID_MAX, required=True)
        if title is not None and title in titles:
            errors.append(FieldError(loc=(*loc, i, "reply", "title"), msg="button titles must be unique"))
        if bid is not None and bid in ids:
            errors.append(FieldError(loc=(*loc, i, "reply", "id"), msg="button ids must be unique"))
        titles.add(title or "")
        ids.add(bid or "")


def _check_list(action: Mapping[str, object], errors: list[FieldError]) -> None:
    loc: Loc = ("interactive", "action")
    _text(action, "button", loc, errors, max_len=LIST_BUTTON_MAX, required=True)
    sections = action.get("sections")
    if not isinstance(sections, Sequence) or isinstance(sections, str) or not sections:
        errors.append(FieldError(loc=(*loc, "sections"), msg="must be a list of 1 to 10 sections"))
        return
    if len(sections) > LIST_SECTIONS_MAX:
        errors.append(
            FieldError(
                loc=(*loc, "sections"), msg=f"at most {LIST_SECTIONS_MAX} sections (got {len(sections)})"
            )
        )
    total_rows = 0
    row_ids: set[str] = set()
    for i, section in enumerate(sections):
        sloc: Loc = (*loc, "sections", i)
        if not isinstance(section, Mapping):
            errors.append(FieldError(loc=sloc, msg="must be an object"))
            continue
        _text(section, "title", sloc, errors, max_len=SECTION_TITLE_MAX, required=len(sections) > 1)
        rows = section.get("rows")
        if not isinstance(rows, Sequence) or isinstance(rows, str) or not rows:
            errors.append(FieldError(loc=(*sloc, "rows"), msg="must be a non-empty list"))
            continue
        total_rows += len(rows)
        for j, row in enumerate(rows):
            rloc: Loc = (*sloc, "rows", j)
            if not isinstance(row, Mapping):
                errors.append(FieldError(loc=rloc, msg="must be an object"))
                continue
            rid = _text(row, "id", rloc, errors, max_len=ROW_ID_MAX, required=True)
            _text(row, "title", rloc, errors, max_len=ROW_TITLE_MAX, required=True)
            _text(row, "description", rloc, errors, max_len=ROW_DESCRIPTION_MAX)
            if rid is not None:
                if rid in row_ids:
                    errors.append(FieldError(loc=(*rloc, "id"), msg="row ids must be unique"))
                row_ids.add(rid)
    if total_rows > LIST_ROWS_MAX:
        errors.append(
            FieldError(loc=(*loc, "sections"), msg=f"at most {LIST_ROWS_MAX} rows in all (got {total_rows})")
        )


_CHECKERS: Final = {
    "text": _check_text,
    "location": _check_location,
    "reaction": _check_reaction,
    "interactive": _check_interactive,
    "template": _check_template,
}


# ------------------------------------------------------------------------------------ send bodies


def _format_name(fmt: object) -> str:
    return str(getattr(fmt, "value", fmt)).upper()


def _text_parameters(template: TemplateForSend, params: Sequence[tuple[str | None, str]]) -> list[object]:
    named = _format_name(template.parameter_format) == "NAMED"
    out: list[object] = []
    for name, text in params:
        if named and name is not None:
            out.append({"type": "text", "parameter_name": name, "text": text})
        else:
            out.append({"type": "text", "text": text})
    return out


def template_object(template: TemplateForSend) -> dict[str, object]:
    """The ``template`` object of a Send API body (whatsapp-facts §3.7).

    Body parameters come from ``template.parameters``; header text parameters from an optional
    ``header_parameters`` attribute of the same shape, a media header's parameter from an optional
    ``header_media``.
    """
    components: list[object] = []
    header_params: Sequence[tuple[str | None, str]] = getattr(template, "header_parameters", ())
    header_media: Mapping[str, object] | None = getattr(template, "header_media", None)
    if header_media:  # a media header: {"type": "image", "image": {"id": ...}} (whatsapp-facts §3.7)
        components.append({"type": "header", "parameters": [dict(header_media)]})
    elif header_params:
        components.append({"type": "header", "parameters": _text_parameters(template, header_params)})
    if template.parameters:
        components.append({"type": "body", "parameters": _text_parameters(template, template.parameters)})
    obj: dict[str, object] = {"name": template.name, "language": {"code": template.language}}
    if components:
        obj["components"] = components
    return obj


def build_send_body(
    *,
    to: str,
    message_type: str,
    content: Mapping[str, object] | Sequence[object] | None,
    template: TemplateForSend | None = None,
    context_wamid: str | None = None,
) -> dict[str, object]:
    """The JSON body for ``POST /{phone_number_id}/messages``.

    For ``template`` pass the rendered ``template`` (or, failing that, a ready Cloud API template
    object as ``content``); for other types ``content`` is the type object, copied as given.
    """
    # A username customer's business-scoped user id goes in ``recipient`` and there is no ``to``
    # (pywa api.send_message and _helpers.resolve_recipient @0bcf2f1; docs/rules.md).
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        ("recipient" if is_user_id(to) else "to"): to,
        "type": message_type,
    }
    if context_wamid:
        body["context"] = {"message_id": context_wamid}
    if message_type == "template" and template is not None:
        body["template"] = template_object(template)
    elif content is None:
        raise ValueError(f"a {message_type} message needs content")
    elif isinstance(content, Mapping):
        if message_type == "contacts" and "contacts" in content:
            body["contacts"] = content["contacts"]
        else:
            body[message_type] = dict(content)
    else:
        body[message_type] = list(content)
    return body


def build_mark_read_body(wamid: str) -> dict[str, object]:
    """The body that marks an inbound message as read (blue ticks)."""
    return {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}


def parse_send_response(data: bytes | Mapping[str, object]) -> str:
    """The wamid from a 2xx Send API answer; ``SendResponseFormatError`` when there is none."""
    doc: object = data
    if isinstance(data, bytes | bytearray):
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise SendResponseFormatError("send answer is not JSON") from None
    messages = doc.get("messages") if isinstance(doc, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, Mapping) else None
    if not isinstance(wamid, str) or not wamid:
        raise SendResponseFormatError("send answer has no messages[0].id")
    return wamid


def build_send_response(
    *, wa_id: str, wamid: str, recipient_input: str | None = None, message_status: str = "accepted"
) -> dict[str, object]:
    """Meta's 200 answer to a send (``recipient_input`` is the ``to`` as the caller wrote it)."""
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": recipient_input if recipient_input is not None else wa_id, "wa_id": wa_id}],
        "messages": [{"id": wamid, "message_status": message_status}],
    }
