"""Migration 0003 creates exactly what collect/models.py declares."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import opsloop.collect.models  # noqa: F401  (registers the tables on Base)
from opsloop.store.db import alembic_config, make_engine, upgrade
from opsloop.store.models import Base


def test_collect_tables_match_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as con:
        ctx = MigrationContext.configure(con, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, Base.metadata) if "collect" in str(d)]
    engine.dispose()
    assert diff == []
    command.downgrade(alembic_config(url), "0002")  # and it downgrades cleanly
    engine = make_engine(url)
    with engine.connect() as con:
        assert not [t for t in inspect(con).get_table_names() if t.startswith("collect_")]
    engine.dispose()
