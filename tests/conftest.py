"""Shared fixtures: real servers (PostgreSQL, Redis) and the real data sets.

A test that needs a server skips with the reason when the server is absent, except
under CI=true, where a missing server is a failure (CI must test the real parts).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = (REPO.parent / "shared" / "datasets").resolve()
PG_ADMIN_URL = os.environ.get("OPSLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPSLOOP_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, host: str, port: int) -> None:
    """Skip (or fail under CI=true) when a server is not listening."""
    if _port_open(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    need_server("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"opsloop_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def redis_url() -> Iterator[str]:
    need_server("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"real data sets not found at {DATASETS} (../shared/datasets)")
    return DATASETS


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty OPSLOOP_HOME with a fixed secret, isolated from the developer's."""
    from opsloop.settings import get_settings

    h = tmp_path / "home"
    monkeypatch.setenv("OPSLOOP_HOME", str(h))
    monkeypatch.setenv("OPSLOOP_SECRET_KEY", "test-secret-key-not-for-production-0123456789")
    for var in ("OPSLOOP_DATABASE_URL", "OPSLOOP_WAREHOUSE", "OPSLOOP_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield h
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _restore_opsloop_env() -> Iterator[None]:
    """CLI global flags (``--home``, ``--database-url``…) set ``OPSLOOP_*`` in this
    process; put them back after every test so no test sees another's store."""
    from opsloop.settings import get_settings

    saved = {k: v for k, v in os.environ.items() if k.startswith("OPSLOOP_")}
    yield
    for key in [k for k in os.environ if k.startswith("OPSLOOP_")]:
        if key not in saved:
            del os.environ[key]
    os.environ.update(saved)
    get_settings.cache_clear()
