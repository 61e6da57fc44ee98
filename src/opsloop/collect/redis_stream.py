"""The event stream on Redis Streams, for servers that run several worker processes.

Why: the embedded log (:mod:`opsloop.collect.log`) has one writer per directory, so a
server using it is one process. With ``OPSLOOP_REDIS_URL`` set, events go to one Redis
stream instead and any number of processes may ingest and consume.

* **Stored once**: one Lua script per append claims each message id with
  ``SET <prefix>:id:<mid> 1 NX EX <ttl>`` and ``XADD``s only the new ones, atomically,
  so a retry (even one racing its original in another process) is stored once within
  the id window (7 days by default; Segment's own window is 24 h).
* **Acknowledged = in Redis**: durability on disk is Redis's persistence setting
  (``appendonly yes`` + ``appendfsync always`` for the embedded log's guarantee).
* **Delivery**: each consumer name is a consumer group; records are read with
  ``XREADGROUP`` and ``XACK``ed after the handler returns. Unacknowledged records stay in
  the group's pending list, which Redis keeps across restarts: a restarted consumer
  reads its pending records first (at least once).

:class:`RedisStream` offers the same surface as :class:`~opsloop.collect.log.EventLog`
(``append``/``append_async``, ``consumer``/``subscribe``, ``end_offset``,
``committed``), so the collector and the flusher do not know which one they use.
Offsets here are stream positions packed into one integer (``ms << 20 | seq``).

* **Retention**: :meth:`RedisStream.trim` (run by ``append`` at most every
  ``trim_every_s``) removes, atomically in one script, the entries *every* consumer
  group has acknowledged: ``XTRIM MINID`` at the smallest, over the groups, of the
  oldest pending entry (or, with nothing pending, the entry after the last one
  delivered). An entry still pending or not yet read by any group is never removed;
  without any group nothing is removed. A group that is gone for good holds the
  stream back until it is destroyed (``XGROUP DESTROY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis

from opsloop.collect.log import AppendResult, LogClosedError, LogError, Record, Subscription

APPEND = """
local added, dups = {}, {}
for i = 2, #ARGV, 2 do
  if redis.call('SET', KEYS[2] .. ARGV[i], '1', 'NX', 'EX', ARGV[1]) then
    added[#added + 1] = redis.call('XADD', KEYS[1], '*', 'm', ARGV[i], 'p', ARGV[i + 1])
  else
    dups[#dups + 1] = ARGV[i]
  end
end
return {added, dups}
"""

# KEYS[1] stream; ARGV[1] "1" for approximate trimming ("~": whole radix-tree nodes only,
# cheaper, may keep a few more). Returns {entries removed, the MINID used or ""}.
TRIM = """
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return {0, ''} end
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local best_ms, best_seq
for _, g in ipairs(groups) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  local ms, seq
  local pending = redis.call('XPENDING', KEYS[1], name)
  if pending[1] > 0 then
    ms, seq = parse(pending[2])
  else
    ms, seq = parse(last)
    seq = seq + 1
  end
  if best_ms == nil or ms < best_ms or (ms == best_ms and seq < best_seq) then
    best_ms, best_seq = ms, seq
  end
end
local minid = string.format('%d-%d', best_ms, best_seq)
local removed
if ARGV[1] == '1' then
  removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', minid)
else
  removed = redis.call('XTRIM', KEYS[1], 'MINID', minid)
end
return {removed, minid}
"""


def pack(entry_id: str | bytes) -> int:
    """A stream entry id ``ms-seq`` as one ordered integer."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, seq = text.split("-")
    return (int(ms) << 20) | int(seq)


def unpack(offset: int) -> str:
    return f"{offset >> 20}-{offset & 0xFFFFF}"


class RedisStream:
    """An event stream in Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "opsloop:events",
        id_ttl_s: int = 7 * 24 * 3600,
        trim_every_s: float | None = 10.0,
    ) -> None:
        self.client = redis.Redis.from_url(url)
        self.stream = f"{prefix}:stream"
        self.id_prefix = f"{prefix}:id:"
        self.id_ttl_s = id_ttl_s
        self.batches = 0
        self.trimmed = 0
        self.trim_every_s = trim_every_s
        self._closed = False
        self._script = self.client.register_script(APPEND)
        self._trim_script = self.client.register_script(TRIM)
        self._next_trim = time.monotonic() + (trim_every_s or 0.0)

    @property
    def end_offset(self) -> int:
        """Records ever added to the stream (what the log calls its end offset)."""
        try:
            info = self.client.xinfo_stream(self.stream)
        except redis.ResponseError:  # no stream yet
            return 0
        return int(info.get("entries-added") or info.get("length") or 0)

    def __contains__(self, message_id: object) -> bool:
        return bool(self.client.exists(f"{self.id_prefix}{message_id}"))

    def append(
        self, items: Sequence[tuple[str, bytes]], timeout: float | None = 30.0
    ) -> AppendResult:
        """Store the new records, skip ids already stored; returns once Redis has them."""
        if self._closed:
            raise LogClosedError("the event stream is closed")
        if not items:
            return AppendResult((), ())
        argv: list[Any] = [self.id_ttl_s]
        for mid, payload in items:
            if not mid or len(mid.encode()) > 1024:
                raise ValueError("message id must be 1..1024 bytes")
            argv += [mid, payload]
        try:
            added, dups = self._script(keys=[self.stream, self.id_prefix], args=argv)
        except redis.RedisError as exc:
            raise LogError(f"redis append failed: {exc}") from exc
        self.batches += 1
        if self.trim_every_s is not None and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self.trim_every_s
            with contextlib.suppress(redis.RedisError):  # retention only: retried next time
                self.trim()
        return AppendResult(tuple(pack(a) for a in added), tuple(d.decode() for d in dups))

    def trim(self, *, approximate: bool = True) -> int:
        """Remove the entries every consumer group has acknowledged (see the module
        docstring); returns how many were removed."""
        try:
            removed, _minid = self._trim_script(
                keys=[self.stream], args=["1" if approximate else "0"]
            )
        except redis.RedisError as exc:
            raise LogError(f"redis trim failed: {exc}") from exc
        self.trimmed += int(removed)
        return int(removed)

    async def append_async(self, items: Sequence[tuple[str, bytes]]) -> AppendResult:
        return await asyncio.to_thread(self.append, items)

    def committed(self, consumer: str) -> int:
        """Records the consumer group has read (``entries-read``; 0 before the first)."""
        try:
            groups = self.client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return 0
        for g in groups:
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name == consumer:
                return int(g.get("entries-read") or 0)
        return 0

    def consumer(self, name: str, *, batch: int = 1000) -> RedisConsumer:
        return RedisConsumer(self, name, batch)

    def subscribe(
        self, name: str, handler: Callable[[list[Record]], None], *, batch: int = 1000
    ) -> Subscription:
        """Deliver records to ``handler`` in a thread, at least once (acked after it)."""
        return Subscription(self.consumer(name, batch=batch), handler)

    def rewrite(
        self,
        replace: Callable[[str, bytes], bytes | None],
        *,
        needles: Sequence[bytes] = (),
        chunk: int = 1000,
    ) -> int:
        """Erasure: ``XDEL`` every entry for which ``replace(message_id, payload)`` is not
        None (a stream entry cannot be changed in place, so an anonymised replacement
        is deleted too; the warehouse keeps the anonymised row). Entries are scanned
        with ``XRANGE`` in chunks; ``needles``, when given, skip entries without any of
        them cheaply. Returns entries deleted. Their message ids stay claimed (a retry
        of an erased event is still a duplicate)."""
        deleted = 0
        start = "-"
        while True:
            try:
                got = self.client.xrange(self.stream, min=start, max="+", count=chunk)
            except redis.RedisError as exc:
                raise LogError(f"redis scan failed: {exc}") from exc
            entries = cast(list[tuple[bytes, dict[bytes, bytes]]], got)
            doomed: list[bytes] = []
            for entry_id, fields in entries:
                payload = fields.get(b"p", b"")
                if needles and not any(n in payload for n in needles):
                    continue
                if replace(fields.get(b"m", b"").decode(), payload) is not None:
                    doomed.append(entry_id)
            if doomed:
                deleted += int(self.client.xdel(self.stream, *doomed))
            if len(entries) < chunk:
                return deleted
            start = "(" + entries[-1][0].decode()

    def close(self) -> None:
        self._closed = True
        self.client.close()

    def __enter__(self) -> RedisStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RedisConsumer:
    """A consumer group member with the :class:`~opsloop.collect.log.Consumer` surface:
    ``poll`` hands out records (its own pending ones first, after a restart), ``commit``
    acknowledges everything handed out so far, ``rewind`` hands them out again."""

    def __init__(self, stream: RedisStream, name: str, batch: int) -> None:
        self.stream = stream
        self.name = name
        self.batch = batch
        self._client = redis.Redis(connection_pool=stream.client.connection_pool)
        self._unacked: list[Record] = []
        self._again: list[Record] = []
        self._pending_done = False
        self._pending_from = "0"  # where the replay of this consumer's pending list is
        self._lock = threading.Lock()
        try:
            self._client.xgroup_create(stream.stream, name, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @property
    def log(self) -> RedisStream:
        return self.stream

    def poll(self, timeout: float = 0.0) -> list[Record]:
        with self._lock:
            if self._again:
                out, self._again = self._again, []
                return out
            while not self._pending_done:  # what this consumer read but never acked
                records, last = self._read(self._pending_from, None)
                if last is None:
                    self._pending_done = True
                    break
                self._pending_from = last  # the next poll goes on after these
                if records:
                    self._unacked += records
                    return records
            block = int(timeout * 1000) if timeout else None
            records, _ = self._read(">", block)
            self._unacked += records
            return records

    def _read(self, start: str, block: int | None) -> tuple[list[Record], str | None]:
        """Records from ``start`` and the last entry id seen (None: no entries)."""
        got = self._client.xreadgroup(
            self.name, self.name, {self.stream.stream: start}, count=self.batch, block=block
        )
        out: list[Record] = []
        last: str | None = None
        for _stream, entries in cast(list[tuple[bytes, list[tuple[bytes, Any]]]], got or []):
            for entry_id, fields in entries:
                last = entry_id.decode()
                if not fields:  # deleted while pending (erasure)
                    continue
                out.append(Record(pack(entry_id), fields[b"m"].decode(), fields[b"p"]))
        return out, last

    def commit(self) -> None:
        with self._lock:
            ids = [unpack(r.offset) for r in self._unacked]
            if ids:
                self._client.xack(self.stream.stream, self.name, *ids)
            self._unacked = []

    def rewind(self, records: list[Record]) -> None:
        """Hand ``records`` out again on the next poll (the handler failed)."""
        with self._lock:
            self._again = list(records)

    def __aiter__(self) -> RedisConsumer:
        return self

    async def __anext__(self) -> list[Record]:
        if self._unacked:
            await asyncio.to_thread(self.commit)
        while True:
            records = await asyncio.to_thread(self.poll, 0.5)
            if records:
                return records
            if self.stream._closed:
                raise StopAsyncIteration
