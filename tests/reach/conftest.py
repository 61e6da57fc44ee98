from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'reach.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()
