"""Apply Alembic migrations programmatically (``carewindow migrate`` and ``serve --migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine

from carewindow.storage.errors import StorageError, translated

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at ``engine`` to ``revision``; database and Alembic errors come as
    ``StorageError``."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with translated(), engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as exc:  # e.g. the database is at a revision this carewindow does not know
        raise StorageError(str(exc)) from exc


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    """The newest revision this carewindow's migrations know."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert revision is not None
    return revision


def revision_state(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, None when it has no carewindow tables; the head revision). Reads only;
    database errors come as ``StorageError`` (e.g. ``Unavailable`` when the server is unreachable)."""
    with translated():
        return current(engine), head()
