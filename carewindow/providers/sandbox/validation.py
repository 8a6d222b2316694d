"""Structural checks on a Send API body, mirroring the limits Meta enforces (whatsapp-facts.md §4.2).

Window and template rules are not here: they come from ``carewindow.policy`` in the simulator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carewindow.policy.addresses import is_user_id

from .payloads import GraphError

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
FREE_FORM_TYPES = MEDIA_TYPES | {"text", "location", "contacts", "interactive", "reaction"}
MESSAGE_TYPES = FREE_FORM_TYPES | {"template"}

_TYPE_LIST = ", ".join(sorted(t.upper() for t in MESSAGE_TYPES))
TEXT_MAX = 4096
_PHONE = re.compile(r"^\d{6,15}$")


def _required(param: str) -> GraphError:
    return GraphError(code=100, message=f"(#100) The parameter {param} is required.", details=None)


def _invalid(details: str, code: int = 131009) -> GraphError:
    return GraphError(code=code, details=details)


def normalise_recipient(to: object) -> str | None:
    """The wa_id for ``to`` (E.164 with or without ``+``, spaces and dashes allowed), or None."""
    if not isinstance(to, str | int) or isinstance(to, bool):
        return None
    digits = re.sub(r"[\s\-()]", "", str(to)).removeprefix("+")
    return digits if _PHONE.match(digits) else None


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _check_len(value: str | None, *, path: str, max_len: int, min_len: int = 1) -> GraphError | None:
    if value is None or not min_len <= len(value) <= max_len:
        return _invalid(f"{path} length invalid. Min length: {min_len}, Max length: {max_len}")
    return None


def check_envelope(body: object) -> GraphError | None:
    """Top-level fields: ``messaging_product``, ``recipient_type``, ``to`` (or ``recipient``) and ``type``."""
    if not isinstance(body, dict):
        return GraphError(code=100, details="The request body must be a JSON object.")
    product = body.get("messaging_product")
    if product is None:
        return _required("messaging_product")
    if product != "whatsapp":
        return GraphError(
            code=100, message=f'(#100) Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
        )
    if body.get("recipient_type", "individual") != "individual":
        return GraphError(code=100, details="The sandbox emulates recipient_type 'individual' only.")
    recipient = body.get("recipient")
    if recipient is not None and body.get("to") is None:
        # The 2026 form for username customers (pywa api.send_message @0bcf2f1): a user id, no ``to``.
        if not (isinstance(recipient, str) and is_user_id(recipient)):
            return _invalid("Invalid 'recipient' parameter: expected a business-scoped user id (CC.digits).")
    elif body.get("to") is None:
        return _required("to")
    elif normalise_recipient(body["to"]) is None:
        return _invalid("Invalid 'to' parameter: expected a phone number (digits, optional leading +).")
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return GraphError(
            code=100,
            message=f'(#100) Param type must be one of {{{_TYPE_LIST}}} - got "{kind}".',
        )
    if not isinstance(body.get(kind), dict | list):
        return _required(kind)
    context = body.get("context")
    if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
        return _required("context['message_id']")
    return None


def check_content(kind: str, obj: Any) -> GraphError | None:
    """The per-type object (``text``, ``image``, ``interactive`` …); templates are checked elsewhere."""
    if kind == "text":
        body = _text(obj, "body")
        if body is None:
            return _required("text['body']")
        if not body:
            return _invalid("text['body'] must not be empty.", code=100)
        if len(body) > TEXT_MAX:
            return GraphError(
                code=100, message=f"(#100) Param text['body'] must be at most {TEXT_MAX} characters long."
            )
        return None
    if kind in MEDIA_TYPES:
        has_id, link = "id" in obj, obj.get("link")
        if has_id == (link is not None):
            return GraphError(code=100, details=f"{kind}: provide exactly one of 'id' or 'link'.")
        if link is not None and not (isinstance(link, str) and re.match(r"^https?://", link)):
            return _invalid(f"{kind}['link'] must be an http(s) URL.")
        return None
    if kind == "location":
        for key in ("latitude", "longitude"):
            value = obj.get(key)
            if value is None:
                return _required(f"location['{key}']")
            try:
                float(value)
            except (TypeError, ValueError):
                return _invalid(f"location['{key}'] must be a number.")
        return None
    if kind == "contacts":
        if not isinstance(obj, list) or not obj:
            return _required("contacts")
        for card in obj:
            name = card.get("name") if isinstance(card, dict) else None
            if not isinstance(name, dict) or not isinstance(name.get("formatted_name"), str):
                return _required("contacts[]['name']['formatted_name']")
        return None
    if kind == "reaction":
        if not isinstance(obj.get("message_id"), str):
            return _required("reaction['message_id']")
        if not isinstance(obj.get("emoji", ""), str):
            return _invalid("reaction['emoji'] must be a string.")
        return None
    if kind == "interactive":
        return _check_interactive(obj)
    return None


def _check_interactive(obj: Mapping[str, Any]) -> GraphError | None:
    itype = obj.get("type")
    action = obj.get("action")
    if not isinstance(itype, str):
        return _required("interactive['type']")
    if not isinstance(action, dict):
        return _required("interactive['action']")
    body = obj.get("body")
    if itype in {"button", "list", "cta_url"}:
        if not isinstance(body, dict) or _text(body, "text") is None:
            return _required("interactive['body']['text']")
        if error := _check_len(_text(body, "text"), path="Body text", max_len=1024):
            return error
    footer = obj.get("footer")
    if isinstance(footer, dict) and (error := _check_len(_text(footer, "text"), path="Footer", max_len=60)):
        return error
    header = obj.get("header")
    if (
        isinstance(header, dict)
        and header.get("type") == "text"
        and (error := _check_len(_text(header, "text"), path="Header text", max_len=60))
    ):
        return error
    if itype == "button":
        return _check_reply_buttons(action)
    if itype == "list":
        return _check_list(action)
    if itype == "cta_url":
        params = action.get("parameters")
        if not isinstance(params, dict):
            return _required("interactive['action']['parameters']")
        if error := _check_len(_text(params, "display_text"), path="Display text", max_len=20):
            return error
        if not re.match(r"^https?://", _text(params, "url") or ""):
            return _invalid("interactive['action']['parameters']['url'] must be an http(s) URL.")
    # Other interactive kinds (flow, product, location_request_message …) pass unchecked.
    return None


def _check_reply_buttons(action: Mapping[str, Any]) -> GraphError | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return _invalid("Buttons count invalid. Min: 1, Max: 3")
    ids: set[str] = set()
    titles: set[str] = set()
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict):
            return _required("interactive['action']['buttons'][]['reply']")
        title, bid = _text(reply, "title"), _text(reply, "id")
        if error := _check_len(title, path="Button title", max_len=20):
            return error
        if error := _check_len(bid, path="Button id", max_len=256):
            return error
        if title is None or bid is None:  # unreachable after _check_len; narrows the types
            return _required("interactive['action']['buttons'][]['reply']")
        if bid != bid.strip():
            return _invalid("Button id must not have leading or trailing spaces.")
        if title in titles or bid in ids:
            return _invalid("Button title and id must be unique.")
        titles.add(title)
        ids.add(bid)
    return None


def _check_list(action: Mapping[str, Any]) -> GraphError | None:
    if error := _check_len(_text(action, "button"), path="Button label", max_len=20):
        return error
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return _invalid("Sections count invalid. Min: 1, Max: 10")
    total = 0
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("rows"), list):
            return _required("interactive['action']['sections'][]['rows']")
        title = _text(section, "title")
        if len(sections) > 1 and title is None:
            return _required("interactive['action']['sections'][]['title']")
        if title is not None and (error := _check_len(title, path="Section title", max_len=24)):
            return error
        for row in section["rows"]:
            if not isinstance(row, dict):
                return _required("interactive['action']['sections'][]['rows'][]")
            total += 1
            if error := _check_len(_text(row, "id"), path="Row id", max_len=200):
                return error
            if error := _check_len(_text(row, "title"), path="Row title", max_len=24):
                return error
            desc = row.get("description")
            if desc is not None and (
                error := _check_len(_text(row, "description"), path="Row description", max_len=72, min_len=0)
            ):
                return error
    if not 1 <= total <= 10:
        return _invalid("Rows count invalid. Min: 1, Max: 10 (across all sections)")
    return None
