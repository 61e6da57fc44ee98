"""Participation risk control (数字风控): rules → score → allow / challenge / block.

:func:`evaluate` is pure: it scores one attempt from the counts the windows return
(velocity per device, IP, phone prefix and customer; accounts seen on one device), the
list hits and the invite-graph facts, and names every rule that fired. Sliding windows
live in SQL (``risk_hits``) by default and in Redis sorted sets at scale; lists are
cached in process for a few seconds so an evaluation is a single round trip.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsloop.activity.counters import LoopClient
from opsloop.activity.definitions import RiskPolicy
from opsloop.activity.models import RiskHit, RiskListEntry
from opsloop.store import Store

DIMENSIONS = ("customer", "device", "ip", "phone_prefix")
WINDOW_SECONDS = {"customer": 60, "device": 3600, "ip": 60, "phone_prefix": 60}
DEVICE_ACCOUNTS_WINDOW = 30 * 86400
DORMANT_DAYS = 180


@dataclass(frozen=True)
class Attempt:
    activity_id: str
    customer_id: int
    at: datetime
    device_id: str | None = None
    ip: str | None = None
    phone_prefix: str | None = None
    opened_on: date | None = None
    last_active_on: date | None = None
    in_cycle: bool = False  # accepting this invite closes a loop in the invite graph
    inviter_invites: int = 0

    def values(self) -> dict[str, str]:
        raw = {
            "customer": str(self.customer_id),
            "device": self.device_id,
            "ip": self.ip,
            "phone_prefix": self.phone_prefix,
        }
        return {k: v for k, v in raw.items() if v}


@dataclass(frozen=True)
class Counts:
    velocity: dict[str, int] = field(default_factory=dict)  # attempts in window, this one included
    device_accounts: int = 0


@dataclass(frozen=True)
class Fired:
    rule: str
    points: int
    detail: str


@dataclass(frozen=True)
class Verdict:
    action: str  # allow | challenge | block
    score: int
    fired: tuple[Fired, ...]


def evaluate(a: Attempt, policy: RiskPolicy, *, counts: Counts, lists: dict[str, str]) -> Verdict:
    """Score an attempt; ``lists`` maps dimension → ``black``/``grey``/``white`` hits."""
    if "white" in lists.values():
        return Verdict("allow", 0, (Fired("released", 0, "released by staff"),))
    fired: list[Fired] = []
    for dim, kind in sorted(lists.items()):
        if kind == "black":
            fired.append(Fired(f"blacklist.{dim}", 1000, f"{dim} is on the black list"))
        elif kind == "grey":
            fired.append(Fired(f"greylist.{dim}", 30, f"{dim} is on the grey list"))
    limits = {
        "customer": policy.per_customer_per_minute,
        "device": policy.per_device_per_hour,
        "ip": policy.per_ip_per_minute,
        "phone_prefix": policy.per_ip_per_minute,
    }
    for dim, n in sorted(counts.velocity.items()):
        if n > limits[dim]:
            fired.append(Fired(f"velocity.{dim}", 50, f"{n} attempts > {limits[dim]}"))
    if counts.device_accounts > policy.accounts_per_device:
        n = counts.device_accounts
        fired.append(Fired("device.accounts", 50, f"{n} accounts on one device"))
    today = a.at.date()
    if a.opened_on is not None and (today - a.opened_on).days < policy.new_account_days:
        fired.append(Fired("account.new", 20, f"opened {a.opened_on.isoformat()}"))
    if a.last_active_on is not None and (today - a.last_active_on).days > DORMANT_DAYS:
        fired.append(Fired("account.dormant", 20, f"last active {a.last_active_on.isoformat()}"))
    if a.in_cycle:
        fired.append(Fired("referral.cycle", 100, "invite closes a loop"))
    if a.inviter_invites >= policy.ring_size:
        fired.append(Fired("referral.star", 50, f"inviter has {a.inviter_invites} invitees"))
    score = sum(f.points for f in fired)
    action = "block" if score >= policy.block_at else "challenge"
    return Verdict(action if score >= policy.challenge_at else "allow", score, tuple(fired))


class Windows(Protocol):
    def hit(self, a: Attempt) -> Counts:
        """Record the attempt in every window and return the counts including it."""


class SqlWindows:
    """``risk_hits`` rows; counts are indexed range scans (dimension, value, at)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def hit(self, a: Attempt) -> Counts:
        values = a.values()
        with self.store.session() as s:
            for dim, v in values.items():
                s.add(RiskHit(dimension=dim, value=v, customer_id=a.customer_id, at=a.at))
            s.flush()
            velocity = {
                dim: _count(s, dim, v, a.at - timedelta(seconds=WINDOW_SECONDS[dim]))
                for dim, v in values.items()
            }
            accounts = 0
            if a.device_id:
                since = a.at - timedelta(seconds=DEVICE_ACCOUNTS_WINDOW)
                accounts = s.execute(
                    select(func.count(func.distinct(RiskHit.customer_id))).where(
                        RiskHit.dimension == "device",
                        RiskHit.value == a.device_id,
                        RiskHit.at > since,
                    )
                ).scalar_one()
        return Counts(velocity, int(accounts))


def _count(s: Session, dim: str, value: str, since: datetime) -> int:
    return int(
        s.execute(
            select(func.count()).where(
                RiskHit.dimension == dim, RiskHit.value == value, RiskHit.at > since
            )
        ).scalar_one()
    )


# windows(keys, argv): keys are one sorted set per dimension, then (optional) the
# device's accounts set; argv: now, a fresh member, the number of dimension keys, each
# one's window, then the customer id and the accounts window. Returns the count of each
# set after the hit. A function, so the referral script (graph.py) runs it too.
WINDOWS_FN = """
local function windows(keys, argv)
  local now, member, nd = tonumber(argv[1]), argv[2], tonumber(argv[3])
  local out = {}
  for i = 1, nd do
    local k, w = keys[i], tonumber(argv[3 + i])
    redis.call('ZADD', k, now, member)
    redis.call('ZREMRANGEBYSCORE', k, 0, now - w)
    out[i] = redis.call('ZCARD', k)
    redis.call('EXPIRE', k, w + 1)
  end
  if #keys > nd then
    local k, w = keys[nd + 1], tonumber(argv[nd + 5])
    redis.call('ZADD', k, now, argv[nd + 4])
    redis.call('ZREMRANGEBYSCORE', k, 0, now - w)
    out[nd + 1] = redis.call('ZCARD', k)
    redis.call('EXPIRE', k, w)
  end
  return out
end
"""
_WINDOWS = WINDOWS_FN + "return windows(KEYS, ARGV)\n"


class RedisWindows:
    """Sorted sets per (dimension, value) scored by time; one Lua call per attempt."""

    PREFIX = "opsloop:risk:"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._script = self.client.register_script(_WINDOWS)
        self.aio = LoopClient(url, {"windows": _WINDOWS})

    def call(self, a: Attempt) -> tuple[list[str], list[str | float | int]]:
        """The windows' ``keys`` and ``argv`` for one attempt (see ``WINDOWS_FN``)."""
        values = a.values()
        keys = [f"{self.PREFIX}{dim}:{v}" for dim, v in values.items()]
        args: list[str | float | int] = [a.at.timestamp(), uuid.uuid4().hex, len(keys)]
        args += [WINDOW_SECONDS[dim] for dim in values]
        if a.device_id:
            keys.append(f"{self.PREFIX}devacct:{a.device_id}")
            args += [str(a.customer_id), DEVICE_ACCOUNTS_WINDOW]
        return keys, args

    @staticmethod
    def counts(a: Attempt, out: list[Any]) -> Counts:
        """The counts from what ``windows()`` returned for this attempt."""
        values = a.values()
        velocity = {dim: int(out[i]) for i, dim in enumerate(values)}
        accounts = int(out[len(values)]) if a.device_id else 0
        return Counts(velocity, accounts)

    def hit(self, a: Attempt) -> Counts:
        keys, args = self.call(a)
        return self.counts(a, self._script(keys=keys, args=args))

    async def hit_async(self, a: Attempt) -> Counts:
        """:meth:`hit` on the event loop (``redis.asyncio``)."""
        keys, args = self.call(a)
        self.aio.get()
        return self.counts(a, await self.aio.scripts["windows"](keys=keys, args=args))


class ListCache:
    """Black/grey/white lists, reloaded from the store at most every ``ttl`` seconds."""

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store, self.ttl = store, ttl
        self._at = -1e18
        self._data: dict[tuple[str, str], str] = {}

    def invalidate(self) -> None:
        self._at = -1e18

    def stale(self) -> bool:
        return time.monotonic() - self._at > self.ttl

    def reload(self) -> None:
        """Read every list entry (blocking; the lean path calls it off the event loop)."""
        with self.store.session() as s:
            rows = s.execute(select(RiskListEntry)).scalars()
            self._data = {(r.dimension, r.value): r.list_kind for r in rows}
        self._at = time.monotonic()

    def lookup(self, a: Attempt) -> dict[str, str]:
        if self.stale():
            self.reload()
        hits = {d: self._data[(d, v)] for d, v in a.values().items() if (d, v) in self._data}
        release = self._data.get(("release", f"{a.activity_id}:{a.customer_id}"))
        if release:
            hits["release"] = release
        return hits
