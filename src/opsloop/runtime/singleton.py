"""Singleton leadership: at most one process runs a given job (e.g. a scheduler).

PostgreSQL: a session-level advisory lock held on a dedicated connection; if the holder
dies, PostgreSQL drops its session and the lock with it, so a standby takes over on its
next attempt. SQLite (embedded, one machine): an exclusive ``fcntl`` lock on a file in
HOME, which the kernel releases when the holder dies. Neither needs a heartbeat.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

import psycopg

from opsloop.warehouse.engine import postgres_url


class Leadership(Protocol):
    name: str

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    digest = hashlib.blake2b(f"opsloop:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLeadership:
    """``pg_try_advisory_lock`` on a connection kept open while leading."""

    def __init__(self, database_url: str, name: str) -> None:
        self.url = postgres_url(database_url) or database_url
        self.name = name
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None and not self._conn.closed:
            try:  # still the leader as long as our session is alive
                self._conn.execute("select 1")
                return True
            except psycopg.Error:
                self._drop()
        conn = psycopg.connect(self.url, autocommit=True)
        row = conn.execute("select pg_try_advisory_lock(%s)", (lock_key(self.name),)).fetchone()
        if row is not None and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("select pg_advisory_unlock(%s)", (lock_key(self.name),))
            finally:
                self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class FileLeadership:
    """An exclusive non-blocking ``flock`` on ``HOME/locks/NAME.lock``."""

    def __init__(self, home: Path, name: str) -> None:
        self.name = name
        self.path = home / "locks" / f"{name}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def leadership(database_url: str, home: Path, name: str) -> Leadership:
    """The right lock for the store: advisory on PostgreSQL, a file lock otherwise."""
    if postgres_url(database_url) is not None:
        return PostgresLeadership(database_url, name)
    return FileLeadership(home, name)


class KeyedLocks:
    """Many short-lived try-locks by name (e.g. one per journey) on one connection.

    PostgreSQL: session advisory locks on a connection kept for the process (reconnected
    if it drops — its locks went with it); SQLite: ``flock`` on ``HOME/locks/NAME.lock``.
    Used where several processes share a list of work items and each item must be
    worked by one of them at a time.
    """

    def __init__(self, database_url: str, home: Path) -> None:
        self.url = postgres_url(database_url)
        self.home = home
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._files: dict[str, FileLeadership] = {}

    def try_acquire(self, name: str) -> bool:
        if self.url is None:
            lock = FileLeadership(self.home, name)
            if not lock.try_acquire():
                return False
            self._files[name] = lock
            return True
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        try:
            row = self._conn.execute(
                "select pg_try_advisory_lock(%s)", (lock_key(name),)
            ).fetchone()
        except psycopg.OperationalError:
            self._conn.close()
            self._conn = None
            return False
        return bool(row is not None and row[0])

    def release(self, name: str) -> None:
        if self.url is None:
            lock = self._files.pop(name, None)
            if lock is not None:
                lock.release()
            return
        if self._conn is not None and not self._conn.closed:
            self._conn.execute("select pg_advisory_unlock(%s)", (lock_key(name),))

    def close(self) -> None:
        for lock in self._files.values():
            lock.release()
        self._files.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
