"""Graph API send requests as typed values: what a Cloud API client (pywa, Chatwoot, n8n) POSTs to
``/{phone_number_id}/messages``, read into the parts carewindow's send command needs.

``parse_graph_request`` returns a ``GraphSend`` (a message: text, media by link, location, contacts,
interactive, reaction, template with components, ``context`` replies) or a ``GraphMarkRead``
(``{"status": "read", "message_id": ...}``), or raises ``GraphError`` with the code Meta answers for
the same mistake (100 invalid parameter, 131008 missing parameter, 131009 parameter value not valid,
131051 unsupported type). Template components become the policy's ``TemplateRef`` parameters: body
text parameters in order, then header text parameters (positional), or one name -> value mapping when
the client names them (``parameter_name``). A media header parameter (``image``, ``video``,
``document`` in the header component) becomes the template's ``header``, checked by the policy like a
``/v1`` one. Parameter kinds the template model has no value for (buttons) are refused with 131009
rather than sent unchecked.

Sources: Meta's "Send messages" and "Template messages" references (whatsapp-facts §3), and the
request bodies of Chatwoot's ``whatsapp_cloud_service.rb`` (docs/gateway.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carewindow.wire.graph_errors import GraphError
from carewindow.wire.messages import OUTBOUND_TYPES

__all__ = ["GraphMarkRead", "GraphSend", "GraphTemplate", "parse_graph_request"]

# Parameter kinds Meta lets a template carry as text (``fallback_value`` for currency and date_time).
_TEXT_KINDS = frozenset({"text", "currency", "date_time"})
_MEDIA_HEADER_KINDS = frozenset({"image", "video", "document"})


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphTemplate:
    name: str
    language: str
    params: tuple[str, ...] | dict[str, str]
    #: A media header's parameter as Meta takes it (``{"type": "image", "image": {"id": ...}}``), or None.
    header: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphSend:
    """One message as the client asked for it (``content`` is the type's object, as sent)."""

    to: str
    type: str
    content: Any
    template: GraphTemplate | None
    context_wamid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphMarkRead:
    message_id: str
    typing: bool  # ``typing_indicator`` asked for as well


def _invalid(code: int, details: str) -> GraphError:
    return GraphError.for_code(code, details=details)


def parse_graph_request(doc: object) -> GraphSend | GraphMarkRead:
    """Read a ``POST /{phone_number_id}/messages`` body (already JSON-decoded)."""
    if not isinstance(doc, Mapping):
        raise _invalid(100, "The request body must be a JSON object.")
    product = doc.get("messaging_product")
    if product is not None and product != "whatsapp":
        raise _invalid(100, "messaging_product must be 'whatsapp'.")
    if doc.get("status") == "read":
        mid = doc.get("message_id")
        if not isinstance(mid, str) or not mid:
            raise _invalid(131008, "message_id is required to mark a message as read.")
        return GraphMarkRead(message_id=mid, typing=isinstance(doc.get("typing_indicator"), Mapping))
    if product is None:
        raise _invalid(131008, "messaging_product is required ('whatsapp').")
    to = doc.get("to")
    if not isinstance(to, str | int) or isinstance(to, bool) or not str(to).strip():
        raise _invalid(131008, "to is required: the recipient's phone number.")
    kind = doc.get("type", "text")  # Meta's default type is text
    if not isinstance(kind, str) or kind not in OUTBOUND_TYPES:
        raise _invalid(131051, f"Unsupported message type {kind!r}.")
    recipient_type = doc.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise _invalid(131009, "recipient_type must be 'individual'.")
    context = doc.get("context")
    context_wamid: str | None = None
    if context is not None:  # Chatwoot sends "context": null when the message is no reply
        mid = context.get("message_id") if isinstance(context, Mapping) else None
        if not isinstance(mid, str) or not mid:
            raise _invalid(131009, "context.message_id must be the wamid the message replies to.")
        context_wamid = mid
    content = doc.get(kind)
    if kind == "template":
        return GraphSend(
            to=str(to),
            type=kind,
            content=None,
            template=_template(content),
            context_wamid=context_wamid,
        )
    if kind == "contacts":
        if not isinstance(content, list) or not content:
            raise _invalid(131008, "contacts must be a non-empty list.")
    elif not isinstance(content, Mapping):
        raise _invalid(131008, f"A {kind} message needs a '{kind}' object.")
    return GraphSend(to=str(to), type=kind, content=content, template=None, context_wamid=context_wamid)


def _template(obj: object) -> GraphTemplate:
    if not isinstance(obj, Mapping):
        raise _invalid(131008, "A template message needs a 'template' object.")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid(131008, "template.name is required.")
    language = obj.get("language")
    code = language.get("code") if isinstance(language, Mapping) else language
    if not isinstance(code, str) or not code:
        raise _invalid(131008, "template.language.code is required.")
    components = obj.get("components") or []
    if not isinstance(components, Sequence) or isinstance(components, str | bytes):
        raise _invalid(131009, "template.components must be a list.")
    body: list[tuple[str | None, str]] = []
    header: list[tuple[str | None, str]] = []
    media_header: Mapping[str, Any] | None = None
    for i, comp in enumerate(components):
        if not isinstance(comp, Mapping):
            raise _invalid(131009, f"template.components[{i}] must be an object.")
        ctype = str(comp.get("type", "")).lower()
        if ctype not in ("body", "header"):
            raise _invalid(
                131009,
                f"template.components[{i}]: {ctype or 'untyped'} parameters are not supported through "
                "carewindow's gateway (body and header text parameters are).",
            )
        target = body if ctype == "body" else header
        given = comp.get("parameters") or []
        if not isinstance(given, Sequence) or isinstance(given, str | bytes):
            raise _invalid(131009, f"template.components[{i}].parameters must be a list.")
        for j, p in enumerate(given):
            if ctype == "header" and isinstance(p, Mapping) and p.get("type") in _MEDIA_HEADER_KINDS:
                if media_header is not None:
                    raise _invalid(131009, "A template header takes one media parameter.")
                media_header = dict(p)
                continue
            target.append(_text_parameter(p, f"template.components[{i}].parameters[{j}]"))
    pairs = [*body, *header]
    named = [n for n, _ in pairs if n is not None]
    if named and len(named) != len(pairs):
        raise _invalid(131009, "Template parameters must all have a parameter_name, or none.")
    params: tuple[str, ...] | dict[str, str] = (
        {n: v for n, v in pairs if n is not None} if named else tuple(v for _, v in pairs)
    )
    return GraphTemplate(name=name, language=code, params=params, header=media_header)


def _text_parameter(p: object, where: str) -> tuple[str | None, str]:
    if not isinstance(p, Mapping):
        raise _invalid(131009, f"{where} must be an object.")
    kind = p.get("type", "text")
    if kind not in _TEXT_KINDS:
        raise _invalid(
            131009, f"{where}: {kind} parameters are not supported through carewindow's gateway (text is)."
        )
    value: object
    if kind == "text":
        value = p.get("text")
    else:
        inner = p.get(kind)
        value = inner.get("fallback_value") if isinstance(inner, Mapping) else None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _invalid(131008, f"{where}: a {kind} parameter needs its value.")
    name = p.get("parameter_name")
    if name is not None and (not isinstance(name, str) or not name):
        raise _invalid(131009, f"{where}.parameter_name must be a non-empty string.")
    return name, str(value)
