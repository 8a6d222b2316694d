"""What a development server leaves for the CLI, per database, under the carewindow home's ``var/``.

``carewindow serve`` records where it listens (``var/server.json``) and, with ``--dev``, keeps its
admin key (``var/dev-api-key``). Both are named after the database they belong to, so a second
server on another database never overwrites the first one's: the default database
(``var/carewindow.db``) has the plain names, any other database a suffix naming it
(``var/dev-api-key.other-1a2b3c4d``). The CLI reads the record of the database it is configured for,
so ``carewindow send`` finds the server whatever its port and wherever the command is run from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from carewindow.settings import Settings, sqlite_path

__all__ = ["ServerRecord", "database_label", "dev_key_file", "forget_server", "read_server", "record_server"]


def database_label(url: str) -> str:
    """The database as a person recognises it: a SQLite file's path, a server URL without password."""
    path = sqlite_path(url)
    if path is not None:
        return f"SQLite {path}"
    if url.startswith("sqlite"):
        return "SQLite in memory"
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url.replace("+psycopg", "", 1))


def _suffix(settings: Settings) -> str:
    """'' for the default database, else '.<name>-<hash>' (readable, and distinct per database)."""
    if settings.is_default_database:
        return ""
    url = settings.database_url
    path = sqlite_path(url)
    name = path.stem if path is not None else url.rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "db"
    digest = hashlib.sha256(re.sub(r"://[^@/]*@", "://", url).encode()).hexdigest()[:8]
    return f".{name}-{digest}"


def _var(settings: Settings) -> Path:
    return settings.home_dir / "var"


def dev_key_file(settings: Settings) -> Path:
    """Where ``serve --dev`` keeps the development admin key of this database."""
    return _var(settings) / f"dev-api-key{_suffix(settings)}"


def server_file(settings: Settings) -> Path:
    """Where ``serve`` records the URL it serves this database on."""
    return _var(settings) / f"server{_suffix(settings)}.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRecord:
    url: str
    pid: int
    database: str
    dev_key_file: str | None = None


def record_server(settings: Settings, *, url: str, dev_key: Path | None) -> Path:
    """Record that this process serves the settings' database at ``url``."""
    path = server_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "url": url,
        "pid": os.getpid(),
        "database": database_label(settings.database_url),
        "dev_key_file": str(dev_key) if dev_key is not None else None,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path


def forget_server(settings: Settings) -> None:
    """Remove this process's record (a record another server wrote since stays)."""
    record = read_server(settings)
    if record is not None and record.pid == os.getpid():
        server_file(settings).unlink(missing_ok=True)


def read_server(settings: Settings) -> ServerRecord | None:
    """The server recorded for the settings' database, if its process still runs."""
    try:
        doc = json.loads(server_file(settings).read_text())
        record = ServerRecord(
            url=str(doc["url"]),
            pid=int(doc["pid"]),
            database=str(doc.get("database", "")),
            dev_key_file=doc.get("dev_key_file") or None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if _alive(record.pid) else None


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there; trust the record
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return False
    return True
