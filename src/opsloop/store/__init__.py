"""Operational state (SQLAlchemy 2): SQLite in WAL mode embedded, PostgreSQL in production."""

from opsloop.store.db import Store, upgrade

__all__ = ["Store", "upgrade"]
