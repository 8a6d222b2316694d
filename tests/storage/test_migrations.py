"""The migrations build exactly the schema the models declare, and step down and up again (both databases)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from carewindow.storage.engine import make_engine
from carewindow.storage.migrate import alembic_config, current, upgrade
from carewindow.storage.tables import Base


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert _differences(db_url) == []


def test_every_migration_steps_down_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        assert current(engine) == head
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert current(engine) is None
        with engine.connect() as conn:
            assert "messages" not in inspect(conn).get_table_names()
        upgrade(engine)
        assert current(engine) == head
    finally:
        engine.dispose()
    assert _differences(db_url) == []
