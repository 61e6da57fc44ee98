"""The coupon grab at scale: one Redis call decides, a group commit records.

A grab on the Redis path is decided by one Lua call
(:meth:`opsloop.activity.counters.RedisCounters.grab`: idempotency key, stock, daily
stock, per-customer limits and budgets checked and charged together), so a refused grab
costs no SQL at all. The unit, its ledger entry and the participation row of every
granted grab are then written by :class:`GroupCommit`: callers queue their rows and
await; two writer threads per process commit whatever is queued, a batch per transaction
(on PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` statement for all three tables on
the writer's own autocommit connection — one round trip, its commit included; INSERTs
elsewhere), and each caller is answered only once its batch has committed.

**Durable before acknowledgement** (not "acknowledge, write later"): the ledger in the
SQL store is the record of truth and Redis is not durable, so a unit the customer was
told about must already be in the ledger. Batching keeps the cost down anyway: under a
rush a batch holds hundreds of grabs, so one commit (one WAL flush) serves them all,
and the wait it adds is one commit time. A batch that fails is retried row by row; a
row whose idempotency key the ledger already holds (Redis lost the key) undoes its
charge and answers with the unit issued before; any other failure undoes the charge and
answers 503 "not stored". A process that dies between the Redis charge and the commit
leaves counters above the ledger — stock held back, never oversold — which
:func:`opsloop.activity.ledger.reconcile` repairs.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

from opsloop.activity.benefits import BenefitDef
from opsloop.activity.counters import Charge, RedisCounters, charges_for
from opsloop.activity.models import BenefitUnit, LedgerEntry, Participation
from opsloop.errors import ConflictError, OpsloopError
from opsloop.logging import get_logger
from opsloop.store import Store

log = get_logger("opsloop.activity.grab")


class NotStoredError(OpsloopError):
    """The grab's rows could not be committed; its charge was undone (retry is safe)."""

    status_code = 503


@dataclass(frozen=True)
class Pending:
    """The rows of one granted grab, and what undoes its charge."""

    unit: dict[str, Any]
    entry: dict[str, Any]
    participation: dict[str, Any] | None
    charges: Sequence[Charge]
    idem_key: str | None  # the client's key (request id), None for a fresh one


def rows_for(
    benefit: BenefitDef,
    *,
    activity_id: str,
    customer_id: int,
    unit_id: str,
    now: datetime,
    ledger_key: str,
    action: str | None,
    charges: Sequence[Charge],
    idem_key: str | None,
) -> Pending:
    """The unit, its ``issue`` entry and the participation, as :func:`ledger.issue` writes."""
    unit = {
        "unit_id": unit_id,
        "benefit_id": benefit.id,
        "kind": benefit.value.kind,
        "activity_id": activity_id,
        "customer_id": customer_id,
        "status": "issued",
        "value_cents": benefit.unit_cost_cents,
        "threshold_cents": benefit.threshold_cents,
        "issued_at": now,
        "expires_at": benefit.validity.expires_at(now),
    }
    day = now.date().isoformat()
    entry = {
        "unit_id": unit_id,
        "benefit_id": benefit.id,
        "activity_id": activity_id,
        "customer_id": customer_id,
        "kind": "issue",
        "value_cents": benefit.unit_cost_cents,
        "issued_on": day,
        "idem_key": ledger_key,
        "at": now,
    }
    part = None
    if action is not None:
        part = {
            "activity_id": activity_id,
            "customer_id": customer_id,
            "action": action,
            "day": day,
            "outcome": "issued",
            "unit_id": unit_id,
            "dedupe": None,
            "at": now,
        }
    return Pending(unit, entry, part, charges, idem_key)


class GroupCommit:
    """Queue rows, commit them in batches on writer threads, answer after the commit.

    Args:
        store: the SQL store (record of truth).
        undo: gives a row's charge back (Redis refund and idempotency key) when it is
            not stored.
        max_batch: most grabs in one transaction.
        writers: batches committing at once; with two, the grabs that arrive while one
            batch waits for its WAL flush go out in the next at once instead of waiting
            for the first to finish (a grab waits about one commit, not up to two).
    """

    def __init__(
        self,
        store: Store,
        *,
        undo: Callable[[Pending], None],
        max_batch: int = 1000,
        writers: int = 2,
    ) -> None:
        self.store, self.undo, self.max_batch, self.writers = store, undo, max_batch, writers
        self._queue: list[tuple[Pending, asyncio.Future[tuple[str, bool]]]] = []
        self._active = 0
        self._executor = ThreadPoolExecutor(writers, thread_name_prefix="grab-commit")
        self._tasks: set[asyncio.Task[None]] = set()
        self._local = threading.local()  # each writer thread's own PostgreSQL connection
        self._conns: list[psycopg.Connection[Any]] = []
        self._conns_lock = threading.Lock()
        self.batches = 0  # how many commits (for tests and the benchmark)

    async def commit(self, item: Pending) -> tuple[str, bool]:
        """``(unit_id, duplicate)`` once the rows are committed.

        Raises:
            NotStoredError: the rows could not be written (the charge was undone).
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[str, bool]] = loop.create_future()
        self._queue.append((item, fut))
        if self._active < self.writers:
            self._active += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                try:
                    results = await loop.run_in_executor(
                        self._executor, self._write, [item for item, _ in batch]
                    )
                except BaseException as exc:  # the writer itself failed: nobody is acked
                    results = [NotStoredError(f"not stored: {exc}", where="store")] * len(batch)
                for (_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
        finally:
            self._active -= 1

    def _write(self, items: list[Pending]) -> list[tuple[str, bool] | BaseException]:
        try:
            self._insert(items)
            self.batches += 1
            return [(i.unit["unit_id"], False) for i in items]
        except Exception as exc:
            log.warning("grab batch failed; writing row by row", rows=len(items), error=str(exc))
        return [self._one(i) for i in items]

    def _insert(self, items: Sequence[Pending], *, batch: bool = True) -> None:
        parts = [i.participation for i in items if i.participation is not None]
        tables = [
            (BenefitUnit, [i.unit for i in items]),
            (LedgerEntry, [i.entry for i in items]),
            (Participation, parts),
        ]
        tables = [(model, rows) for model, rows in tables if rows]
        if batch and self.store.engine.dialect.name == "postgresql":
            self._insert_pg(tables)
            return
        with self.store.session() as s:
            for model, rows in tables:
                s.execute(insert(model), rows)

    def _insert_pg(self, tables: Sequence[tuple[type[Any], list[dict[str, Any]]]]) -> None:
        """The whole batch in one statement on this writer's autocommit connection.

        Why: through a pooled session a batch took ten round trips to PostgreSQL (pool
        pre-ping, BEGIN, three COPYs of two each, COMMIT), and after each one the writer
        thread waited for the GIL the busy event loop held — under a rush a batch of a
        few grabs took ~14 ms where the WAL flush is ~5. One statement whose
        data-modifying CTEs fill the three tables is one round trip, and in autocommit it
        is its own transaction: all rows or none, answered only once the commit is
        flushed (``synchronous_commit`` as configured). A failed statement drops the
        connection (the next batch opens a new one); the caller retries row by row.
        """
        shape = tuple((model, tuple(rows[0])) for model, rows in tables)
        stmt = _batch_statement(self.store.engine.dialect, shape)
        params = [[row[c] for row in rows] for _, rows in tables for c in rows[0]]
        con = self._connection()
        try:
            con.execute(stmt, params)
        except BaseException:
            self._local.con = None
            with self._conns_lock:
                self._conns.remove(con)
            con.close()
            raise

    def _connection(self) -> psycopg.Connection[Any]:
        con: psycopg.Connection[Any] | None = getattr(self._local, "con", None)
        if con is None or con.closed:
            url = self.store.engine.url.set(drivername="postgresql")
            con = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            self._local.con = con
            with self._conns_lock:
                self._conns.append(con)
        return con

    def _one(self, item: Pending) -> tuple[str, bool] | BaseException:
        try:
            self._insert([item], batch=False)  # an INSERT: a duplicate is an IntegrityError
            return item.unit["unit_id"], False
        except IntegrityError:
            try:
                with self.store.session() as s:  # the ledger already holds this key
                    found = s.execute(
                        select(LedgerEntry.unit_id).where(
                            LedgerEntry.idem_key == item.entry["idem_key"]
                        )
                    ).scalar_one_or_none()
            except Exception as exc:
                self.undo(item)
                return NotStoredError(f"not stored: {type(exc).__name__}", where="store")
            if found is not None and str(found) == item.unit["unit_id"]:
                # This very grab is stored: its batch committed but the answer was lost
                # (the connection broke after the commit). Its charge stays.
                return str(found), False
            self.undo(item)
            if found is not None:  # an earlier grab with the same key: its unit
                return str(found), True
            return NotStoredError("not stored: conflicting rows", where="store")
        except Exception as exc:
            self.undo(item)
            return NotStoredError(f"not stored: {type(exc).__name__}", where="store")

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for con in conns:
            con.close()


@cache
def _batch_statement(dialect: Dialect, shape: tuple[tuple[type[Any], tuple[str, ...]], ...]) -> str:
    """``WITH t0 AS (INSERT … SELECT * FROM unnest(%s::type[], …)), … INSERT …``.

    One column array per parameter, cast to the column's type; the statement text is
    the same for every batch of the same tables and columns, so psycopg prepares it
    (kept as text: composing it again for every batch cost ~4 % of a worker's CPU).
    """
    inserts = []
    for model, cols in shape:
        table = model.__table__
        arrays = sql.SQL(", ").join(
            sql.SQL("%s::{}[]").format(sql.SQL(table.c[c].type.compile(dialect=dialect)))
            for c in cols
        )
        inserts.append(
            sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, cols)), arrays
            )
        )
    if len(inserts) == 1:
        return sql.Composed(inserts).as_string(None)
    ctes = sql.SQL(", ").join(
        sql.SQL("{} AS ({})").format(sql.Identifier(f"t{i}"), q) for i, q in enumerate(inserts[:-1])
    )
    return sql.SQL("WITH {} {}").format(ctes, inserts[-1]).as_string(None)


@dataclass
class Grabber:
    """The Redis coupon grab of one process: a Lua decision plus the group commit."""

    store: Store
    counters: RedisCounters
    seed: Callable[[list[str]], None]
    writer: GroupCommit | None = None
    released: Callable[[str], None] | None = None  # told the activity of an undone grab

    def _writer(self) -> GroupCommit:
        if self.writer is None:
            self.writer = GroupCommit(self.store, undo=self._undo)
        return self.writer

    def _undo(self, item: Pending) -> None:
        self.counters.release(item.charges)
        self.counters.forget_key(item.idem_key)
        if self.released is not None:  # stock came back: no "sold out" in this process
            self.released(item.unit["activity_id"])

    async def grab(
        self,
        benefit: BenefitDef,
        *,
        activity_id: str,
        activity_budget_cents: int | None,
        customer_id: int,
        now: datetime,
        request_id: str | None,
        action: str,
    ) -> tuple[str, bool]:
        """Issue one unit of ``benefit`` to the customer; ``(unit_id, duplicate)``.

        A retry with the same ``request_id`` returns the first grab's unit once that is
        in the ledger (a 409 while the first is still being committed).

        Raises:
            ExhaustedError: stock, budget or a per-customer limit reached (nothing charged).
            NotStoredError: the ledger could not be written (nothing charged).
        """
        charges = charges_for(
            benefit,
            activity_id=activity_id,
            customer_id=customer_id,
            day=now.date().isoformat(),
            activity_budget_cents=activity_budget_cents,
        )
        idem = f"{activity_id}:{customer_id}:{request_id}" if request_id else None
        unit_id, duplicate = await self.counters.grab_async(
            charges, unit_id=uuid.uuid4().hex, idem_key=idem, seed=self.seed
        )
        if duplicate:
            assert idem is not None
            return await asyncio.to_thread(self._earlier, idem, unit_id)
        item = rows_for(
            benefit,
            activity_id=activity_id,
            customer_id=customer_id,
            unit_id=unit_id,
            now=now,
            ledger_key=idem or f"{activity_id}:{customer_id}:{unit_id}",
            action=action,
            charges=charges,
            idem_key=idem,
        )
        return await self._writer().commit(item)

    def _earlier(self, idem: str, unit_id: str) -> tuple[str, bool]:
        with self.store.session() as s:
            found = s.execute(
                select(LedgerEntry.unit_id).where(LedgerEntry.idem_key == idem)
            ).scalar_one_or_none()
        if found is None:
            raise ConflictError(
                "an earlier request with this request_id is still being stored; retry",
                where="request_id",
            )
        return str(found), True
