"""The invite graph's facts in Redis, so a referral accept reads no SQL before its verdict.

Why: a referral accept's risk rules need two facts — does inviter → invitee close a loop
(is the invitee among the inviter's ancestors, 64 hops at most) and how many invitees
the inviter already has. In SQL that is a recursive query, one more round trip per
accept whose tail (≈ 20 ms p99) missed the 5 ms goal. Here the graph lives in two
hashes per activity — ``up`` (invitee → inviter; an invitee has one inviter) and
``fan`` (inviter → invitee count) — and one Lua call walks the chain, reads the
fan-out and records the risk windows (:data:`opsloop.activity.risk.WINDOWS_FN`).

SQL (``activity_referrals``) stays the record. Redis is filled from it on first use
(a ``seeded`` marker per activity; when Redis loses its data the marker goes with it
and the next accept seeds again) and each accepted invite adds its edge once the SQL
row is committed. Adding is idempotent (``HSETNX`` on the invitee, and the fan-out
counted only when that set a new edge), so an edge added while a seed runs is never
counted twice; :meth:`RedisGraph.rebuild` drops an activity's graph and seeds it from
SQL again (what to run if the two ever disagree).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opsloop.activity.risk import WINDOWS_FN, Attempt, Counts, RedisWindows
from opsloop.errors import ConflictError
from opsloop.logging import get_logger

log = get_logger("opsloop.activity.graph")

MAX_HOPS = 64  # as the SQL walk (service._RING): a ring already in the graph ends it

# KEYS: seeded marker, up hash, fan hash, then the windows' keys. ARGV: inviter,
# invitee, then the windows' argv. Returns {-1} when the activity is not seeded (nothing
# recorded), else the windows' counts followed by cycle (0/1) and the inviter's fan-out.
_FACTS = (
    WINDOWS_FN
    + f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{-1}} end
local inviter, invitee = ARGV[1], ARGV[2]
local cycle = 0
if inviter == invitee then cycle = 1 else
  local node = inviter
  for _ = 1, {MAX_HOPS} do
    node = redis.call('HGET', KEYS[2], node)
    if not node then break end
    if node == invitee then cycle = 1; break end
  end
end
local fan = tonumber(redis.call('HGET', KEYS[3], inviter) or '0')
local wk, wa = {{}}, {{}}
for i = 4, #KEYS do wk[#wk + 1] = KEYS[i] end
for i = 3, #ARGV do wa[#wa + 1] = ARGV[i] end
local out = windows(wk, wa)
out[#out + 1] = cycle
out[#out + 1] = fan
return out
"""
)
# KEYS: up hash, fan hash. ARGV: (invitee, inviter) pairs. Returns how many were new.
_ADD = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
    n = n + 1
  end
end
return n
"""
PREFIX = "opsloop:ref:"
SEED_CHUNK = 5000


class RedisGraph:
    """Per-activity invite graph in Redis, seeded from SQL.

    Args:
        url: the Redis server.
        edges: ``(invitee, inviter)`` of every accepted invite of an activity, from SQL.
    """

    def __init__(self, url: str, edges: Callable[[str], Iterable[tuple[int, int]]]) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url)
        self._facts = self.client.register_script(_FACTS)
        self._add = self.client.register_script(_ADD)
        self._edges = edges

    @staticmethod
    def _keys(activity_id: str) -> list[str]:
        base = f"{PREFIX}{activity_id}:"
        return [base + "seeded", base + "up", base + "fan"]

    def facts(self, windows: RedisWindows, a: Attempt, inviter: int) -> tuple[Counts, bool, int]:
        """Record the attempt's windows and read the graph facts, in one Lua call.

        Returns the windows' counts, whether inviter → ``a.customer_id`` closes a loop
        and the inviter's fan-out (invitees so far).
        """
        wkeys, wargs = windows.call(a)
        keys = self._keys(a.activity_id) + wkeys
        args: list[Any] = [str(inviter), str(a.customer_id), *wargs]
        for _ in range(3):
            out = self._facts(keys=keys, args=args)
            if len(out) >= 2:  # {-1}: not seeded, nothing recorded
                return windows.counts(a, out[:-2]), bool(int(out[-2])), int(out[-1])
            self.seed(a.activity_id)
        raise ConflictError("the invite graph is being seeded; retry", where="redis")

    def add(self, activity_id: str, inviter: int, invitee: int) -> None:
        """Add an accepted invite (after its SQL row committed).

        If Redis cannot take it, the activity's marker is dropped (best effort) so the
        next accept seeds the graph from SQL again rather than read a graph without it.
        """
        _seeded, up, fan = self._keys(activity_id)
        try:
            self._add(keys=[up, fan], args=[str(invitee), str(inviter)])
        except Exception as exc:
            log.warning("invite edge not added; graph will be reseeded", error=str(exc))
            try:
                self.client.delete(_seeded)
            except Exception as again:  # Redis is down: its data (and marker) may be too
                log.warning("could not drop the seeded marker", error=str(again))

    def seed(self, activity_id: str) -> None:
        """Load an activity's accepted invites from SQL once (under a short Redis lock)."""
        marker, up, fan = self._keys(activity_id)
        if self.client.exists(marker):
            return
        lock = self.client.lock(f"{PREFIX}{activity_id}:lock", timeout=60, blocking_timeout=60)
        with lock:
            if self.client.exists(marker):
                return
            chunk: list[str] = []
            for invitee, inviter in self._edges(activity_id):
                chunk += [str(invitee), str(inviter)]
                if len(chunk) >= 2 * SEED_CHUNK:
                    self._add(keys=[up, fan], args=chunk)
                    chunk = []
            if chunk:
                self._add(keys=[up, fan], args=chunk)
            self.client.set(marker, 1)

    def rebuild(self, activity_id: str) -> None:
        """Drop an activity's graph from Redis and seed it from SQL again."""
        self.client.delete(*self._keys(activity_id))
        self.seed(activity_id)
