"""Sources and their write keys: create, list, revoke, resolve.

A write key is shown once, at creation; only its SHA-256 is kept. Resolving a key is
on the hot path of every tracking call, so :class:`KeyResolver` caches answers for a
second or two; a revocation through the same process clears the cache at once, one
from another process (the CLI) takes effect within the cache's TTL.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select

from opsloop.collect.models import CollectSource
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.store import Store

KINDS = ("segment", "sensors")
KEY_PREFIX = "olk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    source_id: str
    name: str
    kind: str
    key_hint: str
    created_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: CollectSource) -> SourceInfo:
    return SourceInfo(
        row.source_id, row.name, row.kind, row.key_hint, row.created_at, row.revoked_at
    )


def create_source(store: Store, *, name: str, kind: str = "segment") -> tuple[SourceInfo, str]:
    """Register a source; returns it and its write key (the only time the key is seen)."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            "source name must be 1-128 letters, digits, '.', '_' or '-'", where="name"
        )
    if kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {KINDS}", where="kind")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        if s.scalar(select(CollectSource).where(CollectSource.name == name)) is not None:
            raise ConflictError(f"a source named {name!r} exists", where="name")
        row = CollectSource(
            source_id="src_" + secrets.token_hex(8),
            name=name,
            kind=kind,
            key_hash=hash_key(key),
            key_hint=key[:10],
            created_at=datetime.now(UTC),
        )
        s.add(row)
        s.flush()
        return _info(row), key


def list_sources(store: Store) -> list[SourceInfo]:
    with store.session() as s:
        rows = s.scalars(select(CollectSource).order_by(CollectSource.name)).all()
        return [_info(r) for r in rows]


def revoke_source(store: Store, *, name: str) -> SourceInfo:
    """Revoke by name or id; its key stops working (idempotent)."""
    with store.session() as s:
        row = s.scalar(
            select(CollectSource).where(
                or_(CollectSource.name == name, CollectSource.source_id == name)
            )
        )
        if row is None:
            raise NotFoundError(f"no source {name!r}", where="name")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        s.flush()
        return _info(row)


def find_source(
    store: Store, *, key: str | None = None, name: str | None = None
) -> SourceInfo | None:
    """The *active* source with this write key (or name), else None.

    A name that could never have been created (bad characters, NUL bytes) is simply
    not found: it must not reach the database, which may refuse it with a 500.
    """
    if key is None and name is not None and not _NAME.fullmatch(name):
        return None
    with store.session() as s:
        q = select(CollectSource).where(CollectSource.revoked_at.is_(None))
        if key is not None:
            q = q.where(CollectSource.key_hash == hash_key(key))
        elif name is not None:
            q = q.where(CollectSource.name == name)
        else:
            return None
        row = s.scalar(q)
        return _info(row) if row is not None else None


class KeyResolver:
    """Cached ``write key → active source`` lookups (positive and negative answers)."""

    def __init__(self, store: Store, ttl_s: float = 2.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, SourceInfo | None]] = {}
        self._lock = threading.Lock()

    def by_key(self, key: str) -> SourceInfo | None:
        return self._get("k:" + hash_key(key), lambda: find_source(self.store, key=key))

    def by_name(self, name: str) -> SourceInfo | None:
        return self._get("n:" + name, lambda: find_source(self.store, name=name))

    def _get(self, cache_key: str, load: Callable[[], SourceInfo | None]) -> SourceInfo | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        found: SourceInfo | None = load()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (now, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
