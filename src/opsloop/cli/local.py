"""Commands that work on this machine's store and warehouse directly (no server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opsloop.settings import get_settings

if TYPE_CHECKING:
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse


@contextmanager
def open_local() -> Iterator[tuple[Store, Warehouse]]:
    """The configured store and the warehouse read-only (a running server may hold it
    for writing), both closed on the way out. Imports lazily: the CLI starts fast."""
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse, read_only=True)
    try:
        yield store, wh
    finally:
        wh.close()
        store.close()
