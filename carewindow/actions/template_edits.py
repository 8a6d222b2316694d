"""Edits to the local template catalog that do not go through the provider first: change an entry
(e.g. mirror a status change made in Meta's manager) and remove one. Creating and syncing, which ask
the provider, are in ``actions.templates``."""

from __future__ import annotations

from datetime import datetime

from carewindow.actions.errors import NotFound
from carewindow.actions.templates import check_template, row_values
from carewindow.storage import templates as template_store
from carewindow.storage.engine import Engine, write_tx


def _missing(name: str, language: str) -> NotFound:
    return NotFound(f"No template {name!r} in language {language!r}.", name=name, language=language)


def do_update_template(
    engine: Engine,
    name: str,
    language: str,
    *,
    category: str | None = None,
    status: str | None = None,
    body: str | None = None,
    header: str | None = None,
    footer: str | None = None,
    now: datetime,
) -> None:
    """Change the given fields of a stored template (the rest stay), validated as a whole: NotFound
    when there is no such template, the policy's TemplateDefinitionError when the result is invalid."""
    with write_tx(engine) as conn:
        row = template_store.get(conn, name, language)
        if row is None:
            raise _missing(name, language)
        t = check_template(
            name=name,
            language=language,
            buttons=list(row.buttons or []),
            category=category or row.category,
            status=status or row.status,
            body=body if body is not None else row.body,
            header=header if header is not None else row.header,
            footer=footer if footer is not None else row.footer,
            header_format=row.header_format,  # a media header stays media
        )
        template_store.upsert(conn, row_values(t, provider_id=row.provider_id, now=now))


def do_remove_template(engine: Engine, name: str, language: str) -> None:
    """Remove a template from the local catalog (NotFound when there is none)."""
    with write_tx(engine) as conn:
        removed = template_store.remove(conn, name, language)
    if removed == 0:
        raise _missing(name, language)
