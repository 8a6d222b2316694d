"""The template catalog: create through the provider, mirror its answer, sync, status changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from carewindow.policy import (
    Template,
    TemplateButton,
    TemplateCategory,
    TemplateStatus,
    parse_placeholders,
    validate_template_definition,
)
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Engine, write_tx


def check_template(
    *,
    name: str,
    language: str,
    category: str,
    body: str,
    header: str | None,
    footer: str | None,
    buttons: Sequence[Mapping[str, Any]],
    status: str = "PENDING",
    header_format: str | None = None,
) -> Template:
    """A validated Template (raises the policy's TemplateDefinitionError)."""
    template = Template(
        name=name,
        language=language,
        category=TemplateCategory(category.lower()),
        status=TemplateStatus.parse(status),
        body=body,
        header=header,
        header_media=media_format(header_format),
        footer=footer,
        buttons=tuple(
            TemplateButton(
                type=b.get("type", "QUICK_REPLY"),
                text=b["text"],
                url=b.get("url"),
                phone_number=b.get("phone_number"),
            )
            for b in buttons
        ),
    )
    validate_template_definition(template)
    return template


def media_format(header_format: str | None) -> str | None:
    """Meta's HEADER ``format`` as the policy's ``header_media``: ``image``/``video``/``document`` for
    a media header, None for TEXT or no header (others, such as LOCATION, are not sendable here)."""
    if header_format is None or header_format.upper() == "TEXT":
        return None
    return header_format.lower()


def graph_definition(
    t: Template, examples: Sequence[str] | Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``POST /{waba_id}/message_templates`` body for ``t``."""
    fmt, names = parse_placeholders(t.body)
    body: dict[str, Any] = {"type": "BODY", "text": t.body}
    if names:
        if fmt is not None and fmt.value == "named":
            ex = examples if isinstance(examples, Mapping) else {}
            body["example"] = {
                "body_text_named_params": [
                    {"param_name": n, "example": ex.get(n, f"example_{n}")} for n in names
                ]
            }
        else:
            ex_list = (
                list(examples) if isinstance(examples, Sequence) and not isinstance(examples, str) else []
            )
            body["example"] = {
                "body_text": [
                    [ex_list[i] if i < len(ex_list) else f"example{i + 1}" for i in range(len(names))]
                ]
            }
    components: list[dict[str, Any]] = []
    if t.header_media:
        components.append({"type": "HEADER", "format": t.header_media.upper()})
    elif t.header:
        components.append({"type": "HEADER", "format": "TEXT", "text": t.header})
    components.append(body)
    if t.footer:
        components.append({"type": "FOOTER", "text": t.footer})
    if t.buttons:
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        k: v
                        for k, v in {
                            "type": b.type.upper(),
                            "text": b.text,
                            "url": b.url,
                            "phone_number": b.phone_number,
                        }.items()
                        if v is not None
                    }
                    for b in t.buttons
                ],
            }
        )
    out: dict[str, Any] = {
        "name": t.name,
        "language": t.language,
        "category": t.category.value.upper(),
        "components": components,
    }
    if fmt is not None:
        out["parameter_format"] = fmt.value.upper()
    return out


def row_values(
    t: Template, *, provider_id: str | None, now: datetime, reason: str | None = None
) -> dict[str, Any]:
    return {
        "name": t.name,
        "language": t.language,
        "category": t.category.value,
        "status": (t.status_text or t.status.value)[:64],
        "body": t.body,
        "header": t.header,
        "header_format": t.header_media.upper() if t.header_media else None,
        "footer": t.footer,
        "buttons": [
            {
                k: v
                for k, v in {
                    "type": b.type,
                    "text": b.text,
                    "url": b.url,
                    "phone_number": b.phone_number,
                }.items()
                if v is not None
            }
            for b in t.buttons
        ],
        "provider_id": provider_id,
        "reason": reason,
        "updated_at": now,
    }


def do_store_template(engine: Engine, values: Mapping[str, Any]) -> None:
    with write_tx(engine) as conn:
        template_store.upsert(conn, values)


def from_graph(item: Mapping[str, Any]) -> Template | None:
    """A provider catalog entry as a Template; None when it is not a text template we can send."""
    components = item.get("components") or []
    by_type = {str(c.get("type", "")).upper(): c for c in components if isinstance(c, Mapping)}
    body = by_type.get("BODY", {}).get("text")
    if not isinstance(body, str):
        return None
    header_c = by_type.get("HEADER")
    fmt = str(header_c.get("format", "TEXT")).upper() if header_c else "TEXT"
    header = header_c.get("text") if header_c and fmt == "TEXT" else None
    footer = by_type.get("FOOTER", {}).get("text")
    buttons = by_type.get("BUTTONS", {}).get("buttons") or []
    raw_status = str(item.get("status", "PENDING")).upper()
    status = TemplateStatus.parse(raw_status)  # an unknown one is kept as text, never sent
    try:
        category = TemplateCategory(str(item.get("category", "utility")).lower())
    except ValueError:
        return None
    return Template(
        name=str(item["name"]),
        language=str(item["language"]),
        category=category,
        status=status,
        status_text=raw_status if status is TemplateStatus.UNKNOWN else None,
        body=body,
        header=header,
        header_media=media_format(fmt) if fmt in ("IMAGE", "VIDEO", "DOCUMENT") else None,
        footer=footer,
        buttons=tuple(
            TemplateButton(
                type=str(b.get("type", "QUICK_REPLY")),
                text=str(b.get("text", "")),
                url=b.get("url"),
                phone_number=b.get("phone_number"),
            )
            for b in buttons
            if isinstance(b, Mapping)
        ),
    )


def do_sync(engine: Engine, items: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Mirror the provider's catalog; returns how many templates were stored."""
    n = 0
    with write_tx(engine) as conn:
        for item in items:
            t = from_graph(item)
            if t is None:
                continue
            template_store.upsert(conn, row_values(t, provider_id=str(item.get("id") or "") or None, now=now))
            n += 1
    return n
