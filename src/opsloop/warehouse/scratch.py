"""A private in-memory engine for columnar transforms of a batch (no files, no tables).

Why: some per-row work is cheaper as one SQL statement over an Arrow batch than as a
Python loop — and while the engine runs, the calling thread holds no GIL, so the
process's other threads (the HTTP event loop) keep running. The event flusher uses it
to decode stored JSON payloads into warehouse rows (:mod:`opsloop.collect.decode`).

A :class:`Scratch` is one DuckDB connection to ``:memory:`` with one thread (the
caller's: a flusher running at lower priority does the work at that priority, and no
worker threads are left spinning). It is not the warehouse and never sees its data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa


class Scratch:
    """Run SQL over Arrow tables registered for the duration of one statement."""

    def __init__(self) -> None:
        self._con = duckdb.connect(":memory:", config={"threads": 1})
        self._lock = threading.Lock()

    def query(
        self, sql: str, tables: Mapping[str, pa.Table], params: Sequence[object] = ()
    ) -> pa.Table:
        """The result of ``sql`` (which reads ``tables`` by their names) as Arrow."""
        with self._lock:
            for name, table in tables.items():
                self._con.register(name, table)
            try:
                return self._con.execute(sql, list(params)).to_arrow_table()
            finally:
                for name in tables:
                    self._con.unregister(name)

    def close(self) -> None:
        with self._lock:
            self._con.close()


_local = threading.local()


def scratch() -> Scratch:
    """The calling thread's scratch engine (created on first use, kept for the thread)."""
    found: Scratch | None = getattr(_local, "scratch", None)
    if found is None:
        found = Scratch()
        _local.scratch = found
    return found
