"""The global contact policy (全局频控): one set of rules over every journey at once.

Deciding and counting are separate. :func:`eligible` and :func:`quiet_until` are pure
functions over a batch (consent and DND columns, the clock); caps are enforced by
counters that many workers share: :class:`SqlContactCounters` (guarded upserts in the
caller's transaction: ``used + 1 <= cap`` or no row comes back) by default and
:class:`RedisContactCounters` (one Lua script per chunk) at scale. A contact is
reserved on every cap rule of its channel or on none, so "≤ 2 marketing SMS a week"
holds however many journeys send at the same time.

Semantics: consent (the channel's column in :data:`CONSENT_COLUMN`) and DND (``dnd``)
always block marketing contacts; service contacts (``marketing=false``) are not
capped. Quiet hours defer a contact to the end of the window (the executor holds the
customer) unless the node's deadline passes first. When a cap binds, business lines below a rule's
``priority_min`` may use only ``max - reserved`` slots, keeping the rest for the lines
that matter more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from opsloop.strategy import bulk

Ids = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Period = Literal["day", "week", "month"]
CHANNELS = ("sms", "push", "email", "wechat", "call", "inapp", "slot")
# The warehouse column holding each channel's marketing consent. ``inapp`` (the app's
# inbox) and ``slot`` (an app resource slot, 资源位) show content inside the bank's own
# app the customer opened — nothing is pushed to them — so the customers table has no
# consent column for them (there is no ``consent_slot``): only DND and Reach's consent
# overrides (``reach_consent`` for the channel or ``*``, checked at dispatch) apply.
CONSENT_COLUMN: dict[str, str | None] = {
    "sms": "consent_sms", "push": "consent_push", "email": "consent_email",
    "wechat": "consent_wechat", "call": "consent_call", "inapp": None, "slot": None,
}  # fmt: skip
# Reason codes of a suppressed contact (stored as text next to the step).
OK, NO_CONSENT, DND, CAPPED, QUIET_EXPIRED = "", "no_consent", "dnd", "capped", "quiet_expired"


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CapRule(_Doc):
    """At most ``max`` contacts on ``channel`` per customer per calendar ``per``."""

    channel: str
    max: int = Field(gt=0, le=10_000)
    per: Period
    reserved: int = Field(default=0, ge=0)
    priority_min: int = 0

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; one of {', '.join(CHANNELS)}")
        return value

    def cap_for(self, priority: int) -> int:
        """The cap a business line of this priority may fill."""
        return self.max if priority >= self.priority_min else max(self.max - self.reserved, 0)


class QuietRule(_Doc):
    """No contact on ``channel`` from ``start`` to ``end`` local time (may span midnight)."""

    channel: str
    start: dt.time
    end: dt.time


class GlobalControl(_Doc):
    """全局对照组: a stable share of customers no journey contacts, to measure the whole."""

    share: float = Field(default=0.05, ge=0.0, le=0.5)
    salt: str = Field(default="opsloop-global-control", min_length=1, max_length=64)


class ContactPolicy(_Doc):
    """The bank's contact policy, configured once and honoured by every journey."""

    timezone: str = "Asia/Shanghai"
    caps: tuple[CapRule, ...] = ()
    quiet_hours: tuple[QuietRule, ...] = ()
    priorities: dict[str, int] = Field(default_factory=dict)
    global_control: GlobalControl = GlobalControl()

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# ---- pure decisions ----------------------------------------------------------------


def eligible(*, marketing: bool, consent: Mask, dnd: Mask) -> npt.NDArray[np.object_]:
    """Per customer: ``""`` when a contact is allowed, else the reason it is not."""
    out = np.full(len(consent), OK, dtype=object)
    if marketing:
        out[~consent] = NO_CONSENT
        out[dnd] = DND
    return out


def quiet_until(policy: ContactPolicy, channel: str, now: dt.datetime) -> dt.datetime | None:
    """The end of the quiet window ``now`` falls in for ``channel``, or None."""
    local = now.astimezone(policy.zone())
    t = local.time().replace(tzinfo=None)
    for rule in policy.quiet_hours:
        if rule.channel != channel:
            continue
        spans = rule.start > rule.end
        inside = (t >= rule.start or t < rule.end) if spans else rule.start <= t < rule.end
        if inside:
            day = local.date() + dt.timedelta(days=1 if spans and t >= rule.start else 0)
            return dt.datetime.combine(day, rule.end, tzinfo=policy.zone()).astimezone(dt.UTC)
    return None


def period_key(now: dt.datetime, per: Period, zone: ZoneInfo) -> str:
    """The calendar period ``now`` is in, in the bank's time zone."""
    d = now.astimezone(zone).date()
    if per == "day":
        return d.isoformat()
    if per == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{d.year}-{d.month:02d}"


def cap_keys(policy: ContactPolicy, channel: str, now: dt.datetime) -> list[tuple[str, CapRule]]:
    """(key prefix, rule) for every cap on ``channel``; a customer's key is prefix + id."""
    zone = policy.zone()
    return [
        (f"{channel}/{r.per}/{period_key(now, r.per, zone)}/", r)
        for r in policy.caps
        if r.channel == channel
    ]


def in_hash_share(ids: Ids, salt: str, share: float) -> Mask:
    """True for the stable ``share`` of customers whose salted hash falls below it."""
    return unit_hash(ids, salt) < share


def unit_hash(ids: Ids, salt: str) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per customer, fixed by (customer, salt) (splitmix64)."""
    seed = np.uint64(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little"))
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) ^ seed
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# ---- counters ----------------------------------------------------------------------


class ContactCounters(Protocol):
    """Atomically reserve one contact on every rule for each customer, or on none."""

    def reserve(self, session: Session, ids: Ids, rules: Sequence[tuple[str, int]]) -> Mask: ...


class SqlContactCounters:
    """Guarded set-based upserts in the caller's transaction; rolled back with it.

    Per cap rule one statement checks and increments the whole cohort
    (``INSERT … SELECT <ids> ON CONFLICT DO UPDATE SET used = used + 1 WHERE used + 1 <=
    cap RETURNING customer_id``): a customer whose row comes back took a slot. The ids
    go in sorted — one lock order for every writer, so concurrent journeys cannot
    deadlock on PostgreSQL; SQLite has one writer at a time.
    """

    def reserve(self, session: Session, ids: Ids, rules: Sequence[tuple[str, int]]) -> Mask:
        ok = np.zeros(len(ids), dtype=bool)
        pending = np.arange(len(ids))
        while len(pending):  # a customer twice in one call: one slot per round
            _, first = np.unique(ids[pending], return_index=True)
            part = pending[first]
            ok[part] = self._reserve(session, ids[part], rules)
            pending = np.setdiff1d(pending, part, assume_unique=True)
        return ok

    def _reserve(self, session: Session, ids: Ids, rules: Sequence[tuple[str, int]]) -> Mask:
        ok = np.ones(len(ids), dtype=bool)
        taken: list[tuple[str, Ids]] = []
        for scope, cap in rules:
            got = self._take(session, scope, ids[ok], cap)
            ok &= np.isin(ids, got)
            taken.append((scope, got))
        for scope, got in taken:  # undo rules passed by customers a later rule refused
            back = got[~np.isin(got, ids[ok])]
            if len(back):
                expr, value = bulk.id_param(session, np.sort(back))
                mark = "%s" if session.get_bind().dialect.name == "postgresql" else "?"
                test = f"= ANY({expr})" if mark == "%s" else f"IN {expr}"
                session.connection().exec_driver_sql(
                    f"UPDATE {_COUNTS} SET used = used - 1 "
                    f"WHERE scope = {mark} AND customer_id {test}",
                    (scope, value),
                )
        return ok

    def _take(self, session: Session, scope: str, ids: Ids, cap: int) -> Ids:
        if not len(ids):
            return ids
        order = np.sort(ids)  # one lock order for every writer: no deadlocks
        pg = session.get_bind().dialect.name == "postgresql"
        expr, value = bulk.id_param(session, order)
        source = f"unnest({expr}) AS t(c)" if pg else "json_each(?) AS t"
        pick = "c" if pg else "t.value"
        mark = "%s" if pg else "?"
        got = bulk.first_column(
            session,
            f"INSERT INTO {_COUNTS} (scope, customer_id, used) "
            f"SELECT {mark}, {pick}, 1 FROM {source} WHERE true "
            f"ON CONFLICT (scope, customer_id) DO UPDATE SET used = {_COUNTS}.used + 1 "
            f"WHERE {_COUNTS}.used + 1 <= {mark} RETURNING customer_id",
            (scope, value, cap),
        )
        return np.array(got, dtype=np.int64)


_COUNTS = "strategy_contact_counts"


# KEYS: every (customer, rule) key, customer-major; ARGV: n_rules, ttl, cap per rule.
_RESERVE = """
local r = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local out = {}
for c = 0, #KEYS / r - 1 do
  local ok = 1
  for i = 1, r do
    local used = tonumber(redis.call('GET', KEYS[c * r + i]) or '0')
    if used + 1 > tonumber(ARGV[2 + i]) then ok = 0 end
  end
  if ok == 1 then
    for i = 1, r do
      redis.call('INCR', KEYS[c * r + i])
      redis.call('EXPIRE', KEYS[c * r + i], ttl)
    end
  end
  out[c + 1] = ok
end
return out
"""
PREFIX = "opsloop:contact:"


class RedisContactCounters:
    """One Lua call per chunk checks and increments every rule of each customer atomically.

    Redis is not in the SQL transaction: a reservation whose send then fails to commit
    stays counted (the error is on the side of contacting less, never more).
    """

    def __init__(self, url: str, *, ttl_seconds: int = 40 * 86400) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._reserve = self.client.register_script(_RESERVE)
        self.ttl = ttl_seconds

    def reserve(self, session: Session, ids: Ids, rules: Sequence[tuple[str, int]]) -> Mask:
        if not rules or not len(ids):
            return np.ones(len(ids), dtype=bool)
        out: list[int] = []
        step = max(1, 2000 // len(rules))
        for start in range(0, len(ids), step):
            part = ids[start : start + step]
            keys = [PREFIX + p + str(int(c)) for c in part for p, _ in rules]
            args = [len(rules), self.ttl, *(cap for _, cap in rules)]
            out += [int(v) for v in self._reserve(keys=keys, args=args)]
        return np.array(out, dtype=bool)
