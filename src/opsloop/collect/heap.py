"""Keeping Python's garbage collector from stalling acknowledgements.

The warehouse flusher decodes thousands of events a second into dicts, which triggers
the cyclic collector often; each full collection walked every object of the server
(~330,000 after start-up: FastAPI, SQLAlchemy, pandas, …) while holding the GIL,
stopping the event loop for 250–330 ms every few seconds. Measured at 25,000 events/s:
p99 acknowledgement 325 ms before, 43–102 ms after :func:`calm_gc`.
"""

from __future__ import annotations

import gc

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GcSettings(BaseSettings):
    """``OPSLOOP_COLLECT_GC_GEN0``: allocations between young collections (0 keeps
    Python's default and does not freeze)."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_COLLECT_", extra="ignore")

    gc_gen0: int = Field(default=20_000, ge=0)


_done: list[bool] = []


def calm_gc(gen0: int | None = None) -> bool:
    """Freeze the objects alive after start-up (never collected: modules, app, caches)
    and collect the young generation less often, once per process (a process that
    builds many apps, like a test run, must not freeze each one's garbage); returns
    whether it did."""
    threshold = GcSettings().gc_gen0 if gen0 is None else gen0
    if threshold <= 0 or _done:
        return False
    _done.append(True)
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
    return True
