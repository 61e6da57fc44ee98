"""The production profile: refuse to start on parts that cannot be shared by processes.

The embedded profile (SQLite + DuckDB file + in-process log) is for one process on one
machine. ``OPSLOOP_PROFILE=production`` says "many processes over shared servers": the
operational store and the warehouse must be PostgreSQL, counters and streams need Redis,
the secret must come from the environment (not a file one machine generated), and the
schema must already be at the newest migration, because migrations run explicitly
(``opsloop db upgrade``), never as a side effect of starting a server.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from opsloop.errors import OpsloopError
from opsloop.settings import Settings
from opsloop.store.db import alembic_config, make_engine
from opsloop.warehouse.engine import postgres_url


class ProfileError(OpsloopError):
    """The configuration does not satisfy the selected profile; nothing was started."""


def profile_problems(settings: Settings) -> list[str]:
    """Every reason the settings do not fit their profile (empty when they do)."""
    if settings.profile != "production":
        return []
    problems: list[str] = []
    if not settings.database_url.startswith(("postgresql", "postgres://")):
        problems.append(
            "OPSLOOP_DATABASE_URL must be a PostgreSQL URL in production "
            f"(got {settings.database_url.split(':', 1)[0]}://…)"
        )
    if postgres_url(settings.warehouse) is None and not settings.warehouse.startswith("spark"):
        problems.append("OPSLOOP_WAREHOUSE must be a PostgreSQL or spark:// URL in production")
    if not settings.redis_url:
        problems.append("OPSLOOP_REDIS_URL is required in production (counters and streams)")
    if settings.secret_key is None:
        problems.append("OPSLOOP_SECRET_KEY must be set in production (shared by all processes)")
    return problems


def pending_migrations(database_url: str, engine: Engine | None = None) -> list[str]:
    """Head revisions the store has not reached yet (empty when it is current).

    Pass the open store's ``engine`` (readiness probes run every few seconds and should
    borrow a pooled connection, not open a pool of their own)."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    heads = set(script.get_heads())
    own = engine is None
    eng = make_engine(database_url) if engine is None else engine
    try:
        with eng.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        if own:
            eng.dispose()
    reached: set[str] = set()
    for rev in current:
        reached.update(r.revision for r in script.iterate_revisions(rev, "base"))
    return sorted(heads - reached)


def check_profile(settings: Settings) -> None:
    """Raise :class:`ProfileError` naming every problem; production also needs a migrated store."""
    problems = profile_problems(settings)
    if not problems and settings.profile == "production":
        missing = pending_migrations(settings.database_url)
        if missing:
            problems.append(
                f"the operational store is behind (missing {', '.join(missing)}): "
                "run `opsloop db upgrade` first"
            )
    if problems:
        raise ProfileError("; ".join(problems), where=f"OPSLOOP_PROFILE={settings.profile}")


def migrates_on_open(settings: Settings) -> bool:
    """Embedded stores migrate themselves on open; production never does."""
    return settings.profile != "production"
