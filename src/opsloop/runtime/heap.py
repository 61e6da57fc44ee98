"""Keeping Python's garbage collector from stalling requests (one call at server start).

The warehouse flusher decodes thousands of events a second into dicts, which triggers
the cyclic collector often; each full collection walked every object of the server
(~330,000 after start-up: FastAPI, SQLAlchemy, pandas, …) while holding the GIL,
stopping the event loop for 250–330 ms every few seconds. Measured at 25,000 events/s:
p99 acknowledgement 325 ms before, 43–102 ms after :func:`calm_gc`; the coupon grab's
p99 fell from ~200 ms to ~65 ms for the same reason (150–220 ms full collections).

It also pins glibc's mmap threshold (:func:`pin_mmap_threshold`): the log's id index
is a sorted numpy array rebuilt a few MB larger at every segment roll; glibc's
*dynamic* threshold rose past that size after the first frees, so the arrays came from
the heap and the freed ones fragmented it: 2 M ids cost 82 MB of RSS instead of 36 MB
(measured, log alone). Large blocks mmap'd are returned to the system when freed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GcSettings(BaseSettings):
    """``OPSLOOP_GC_GEN0``: allocations between young collections (0 keeps Python's
    default and does not freeze)."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_", extra="ignore")

    gc_gen0: int = Field(default=20_000, ge=0)


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, no longer raised on free


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (allocations from ``nbytes`` up are mmap'd, and given
    back when freed); False where there is no glibc ``mallopt``."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    with contextlib.suppress(OSError, AttributeError):
        return bool(ctypes.CDLL(name).mallopt(M_MMAP_THRESHOLD, nbytes))
    return False


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
    pin_mmap_threshold()
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
    return True
