from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from access.fixtures import app, client, settings, store_url
from opsloop.store import Store

__all__ = ["app", "client", "settings", "store_url"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, home: Path) -> Iterator[Store]:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{home / 'act.db'}"
    s = Store.open(url)
    yield s
    s.close()
