"""The models and the migrations agree: autogenerate on a migrated store finds nothing."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import opsloop
from opsloop.store import Store
from opsloop.store.models import Base

for _mod in pkgutil.iter_modules(opsloop.__path__):
    if _mod.ispkg and importlib.util.find_spec(f"opsloop.{_mod.name}.models"):
        importlib.import_module(f"opsloop.{_mod.name}.models")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "postgres":
        pg: str = request.getfixturevalue("pg_url")
        return pg
    return f"sqlite:///{home / 'm.db'}"


def test_models_match_migrations(url: str) -> None:
    store = Store.open(url)
    try:
        with store.engine.connect() as con:
            ctx = MigrationContext.configure(con, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        store.close()
    assert diff == []
