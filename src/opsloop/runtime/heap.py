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

And it shortens the GIL's switch interval (:func:`shorten_gil_switch`, 5 ms → 0.5 ms):
the event loop shares the GIL with background threads (the warehouse flusher, the
coupon grab's commit writers); each time the loop wants the GIL back while such a
thread runs Python it waited up to the whole interval, several times per request.
Measured in alternating runs on the same code (docs/bench/collection.md, activity.md):
ingest p99 at 25,000 events/s 75–150 ms → 34–63 ms (5 runs each, closed-loop throughput
not lower); coupon-grab p99 28–54 ms → 31–46 ms (10 runs each).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import sys

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GcSettings(BaseSettings):
    """``OPSLOOP_GC_GEN0``: allocations between young collections (0 keeps Python's
    default and does not freeze); ``OPSLOOP_GIL_SWITCH_MS``: the GIL switch interval
    for servers (0 keeps Python's 5 ms)."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_", extra="ignore")

    gc_gen0: int = Field(default=20_000, ge=0)
    gil_switch_ms: float = Field(default=0.5, ge=0, le=100)


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


def shorten_gil_switch(ms: float | None = None) -> bool:
    """Set the interpreter's GIL switch interval for a server process (returns whether it
    changed it): background threads then give the event loop the GIL back sooner."""
    interval = GcSettings().gil_switch_ms if ms is None else ms
    if interval <= 0:
        return False
    sys.setswitchinterval(interval / 1000)
    return True
