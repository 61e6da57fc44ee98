"""Capped counters that make overselling impossible: SQL guarded updates or Redis Lua.

Issuing a unit charges a set of counters (stock, daily stock, budget, per-customer
limits, activity budget), all or none. The SQL backend does it inside the caller's
transaction with ``UPDATE … SET used = used + n WHERE key = k AND used + n <= cap``
and a rowcount check, so the increments commit or roll back with the ledger entry;
rows are touched in key order, so concurrent issuers never deadlock. The Redis backend
checks and increments every key in one Lua script; the SQL ledger stays the record of
truth and :func:`opsloop.activity.ledger.reconcile` compares (and repairs) the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsloop.activity.models import BenefitCounter
from opsloop.errors import ConflictError

if TYPE_CHECKING:
    from opsloop.activity.benefits import BenefitDef


@dataclass(frozen=True)
class Charge:
    key: str
    amount: int
    cap: int | None  # None: tracked for refunds/reconciliation only, never refused

    @property
    def scope(self) -> str:
        """``b/<benefit>`` or ``a/<activity>``: the unit Redis seeds from the ledger."""
        return "/".join(self.key.split("/")[:2])


class ExhaustedError(ConflictError):
    """A cap would be exceeded; ``where`` names the counter (stock, budget, limit)."""


def charges_for(
    benefit: BenefitDef,
    *,
    activity_id: str,
    customer_id: int,
    day: str,
    activity_budget_cents: int | None,
) -> list[Charge]:
    """Every counter one issued unit of ``benefit`` moves, sorted by key."""
    lim, b, cost = benefit.limits, f"b/{benefit.id}", benefit.unit_cost_cents
    out = [
        Charge(f"{b}/stock", 1, lim.total_stock),
        Charge(f"{b}/budget", cost, lim.budget_cents),
        Charge(f"{b}/d/{day}", 1, lim.daily_stock),
        Charge(f"{b}/c/{customer_id}", 1, lim.per_customer_lifetime),
        Charge(f"{b}/c/{customer_id}/d/{day}", 1, lim.per_customer_day),
        Charge(f"{b}/a/{activity_id}/c/{customer_id}", 1, lim.per_customer_activity),
        Charge(f"a/{activity_id}/budget", cost, activity_budget_cents),
    ]
    return sorted(out, key=lambda c: c.key)


class Counters(Protocol):
    """Where caps are enforced."""

    def charge(self, session: Session, charges: Sequence[Charge]) -> None: ...

    def refund(self, session: Session, charges: Sequence[Charge]) -> None: ...

    def release(self, charges: Sequence[Charge]) -> None:
        """Undo a charge outside any transaction (only backends that are not transactional)."""

    def read_scope(self, session: Session, scope: str) -> dict[str, int]: ...

    def overwrite(self, session: Session, values: dict[str, int]) -> None: ...

    transactional: bool


def _insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert(BenefitCounter)


_GUARDED = text(
    "UPDATE activity_counters SET used = used + :n, cap = :cap WHERE key = :k AND used + :n <= :cap"
)


class SqlCounters:
    """Guarded updates in the caller's transaction (only capped keys get a row)."""

    transactional = True

    def charge(self, session: Session, charges: Sequence[Charge]) -> None:
        capped = [c for c in charges if c.cap is not None]
        if capped:
            rows = [{"key": c.key, "used": 0, "cap": c.cap} for c in capped]
            session.execute(_insert(session).values(rows).on_conflict_do_nothing())
        for c in capped:
            res = session.execute(_GUARDED, {"n": c.amount, "cap": c.cap, "k": c.key})
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise ExhaustedError("limit reached", where=c.key)

    def refund(self, session: Session, charges: Sequence[Charge]) -> None:
        for c in charges:
            session.execute(
                text("UPDATE activity_counters SET used = used - :n WHERE key = :k"),
                {"n": c.amount, "k": c.key},
            )

    def release(self, charges: Sequence[Charge]) -> None:
        """Nothing to do: a rolled-back transaction took the increments with it."""

    def read_scope(self, session: Session, scope: str) -> dict[str, int]:
        rows = session.execute(
            select(BenefitCounter.key, BenefitCounter.used).where(
                BenefitCounter.key.like(scope + "/%")
            )
        ).all()
        return {k: used for k, used in rows if k.startswith(scope + "/")}

    def overwrite(self, session: Session, values: dict[str, int]) -> None:
        for key, used in values.items():
            session.execute(
                text("UPDATE activity_counters SET used = :u WHERE key = :k"), {"u": used, "k": key}
            )


# KEYS: m scope markers, then counters; ARGV[1]=m, then (amount, cap|-1) per counter.
# -1: a scope is not seeded (Redis lost its data) -> caller seeds from the ledger.
_CHARGE = """
local m = tonumber(ARGV[1])
for i = 1, m do if redis.call('EXISTS', KEYS[i]) == 0 then return -1 end end
local n = #KEYS - m
for i = 1, n do
  local cap = tonumber(ARGV[2 * i + 1])
  if cap >= 0 then
    local used = tonumber(redis.call('GET', KEYS[m + i]) or '0')
    if used + tonumber(ARGV[2 * i]) > cap then return i end
  end
end
for i = 1, n do redis.call('INCRBY', KEYS[m + i], ARGV[2 * i]) end
return 0
"""
_REFUND = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 0
"""
# The coupon grab in one call: KEYS = m scope markers, the counters, then the idempotency
# key ('' in ARGV when the request carries none); ARGV[1]=m, (amount, cap|-1) per
# counter, then the new unit id and the idempotency key's TTL. Returns {0, unit} issued,
# {2, unit} an earlier grab with this key, {1, i} counter i refused, {-1, ''} not seeded.
_GRAB = """
local m = tonumber(ARGV[1])
local n = #KEYS - m - 1
local idem = KEYS[#KEYS]
local unit = ARGV[2 * n + 2]
if idem ~= '' then
  local prev = redis.call('GET', idem)
  if prev then return {2, prev} end
end
for i = 1, m do if redis.call('EXISTS', KEYS[i]) == 0 then return {-1, ''} end end
for i = 1, n do
  local cap = tonumber(ARGV[2 * i + 1])
  if cap >= 0 then
    local used = tonumber(redis.call('GET', KEYS[m + i]) or '0')
    if used + tonumber(ARGV[2 * i]) > cap then return {1, tostring(i)} end
  end
end
for i = 1, n do redis.call('INCRBY', KEYS[m + i], ARGV[2 * i]) end
if idem ~= '' then redis.call('SET', idem, unit, 'EX', tonumber(ARGV[2 * n + 3])) end
return {0, unit}
"""
PREFIX = "opsloop:act:"
IDEM_TTL_SECONDS = 7 * 86400


class LoopClient:
    """A ``redis.asyncio`` client for the running event loop (made again on another loop:
    a connection belongs to the loop that opened it), with scripts registered on it."""

    def __init__(self, url: str, scripts: dict[str, str]) -> None:
        self.url, self.sources = url, scripts
        self.max_connections = 64  # requests beyond wait for a connection, not fail
        self._loop: asyncio.AbstractEventLoop | None = None
        self.client: Any = None
        self.scripts: dict[str, Any] = {}

    def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            import redis.asyncio as aredis

            pool = aredis.BlockingConnectionPool.from_url(
                self.url, max_connections=self.max_connections, timeout=10
            )
            self.client = aredis.Redis(connection_pool=pool)
            self.scripts = {k: self.client.register_script(v) for k, v in self.sources.items()}
            self._loop = loop
        return self.client


def _grab_call(
    charges: Sequence[Charge], unit_id: str, idem_key: str | None
) -> tuple[list[str], list[str], list[int | str]]:
    scopes = sorted({c.scope for c in charges})
    keys = [f"{PREFIX}seeded:{s}" for s in scopes] + [PREFIX + c.key for c in charges]
    keys.append(f"{PREFIX}idem:{idem_key}" if idem_key else "")
    args: list[int | str] = [len(scopes)]
    for c in charges:
        args += [c.amount, -1 if c.cap is None else c.cap]
    args += [unit_id, IDEM_TTL_SECONDS]
    return scopes, keys, args


def _grab_result(charges: Sequence[Charge], code: Any, value: Any) -> tuple[str, bool] | None:
    """``(unit, duplicate)``; None when a scope must be seeded first."""
    code, text_value = int(code), value.decode() if isinstance(value, bytes) else str(value)
    if code in (0, 2):
        return text_value, code == 2
    if code == 1:
        raise ExhaustedError("limit reached", where=charges[int(text_value) - 1].key)
    return None


class RedisCounters:
    """Lua check-and-increment at scale; seeded from the SQL ledger on first use.

    ``derive(session, scope)`` returns the ledger's value of every counter in a scope;
    it is used when a scope's marker is missing (first use, or Redis lost its data).
    """

    transactional = False

    def __init__(self, url: str, derive: Callable[[Session, str], dict[str, int]]) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._charge = self.client.register_script(_CHARGE)
        self._refund = self.client.register_script(_REFUND)
        self._grab = self.client.register_script(_GRAB)
        self._derive = derive
        self.aio = LoopClient(url, {"grab": _GRAB})

    def charge(self, session: Session, charges: Sequence[Charge]) -> None:
        scopes = sorted({c.scope for c in charges})
        keys = [f"{PREFIX}seeded:{s}" for s in scopes] + [PREFIX + c.key for c in charges]
        args: list[int] = [len(scopes)]
        for c in charges:
            args += [c.amount, -1 if c.cap is None else c.cap]
        for _ in range(3):
            res = int(self._charge(keys=keys, args=args))
            if res == 0:
                return
            if res > 0:
                raise ExhaustedError("limit reached", where=charges[res - 1].key)
            for s in scopes:
                self.seed(session, s)
        raise ConflictError("counters are being seeded; retry", where="redis")

    def grab(
        self,
        charges: Sequence[Charge],
        *,
        unit_id: str,
        idem_key: str | None,
        seed: Callable[[list[str]], None],
    ) -> tuple[str, bool]:
        """Check every cap, charge them and remember ``idem_key`` in one Lua call.

        Returns ``(unit_id, duplicate)``: the new unit, or the unit an earlier grab with
        the same key was given (nothing charged). ``seed(scopes)`` loads scopes that
        Redis does not hold yet (first use, or Redis lost its data) from the ledger.

        Raises:
            ExhaustedError: a cap would be exceeded (nothing charged).
        """
        scopes, keys, args = _grab_call(charges, unit_id, idem_key)
        for _ in range(3):
            done = _grab_result(charges, *self._grab(keys=keys, args=args))
            if done is not None:
                return done
            seed(scopes)
        raise ConflictError("counters are being seeded; retry", where="redis")

    async def grab_async(
        self,
        charges: Sequence[Charge],
        *,
        unit_id: str,
        idem_key: str | None,
        seed: Callable[[list[str]], None],
    ) -> tuple[str, bool]:
        """:meth:`grab` on the event loop (``redis.asyncio``): other requests run while
        this one waits for Redis. Seeding, rare, runs in a worker thread."""
        scopes, keys, args = _grab_call(charges, unit_id, idem_key)
        self.aio.get()
        script = self.aio.scripts["grab"]
        for _ in range(3):
            done = _grab_result(charges, *(await script(keys=keys, args=args)))
            if done is not None:
                return done
            await asyncio.to_thread(seed, scopes)
        raise ConflictError("counters are being seeded; retry", where="redis")

    def forget_key(self, idem_key: str | None) -> None:
        """Drop a grab's idempotency key (its issue was undone)."""
        if idem_key:
            self.client.delete(f"{PREFIX}idem:{idem_key}")

    def seed(self, session: Session, scope: str) -> None:
        """Load a scope's counters from the ledger once (under a short Redis lock)."""
        marker = f"{PREFIX}seeded:{scope}"
        if self.client.exists(marker):
            return
        lock = self.client.lock(f"{PREFIX}lock:{scope}", timeout=30, blocking_timeout=30)
        with lock:
            if self.client.exists(marker):
                return
            values = self._derive(session, scope)
            pipe = self.client.pipeline()
            for key in self.client.scan_iter(f"{PREFIX}{scope}/*", count=1000):
                pipe.delete(key)
            for key, used in values.items():
                pipe.set(PREFIX + key, used)
            pipe.set(marker, 1)
            pipe.execute()

    def refund(self, session: Session, charges: Sequence[Charge]) -> None:
        self.release(charges)

    def release(self, charges: Sequence[Charge]) -> None:
        self._refund(keys=[PREFIX + c.key for c in charges], args=[c.amount for c in charges])

    def read_scope(self, session: Session, scope: str) -> dict[str, int]:
        keys = [k.decode() for k in self.client.scan_iter(f"{PREFIX}{scope}/*", count=1000)]
        values = self.client.mget(keys) if keys else []
        return {
            k[len(PREFIX) :]: int(v) for k, v in zip(keys, values, strict=True) if v is not None
        }

    def overwrite(self, session: Session, values: dict[str, int]) -> None:
        """Set counters to the ledger's values (reconciliation repair)."""
        if values:
            self.client.mset({PREFIX + k: v for k, v in values.items()})
