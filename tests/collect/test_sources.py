"""Source lookups: names that could never exist are refused before any query."""

from __future__ import annotations

from pathlib import Path

from opsloop.collect import sources
from opsloop.settings import get_settings
from opsloop.store import Store


def test_impossible_names_are_not_found_without_a_query(home: Path) -> None:
    """NUL bytes or stray characters in ``?project=`` are 'no such source', never a crash."""
    store = Store.open(get_settings().database_url)
    try:
        info, _key = sources.create_source(store, name="app-1", kind="sensors")
        found = sources.find_source(store, name="app-1")
        assert found is not None and found.name == info.name
        for name in ("\x00", "app-1\x00", "app-1\n", "../etc", ""):
            assert sources.find_source(store, name=name) is None
    finally:
        store.close()
