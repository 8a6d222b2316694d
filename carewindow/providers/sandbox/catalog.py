"""The sandbox's template catalog: Meta's management JSON ⇄ ``carewindow.policy.Template``.

Rules (placeholders, limits, parameter checks) live in ``carewindow.policy``; this module only
translates Meta's component lists to and from the policy's value type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from carewindow.policy import (
    Template,
    TemplateButton,
    TemplateCategory,
    TemplateDefinitionError,
    TemplateStatus,
    validate_template_definition,
)

from .errors import GraphFailure
from .payloads import JSON, GraphError

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
# Meta's subcode for "Content in This Language Already Exists" (seen in integrators' error maps).
DUPLICATE_SUBCODE = 2388024


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoredTemplate:
    """One (name, language) entry of the catalog, with the components exactly as submitted."""

    id: str
    template: Template
    components: tuple[JSON, ...]
    parameter_format: str

    @property
    def status(self) -> TemplateStatus:
        return self.template.status

    @property
    def meta_category(self) -> str:
        return self.template.category.value.upper()

    def to_json(self) -> JSON:
        """The item shape of ``GET /{waba_id}/message_templates``."""
        return {
            "name": self.template.name,
            "parameter_format": self.parameter_format,
            "components": [dict(c) for c in self.components],
            "language": self.template.language,
            "status": self.status.value,
            "category": self.meta_category,
            "id": self.id,
        }


def _invalid(details: str) -> GraphError:
    return GraphError(code=100, details=details)


def _component(components: Sequence[Any], kind: str) -> Mapping[str, Any] | None:
    found = [c for c in components if isinstance(c, dict) and str(c.get("type", "")).upper() == kind]
    return found[0] if found else None


def parse_definition(body: object, *, template_id: str, status: TemplateStatus) -> StoredTemplate:
    """Turn a ``POST /message_templates`` body into a validated catalog entry, or raise ``GraphFailure``."""
    if not isinstance(body, dict):
        raise GraphFailure(_invalid("The request body must be a JSON object."))
    for key in ("name", "language", "category", "components"):
        if key not in body:
            raise GraphFailure(GraphError(code=100, message=f"(#100) The parameter {key} is required."))
    name, language, category = body["name"], body["language"], body["category"]
    components = body["components"]
    if not isinstance(name, str) or not isinstance(language, str) or not language:
        raise GraphFailure(_invalid("name and language must be strings."))
    if not isinstance(category, str) or category.upper() not in CATEGORIES:
        raise GraphFailure(
            GraphError(
                code=100,
                message=f"(#100) Param category must be one of {{{', '.join(CATEGORIES)}}}"
                f' - got "{category}".',
            )
        )
    parameter_format = str(body.get("parameter_format", "POSITIONAL")).upper()
    if parameter_format not in PARAMETER_FORMATS:
        raise GraphFailure(_invalid("parameter_format must be POSITIONAL or NAMED."))
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise GraphFailure(_invalid("components must be a list of objects."))
    types = [str(c.get("type", "")).upper() for c in components]
    for kind in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
        if types.count(kind) > 1:
            raise GraphFailure(_invalid(f"At most one {kind} component is allowed."))
    unknown = sorted(set(types) - {"HEADER", "BODY", "FOOTER", "BUTTONS"})
    if unknown:
        raise GraphFailure(_invalid(f"Unsupported component type(s): {', '.join(unknown)}."))
    body_c = _component(components, "BODY")
    if body_c is None or not isinstance(body_c.get("text"), str):
        raise GraphFailure(_invalid("A BODY component with text is required."))
    header_c = _component(components, "HEADER")
    header: str | None = None
    header_format = str(header_c.get("format", "TEXT")).upper() if header_c is not None else "TEXT"
    if header_c is not None and header_format == "TEXT":
        if not isinstance(header_c.get("text"), str):
            raise GraphFailure(_invalid("A TEXT header needs text."))
        header = header_c["text"]
    footer_c = _component(components, "FOOTER")
    footer = footer_c.get("text") if footer_c is not None else None
    if footer is not None and not isinstance(footer, str):
        raise GraphFailure(_invalid("FOOTER text must be a string."))
    buttons_c = _component(components, "BUTTONS")
    buttons: tuple[TemplateButton, ...] = ()
    if buttons_c is not None:
        raw_buttons = buttons_c.get("buttons")
        if not isinstance(raw_buttons, list) or not all(
            isinstance(b, dict) and isinstance(b.get("text"), str) for b in raw_buttons
        ):
            raise GraphFailure(_invalid("BUTTONS needs a list of buttons, each with text."))
        buttons = tuple(
            TemplateButton(
                type=str(b.get("type", "QUICK_REPLY")).lower(),
                text=b["text"],
                url=b.get("url") if isinstance(b.get("url"), str) else None,
                phone_number=b.get("phone_number") if isinstance(b.get("phone_number"), str) else None,
            )
            for b in raw_buttons
        )
    template = Template(
        name=name,
        language=language,
        category=TemplateCategory(category.lower()),
        status=status,
        body=body_c["text"],
        header=header,
        header_media=header_format.lower() if header_format in ("IMAGE", "VIDEO", "DOCUMENT") else None,
        footer=footer,
        buttons=buttons,
    )
    try:
        validate_template_definition(template)
    except TemplateDefinitionError as exc:
        raise GraphFailure(
            GraphError(code=100, details=exc.message, user_title="Invalid template", user_msg=exc.message)
        ) from exc
    return StoredTemplate(
        id=template_id,
        template=template,
        components=tuple(components),
        parameter_format=parameter_format,
    )


def send_parameters(template_obj: Mapping[str, Any]) -> tuple[list[str] | dict[str, str], GraphError | None]:
    """Text parameters of a template send, body first then header (the policy's order): a list
    (positional) or a mapping (``parameter_name``). Rich parameters (currency, date_time) count with
    their ``fallback_value``, as Meta renders them; media header parameters are not text and are skipped.
    """
    components = template_obj.get("components") or []
    if not isinstance(components, list):
        return [], GraphError(code=100, details="template['components'] must be a list.")
    positional: dict[str, list[str]] = {"body": [], "header": []}
    named: dict[str, str] = {}
    for component in components:
        kind = str(component.get("type", "")).lower() if isinstance(component, dict) else ""
        if kind not in positional:
            continue  # buttons carry payloads, not placeholders of the body or header
        for param in component.get("parameters") or []:
            if not isinstance(param, dict):
                return [], GraphError(code=131009, details="Each parameter must be an object.")
            ptype = param.get("type", "text")
            if ptype == "text":
                value = param.get("text")
            elif ptype in ("currency", "date_time") and isinstance(param.get(ptype), dict):
                value = param[ptype].get("fallback_value")
            elif kind == "header" and ptype in ("image", "video", "document", "location"):
                continue
            else:
                return [], GraphError(code=132012, details=f"{kind} parameter type {ptype!r} is not text.")
            if not isinstance(value, str):
                return [], GraphError(
                    code=131008, details=f"{kind} parameter of type {ptype!r} has no value."
                )
            if isinstance(param.get("parameter_name"), str):
                named[param["parameter_name"]] = value
            else:
                positional[kind].append(value)
    values = positional["body"] + positional["header"]
    if named and values:
        return [], GraphError(code=132012, details="Mixing named and positional parameters.")
    return (named if named else values), None


def media_header(template_obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The media parameter of a send's header component (``{"type": "image", "image": {...}}``), or
    None: Meta requires it for a template whose header is IMAGE, VIDEO or DOCUMENT."""
    components = template_obj.get("components") or []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict) or str(component.get("type", "")).lower() != "header":
            continue
        for param in component.get("parameters") or []:
            if isinstance(param, dict) and param.get("type") in ("image", "video", "document"):
                return param
    return None
