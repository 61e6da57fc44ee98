"""Alembic environment: migrations run against the URL given in the config."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from alembic import context

import opsloop
from opsloop.store.db import make_engine
from opsloop.store.models import Base

# Every center keeps its tables in ``opsloop.<center>.models`` on the same Base.
for _mod in pkgutil.iter_modules(opsloop.__path__):
    if _mod.ispkg and importlib.util.find_spec(f"opsloop.{_mod.name}.models"):
        importlib.import_module(f"opsloop.{_mod.name}.models")

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
