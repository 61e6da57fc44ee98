"""Alembic environment: migrations run against the URL given in the config."""

from __future__ import annotations

from alembic import context

import opsloop.access.models  # noqa: F401  (registers the access tables on Base)
from opsloop.store.db import make_engine
from opsloop.store.models import Base

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
