"""The sandbox's state on disk, so a restart on the same database finds what Meta would still know.

One JSON file per carewindow database (``SandboxConfig.state_file``; ``serve`` puts it under
``var/sandbox/`` in the carewindow home, docs/subsystems/sandbox.md): the template catalog (each entry
as ``GET /message_templates`` lists it, with its id and status), every customer's window (the times
the policy's ``CareWindow`` keeps) and which customers hide their number behind a username. Written
whole after each change, through a temporary file and a rename, so a crash leaves the previous state,
never half a file. A file that cannot be read is set aside (``.unreadable``) and the sandbox starts
empty, saying so in the log: the sandbox never refuses to start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from carewindow.policy import CareWindow, TemplateStatus

from .catalog import StoredTemplate, parse_definition
from .errors import GraphFailure

__all__ = ["STATE_VERSION", "SavedState", "load_state", "save_state"]

logger = logging.getLogger(__name__)
STATE_VERSION = 1


class SavedState:
    """What a state file held: the catalog by (name, language) and the windows by wa_id."""

    def __init__(
        self,
        templates: dict[tuple[str, str], StoredTemplate],
        windows: dict[str, CareWindow],
        username_only: set[str] | None = None,
    ) -> None:
        self.templates = templates
        self.windows = windows
        self.username_only = username_only or set()


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _window_json(w: CareWindow) -> dict[str, str | None]:
    return {
        "last_inbound_at": w.last_inbound_at.isoformat() if w.last_inbound_at else None,
        "opened_at": w.opened_at.isoformat() if w.opened_at else None,
        "entry_point_at": w.entry_point_at.isoformat() if w.entry_point_at else None,
    }


def save_state(
    path: Path,
    *,
    templates: Mapping[tuple[str, str], StoredTemplate],
    windows: Mapping[str, CareWindow],
    username_only: set[str] | frozenset[str] = frozenset(),
) -> None:
    """Write the state whole: a temporary file beside ``path``, then an atomic rename."""
    doc = {
        "version": STATE_VERSION,
        "templates": [t.to_json() for t in templates.values()],
        "windows": {wa_id: _window_json(w) for wa_id, w in windows.items()},
        "username_only": sorted(username_only),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def load_state(path: Path) -> SavedState:
    """The saved state, or an empty one when there is no file (or it cannot be read: set aside)."""
    if not path.exists():
        return SavedState({}, {})
    try:
        doc: Any = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} sandbox state file")
        templates: dict[tuple[str, str], StoredTemplate] = {}
        for item in doc.get("templates", []):
            stored = parse_definition(
                item, template_id=str(item["id"]), status=TemplateStatus.parse(item.get("status"))
            )
            templates[(stored.template.name, stored.template.language)] = stored
        windows = {
            str(wa_id): CareWindow(
                last_inbound_at=_time(w.get("last_inbound_at")),
                opened_at=_time(w.get("opened_at")),
                entry_point_at=_time(w.get("entry_point_at")),
            )
            for wa_id, w in dict(doc.get("windows", {})).items()
        }
        username_only = {str(w) for w in doc.get("username_only", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, GraphFailure) as exc:
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        logger.warning(
            "sandbox state %s could not be read (%s); set aside as %s, starting empty", path, exc, aside
        )
        return SavedState({}, {})
    return SavedState(templates, windows, username_only)
