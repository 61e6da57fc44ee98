"""The coupon grab at scale: one Redis call decides, a group commit records.

A grab on the Redis path is decided by one Lua call
(:meth:`opsloop.activity.counters.RedisCounters.grab`: idempotency key, stock, daily
stock, per-customer limits and budgets checked and charged together), so a refused grab
costs no SQL at all. The unit, its ledger entry and the participation row of every
granted grab are then written by :class:`GroupCommit`: callers queue their rows and
await; two writer threads per process commit whatever is queued, a batch per transaction
(COPY on PostgreSQL, INSERTs elsewhere), and each caller is answered only once its batch
has committed.

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
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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

    def _insert(self, items: Sequence[Pending], *, copy: bool = True) -> None:
        parts = [i.participation for i in items if i.participation is not None]
        tables = [
            (BenefitUnit, [i.unit for i in items]),
            (LedgerEntry, [i.entry for i in items]),
            (Participation, parts),
        ]
        with self.store.session() as s:
            if copy and s.get_bind().dialect.name == "postgresql":
                _copy(s, tables)
                return
            for model, rows in tables:
                if rows:
                    s.execute(insert(model), rows)

    def _one(self, item: Pending) -> tuple[str, bool] | BaseException:
        try:
            self._insert([item], copy=False)  # an INSERT: a duplicate is an IntegrityError
            return item.unit["unit_id"], False
        except IntegrityError:
            self.undo(item)
            with self.store.session() as s:  # the ledger already holds this key
                found = s.execute(
                    select(LedgerEntry.unit_id).where(
                        LedgerEntry.idem_key == item.entry["idem_key"]
                    )
                ).scalar_one_or_none()
            if found is not None:
                return str(found), True
            return NotStoredError("not stored: conflicting rows", where="store")
        except Exception as exc:
            self.undo(item)
            return NotStoredError(f"not stored: {type(exc).__name__}", where="store")

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _copy(s: Session, tables: Sequence[tuple[type[Any], list[dict[str, Any]]]]) -> None:
    """``COPY … FROM STDIN`` the batch's rows in the session's transaction.

    Why: a multi-row INSERT through SQLAlchemy cost 55-80 µs of Python per grab (three
    rows), holding the GIL the event loop needs, so every batch stalled the requests in
    flight; psycopg formats COPY rows in C.
    """
    raw: Any = s.connection().connection.driver_connection
    with raw.cursor() as cur:
        for model, rows in tables:
            if not rows:
                continue
            cols = list(rows[0])
            stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(model.__tablename__), sql.SQL(", ").join(map(sql.Identifier, cols))
            )
            with cur.copy(stmt) as cp:
                for row in rows:
                    cp.write_row([row[c] for c in cols])


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
