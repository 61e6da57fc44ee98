"""The durable event log: append-only segment files with group commit.

Why a log of our own: an event acknowledged to an SDK must survive a crash, and one
``fsync`` per HTTP call caps ingest at the disk's flush rate. Here every append is
handed to one writer thread, which writes whatever is pending as one batch and calls
``fsync`` once for all of it; a caller's :meth:`EventLog.append` returns only after its
records are on disk. Under load the batches grow on their own (while one ``fsync``
runs, the next batch queues), so throughput scales with concurrency.

On disk (``OPSLOOP_HOME/events``)::

    00000000000000000000.log   records 0..n-1     (file name = first record's offset)
    00000000000001048576.log   records n..
    00000000000000000000.ids   sidecar of a sealed segment: its message ids (checkpoint)
    offsets/<consumer>         next offset to deliver to that consumer
    LOCK                       held (``flock``) by the one process that writes the log

Single writer: two writers would interleave frames and fight over offsets, so opening
takes an exclusive ``flock`` on ``LOCK`` (released by the kernel when the process dies,
so a crash never leaves a stale lock) and a second opener fails with
:class:`LogLockedError` naming the holder's pid.

A record is framed ``u32 length | u32 crc32(body) | body`` with
``body = u16 id_length | message id (utf-8) | payload``. A torn tail after a crash
(short header, short body, bad CRC, zero fill) is cut off when the log is opened; only
the last segment may have one, damage anywhere else is an error (never silently lost).

Idempotency window: a retried message id is stored once, across restarts, if its
original was stored within ``dedupe_window_s`` (7 days) and is among the last
``max_ids`` (20 M) ids. Ids are remembered per segment and forgotten a whole sealed
segment at a time (memory stays bounded however long the server runs); a retry of a
forgotten id is stored again in the log, and the warehouse, which appends idempotently
on ``message_id``, still holds it once. A duplicate that arrives while the original is
still in flight waits for the original's ``fsync``: "acknowledged" always means
"on disk".

Compact ids: the active segment's ids are a Python set (bounded by ``segment_bytes``);
sealed segments' ids are kept only as 96-bit fingerprints (the process's 64-bit
``hash`` of the id and its CRC-32) in one sorted numpy index (:class:`_IdIndex`, 12 B
per id instead of ~125 B for a ``str`` in a set and a list), searched for a whole
request at once with ``searchsorted``. A new id is taken for a stored one only if both
its hash and CRC match one (p ≈ n/2⁹⁶ per id: ~10⁻²² at 20 M ids). A sealed segment's
ids are merged into the index, and a forgotten segment's removed (recomputed from its
sidecar), by one background thread; until then they stay in the set, so a lookup
never misses them. A segment is not retired while its ids are in the window.

Retention: with ``retention_s`` set, a sealed segment sealed longer ago than that is
deleted (with its sidecar) once every consumer in ``offsets/`` — and at least each of
``retain_for`` (the warehouse flusher) — has committed past its last record; only
the oldest segments go, so the log stays contiguous. Checked on open and on each roll
(:meth:`EventLog.retire`).

Rewriting (erasure): :meth:`EventLog.rewrite` replaces payloads in place of their
records — a deleted record becomes a tombstone (same offset and message id, payload
:data:`TOMBSTONE`, never handed to readers) so offsets and consumer positions stay
valid. A segment is rewritten to a new file, fsync'd and renamed over the old one;
its sidecar is rewritten; readers that raced the rename retry on the new file.

Checkpoint: sealing a segment writes ``<segment>.ids`` (count, size, seal time, ids;
framed with length + CRC, written via tmp + fsync + rename). Opening reads sidecars of
segments sealed within the window, skips older ones, and decodes only the active
segment (at most ``segment_bytes``) — never the whole log. A missing or damaged sidecar
is rebuilt by scanning that one segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import orjson

HEADER = struct.Struct("<II")
ID_LEN = struct.Struct("<H")
SUFFIX = ".log"
INDEX_SUFFIX = ".ids"
DEDUPE_WINDOW_S = 7 * 24 * 3600.0  # Segment's dedupe window is 24 h; ours is a week
MAX_IDS = 20_000_000  # ~2 GB at most of remembered ids, whichever limit comes first
MAX_ID_BYTES = 1024
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
TOMBSTONE = b"\x00erased"  # payload of a deleted record (never valid JSON)
U64 = npt.NDArray[np.uint64]


class LogError(Exception):
    """The log cannot take or give records (corruption, closed, failed disk)."""


class LogClosedError(LogError):
    """The log was closed before the append was written."""


class LogLockedError(LogError):
    """Another process (or another open log) already writes this directory."""


class LogCorruptError(LogError):
    """A sealed segment is damaged: refuse to guess, an operator must look."""


class _Replaced(Exception):  # noqa: N818 - internal signal, not an error
    """A read raced a segment rewrite or retirement: read again."""


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record: its offset (position in the log), message id and payload."""

    offset: int
    message_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did: new offsets stored, and ids that were already there."""

    offsets: tuple[int, ...]
    duplicates: tuple[str, ...]

    @property
    def stored(self) -> int:
        return len(self.offsets)


# -- pure framing ---------------------------------------------------------------------------


def encode(message_id: str, payload: bytes) -> bytes:
    """Frame one record (see the module docstring)."""
    mid = message_id.encode()
    if not mid or len(mid) > MAX_ID_BYTES:
        raise ValueError(f"message id must be 1..{MAX_ID_BYTES} bytes, got {len(mid)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    body = ID_LEN.pack(len(mid)) + mid + payload
    return HEADER.pack(len(body), zlib.crc32(body)) + body


def decode(buf: bytes | memoryview, pos: int) -> tuple[str, bytes, int] | None:
    """Decode the record at ``pos``: ``(message_id, payload, next_pos)``, or None when
    the bytes there are not a whole, intact record (a torn or damaged tail)."""
    if len(buf) - pos < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(buf, pos)
    start = pos + HEADER.size
    end = start + length
    if length < ID_LEN.size or end > len(buf):
        return None
    body = bytes(buf[start:end])
    if zlib.crc32(body) != crc:
        return None
    (id_len,) = ID_LEN.unpack_from(body, 0)
    if ID_LEN.size + id_len > length or id_len == 0:
        return None
    try:
        mid = body[ID_LEN.size : ID_LEN.size + id_len].decode()
    except UnicodeDecodeError:
        return None
    return mid, body[ID_LEN.size + id_len :], end


def scan(buf: bytes | memoryview) -> tuple[list[tuple[str, int]], int]:
    """All intact records from the start: ``[(message_id, start_pos)]`` and the end of the
    last intact one (where a torn tail begins, or ``len(buf)``)."""
    out: list[tuple[str, int]] = []
    pos = 0
    while True:
        got = decode(buf, pos)
        if got is None:
            return out, pos
        out.append((got[0], pos))
        pos = got[2]


# -- the log --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Segment:
    base: int  # offset of its first record
    path: Path
    count: int  # records durably in it
    size: int  # bytes durably in it
    sealed_at: float | None = None  # None while it is the active segment


@dataclass(slots=True)
class _Pending:
    items: list[tuple[str, bytes]]
    future: Future[AppendResult]
    duplicates: list[str]
    waits: list[Future[AppendResult]] = field(default_factory=list)


U32 = npt.NDArray[np.uint32]


def fingerprints(message_ids: Sequence[str]) -> tuple[U64, U32]:
    """96-bit fingerprints of ``message_ids``: the process's string hash and CRC-32."""
    n = len(message_ids)
    hi = np.fromiter((hash(m) for m in message_ids), dtype=np.int64, count=n).view(np.uint64)
    lo = np.fromiter((zlib.crc32(m.encode()) for m in message_ids), dtype=np.uint32, count=n)
    return hi, lo


class _IdIndex:
    """Fingerprints of the sealed segments' ids inside the window, sorted by ``hi``
    (immutable: changes return a new index, so lookups need no lock)."""

    __slots__ = ("hi", "lo")

    def __init__(self, hi: U64, lo: U32) -> None:
        self.hi = hi
        self.lo = lo

    @classmethod
    def build(cls, ids: Sequence[str]) -> _IdIndex:
        hi, lo = fingerprints(ids)
        order = np.argsort(hi, kind="stable")
        return cls(hi[order], lo[order])

    def __len__(self) -> int:
        return len(self.hi)

    def add(self, ids: Sequence[str]) -> _IdIndex:
        new = _IdIndex.build(ids)
        at = np.searchsorted(self.hi, new.hi)
        return _IdIndex(np.insert(self.hi, at, new.hi), np.insert(self.lo, at, new.lo))

    def remove(self, ids: Sequence[str]) -> _IdIndex:
        """Without one entry per id in ``ids`` (those not present are ignored)."""
        hi, lo = fingerprints(ids)
        left = np.searchsorted(self.hi, hi, "left")
        right = np.searchsorted(self.hi, hi, "right")
        span = right - left
        one = np.flatnonzero(span == 1)
        drop = [left[one][self.lo[left[one]] == lo[one]]]
        for i in np.flatnonzero(span > 1):  # equal hashes: the first with the same CRC
            hit = np.flatnonzero(self.lo[left[i] : right[i]] == lo[i])
            if len(hit):
                drop.append(np.array([left[i] + hit[0]]))
        gone = np.unique(np.concatenate(drop))
        if not len(gone):
            return self
        return _IdIndex(np.delete(self.hi, gone), np.delete(self.lo, gone))

    def contains(self, ids: Sequence[str]) -> list[bool]:
        if not len(self.hi) or not ids:
            return [False] * len(ids)
        hi, lo = fingerprints(ids)
        left = np.searchsorted(self.hi, hi, "left")
        right = np.searchsorted(self.hi, hi, "right")
        span = right - left
        found = np.zeros(len(ids), dtype=np.bool_)
        one = span == 1
        found[one] = self.lo[left[one]] == lo[one]
        for i in np.flatnonzero(span > 1):  # equal hashes: compare each CRC
            found[i] = bool(np.any(self.lo[left[i] : right[i]] == lo[i]))
        return [bool(x) for x in found]


_EMPTY = _IdIndex(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint32))


class EventLog:
    """An open log. Thread-safe; one writer thread; many readers.

    Args:
        directory: where the segment files live (created if missing).
        segment_bytes: roll to a new segment file past this size.
        linger_s: how long the writer waits for more appends before writing a batch
            (0 = write as soon as something is pending; batching still happens under load).
        fsync: turn off only in benchmarks that measure the framing itself.
        retention_s: delete sealed segments older than this once every consumer (and
            each of ``retain_for``) is past them; None keeps every segment.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 64 * 1024 * 1024,
        linger_s: float = 0.0,
        max_batch_bytes: int = 8 * 1024 * 1024,
        fsync: bool = True,
        dedupe_window_s: float = DEDUPE_WINDOW_S,
        max_ids: int = MAX_IDS,
        retention_s: float | None = None,
        retain_for: Sequence[str] = ("warehouse",),
    ) -> None:
        self.directory = directory
        self.retention_s = retention_s
        self.retain_for = tuple(retain_for)
        self.dedupe_window_s = dedupe_window_s
        self.max_ids = max_ids
        self.segment_bytes = segment_bytes
        self.linger_s = linger_s
        self.max_batch_bytes = max_batch_bytes
        self._fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "offsets").mkdir(exist_ok=True)
        self._lockfd = _take_lock(directory / "LOCK")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._durable = threading.Condition(threading.Lock())
        self._queue: list[_Pending] = []
        self._recent: set[str] = set()  # ids of the active segment and in flight
        self._active_ids: list[str] = []  # ids written to the segment being written
        self._index = _EMPTY  # sealed segments' ids inside the window
        self._indexed: deque[tuple[float, Path, int]] = deque()  # (sealed at, segment, ids)
        self._index_version = 0  # bumped whenever self._index changes
        self._indexer = ThreadPoolExecutor(1, thread_name_prefix="opsloop-ids")  # FIFO
        self._write_lock = threading.Lock()  # held by the writer over a write and a roll
        self._maint = threading.Lock()  # one rewrite or retirement at a time
        self._generation = 0  # bumped when a segment file is replaced or deleted
        self.retired: list[str] = []  # segment files deleted by retention (this process)
        self.segments_scanned = 0  # segment files decoded on open (the rest: sidecars)
        window: list[tuple[float, Path, list[str]]] = []  # sealed segments to index
        self._window = window
        self._inflight: dict[str, Future[AppendResult]] = {}
        self._closed = False
        self._failed: BaseException | None = None
        self.truncated_bytes = 0  # torn tail cut off on open
        self.batches = 0  # fsyncs done (group commits)
        self._positions: dict[int, int] = {}  # offset -> byte position, where readers stopped
        try:
            self._segments = self._recover()
        except BaseException:
            os.close(self._lockfd)
            raise
        self._file = self._segments[-1].path.open("ab", buffering=0)
        self._thread = threading.Thread(target=self._run, name="opsloop-eventlog", daemon=True)
        self._thread.start()
        if retention_s is not None:
            self.retire()

    # -- recovery ---------------------------------------------------------------------------
    def _recover(self) -> list[_Segment]:
        files = sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))
        segments: list[_Segment] = []
        expected = int(files[0].name.removesuffix(SUFFIX)) if files else 0  # after retention
        now = time.time()
        for i, path in enumerate(files):
            base = int(path.name.removesuffix(SUFFIX))
            if base != expected:
                raise LogCorruptError(f"{path.name}: starts at {base}, expected {expected}")
            last = i == len(files) - 1
            index = None if last else _read_index(path)
            if index is not None and index.size == path.stat().st_size:
                count, end, ids, sealed_at = index.count, index.size, index.ids, index.sealed_at
            else:  # the active segment, or a sealed one without a usable sidecar
                data = path.read_bytes()
                self.segments_scanned += 1
                records, end = scan(data)
                if end != len(data):
                    if not last:
                        raise LogCorruptError(f"{path.name}: damaged record at byte {end}")
                    self.truncated_bytes += len(data) - end
                    with path.open("r+b") as f:
                        f.truncate(end)
                        os.fsync(f.fileno())
                count, ids, sealed_at = len(records), [mid for mid, _ in records], now
                if not last:
                    _write_index(path, _Index(count, end, path.stat().st_mtime, ids))
                    sealed_at = path.stat().st_mtime
            if last:
                self._active_ids = ids
                self._recent.update(ids)
            elif now - sealed_at <= self.dedupe_window_s:
                self._window.append((sealed_at, path, ids))
            segments.append(_Segment(base, path, count, end, None if last else sealed_at))
            expected = base + count
        total = sum(len(ids) for _, _, ids in self._window) + len(self._recent)
        while self._window and total > self.max_ids:  # keep the newest within max_ids
            total -= len(self._window.pop(0)[2])
        self._index = _IdIndex.build([m for _, _, ids in self._window for m in ids])
        self._indexed.extend((at, path, len(ids)) for at, path, ids in self._window)
        self._window.clear()
        if not segments:
            segments.append(self._new_segment(0))
        return segments

    def _publish(self, ids: list[str], sealed_at: float, path: Path) -> None:
        """(Indexer thread.) Merge a sealed segment's ids into the index, drop whole
        segments past the window or over ``max_ids``, then swap the index in."""
        index = self._index.add(ids)
        indexed = self._indexed.copy()
        indexed.append((sealed_at, path, len(ids)))
        with self._lock:
            recent = len(self._recent) - len(ids)
        while indexed and (
            time.time() - indexed[0][0] > self.dedupe_window_s or len(index) + recent > self.max_ids
        ):
            _, old, _n = indexed.popleft()
            sidecar = _read_index(old)
            if sidecar is None:  # damaged under us: rebuild from what is left
                index = _IdIndex.build([m for _, p, _ in indexed for m in (_ids_of(p) or [])] + ids)
            else:
                index = index.remove(sidecar.ids)
        with self._lock:
            self._index = index
            self._indexed = indexed
            self._index_version += 1
            self._recent.difference_update(ids)

    def settle(self) -> None:
        """Wait until sealed segments' ids are merged into (or dropped from) the index."""
        self._indexer.submit(lambda: None).result()

    @property
    def remembered_ids(self) -> int:
        """How many message ids the log would refuse as duplicates right now."""
        return len(self._index) + len(self._recent)

    def _indexed_segments(self) -> set[Path]:
        with self._lock:
            return {p for _, p, _ in self._indexed}

    def _new_segment(self, base: int) -> _Segment:
        path = self.directory / f"{base:020d}{SUFFIX}"
        path.touch()
        _fsync_dir(self.directory)
        return _Segment(base, path, 0, 0)

    # -- appending --------------------------------------------------------------------------
    @property
    def end_offset(self) -> int:
        """Offset the next record will get; everything below it is durable."""
        seg = self._segments[-1]
        return seg.base + seg.count

    def __contains__(self, message_id: object) -> bool:
        if not isinstance(message_id, str):
            return False
        with self._lock:
            if message_id in self._recent:
                return True
            index = self._index
        return index.contains([message_id])[0]

    def submit(self, items: Sequence[tuple[str, bytes]]) -> Future[AppendResult]:
        """Queue records ``(message_id, payload)``; the future resolves once they are durable.

        Ids already stored (or repeated within ``items``) are skipped and reported as
        duplicates; the future then also waits for any in-flight original.
        """
        for mid, payload in items:
            encode(mid, payload[:0])  # validate the id early, in the caller's thread
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        fut: Future[AppendResult] = Future()
        ids = [mid for mid, _ in items]
        with self._lock:  # the sealed ids' index is immutable: search it outside the lock
            index, version = self._index, self._index_version
        sealed = index.contains(ids)
        with self._lock:
            if self._closed:
                raise LogClosedError("the event log is closed")
            if self._failed is not None:
                raise LogError(f"the event log failed: {self._failed}")
            if version != self._index_version:  # ids moved from the set into the index
                sealed = self._index.contains(ids)
            fresh: list[tuple[str, bytes]] = []
            dups: list[str] = []
            waits: list[Future[AppendResult]] = []
            for (mid, payload), old in zip(items, sealed, strict=True):
                if old or mid in self._recent:
                    dups.append(mid)
                    original = self._inflight.get(mid)
                    if original is not None and original is not fut and original not in waits:
                        waits.append(original)
                    continue
                self._recent.add(mid)
                self._inflight[mid] = fut
                fresh.append((mid, payload))
            pending = _Pending(fresh, fut, dups, waits)
            if not fresh:
                self._settle_without_write(pending)
            else:
                self._queue.append(pending)
                self._wake.notify()
        return fut

    def _settle_without_write(self, p: _Pending) -> None:
        """All duplicates: resolve once every in-flight original is durable."""
        result = AppendResult((), tuple(p.duplicates))
        remaining = [w for w in p.waits if not w.done()]
        if not remaining:
            errors = [w.exception() for w in p.waits if w.exception() is not None]
            if errors:
                p.future.set_exception(LogError(f"original append failed: {errors[0]}"))
            else:
                p.future.set_result(result)
            return
        count = [len(remaining)]
        guard = threading.Lock()

        def done(w: Future[AppendResult]) -> None:
            with guard:
                count[0] -= 1
                last = count[0] == 0
            if last:
                errs = [x.exception() for x in p.waits if x.exception() is not None]
                if errs:
                    p.future.set_exception(LogError(f"original append failed: {errs[0]}"))
                else:
                    p.future.set_result(result)

        for w in remaining:
            w.add_done_callback(done)

    def append(
        self, items: Sequence[tuple[str, bytes]], timeout: float | None = 30.0
    ) -> AppendResult:
        """Append and wait until durable (see :meth:`submit`)."""
        return self.submit(items).result(timeout)

    async def append_async(self, items: Sequence[tuple[str, bytes]]) -> AppendResult:
        """Append from asyncio code without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(items))

    # -- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        name_os_thread("ol-log-writer")
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue and self._closed:
                    return
            if self.linger_s:
                time.sleep(self.linger_s)
            with self._lock:
                batch = self._take_batch()
            try:
                with self._write_lock:
                    self._write(batch)
            except BaseException as exc:  # the disk failed: fail the callers
                self._fail(batch, exc)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._queue and (not batch or size < self.max_batch_bytes):
            p = self._queue.pop(0)
            batch.append(p)
            size += sum(len(pl) for _, pl in p.items)
        return batch

    def _write(self, batch: list[_Pending]) -> None:
        seg = self._segments[-1]
        results: list[tuple[_Pending, tuple[int, ...]]] = []
        chunks: list[bytes] = []
        offset = seg.base + seg.count
        size = seg.size
        for p in batch:
            got: list[int] = []
            for mid, payload in p.items:
                chunks.append(encode(mid, payload))
                size += len(chunks[-1])
                got.append(offset)
                offset += 1
            results.append((p, tuple(got)))
        data = b"".join(chunks)
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            view = view[n or 0 :]
        if self._fsync:
            os.fsync(self._file.fileno())
        with self._durable:
            seg.count = offset - seg.base
            seg.size = size
            self.batches += 1
            self._durable.notify_all()
        with self._lock:
            for p, _ in results:
                for mid, _pl in p.items:
                    self._inflight.pop(mid, None)
                    self._active_ids.append(mid)
        # Duplicates of in-flight originals were queued after them: the originals are in
        # this batch or an earlier one, so they are durable now too.
        for p, offsets in results:
            p.future.set_result(AppendResult(offsets, tuple(p.duplicates)))
        if seg.size >= self.segment_bytes:
            self._roll()

    def _roll(self) -> None:
        """Seal the segment: its sidecar index lets the next open skip decoding it."""
        self._file.close()
        sealed = self._segments[-1]
        now = time.time()
        with self._lock:
            ids, self._active_ids = self._active_ids, []
        _write_index(sealed.path, _Index(sealed.count, sealed.size, now, ids))
        seg = self._new_segment(self.end_offset)
        with self._durable:
            sealed.sealed_at = now
            self._segments.append(seg)
        self._file = seg.path.open("ab", buffering=0)
        # the ids stay in the set until the indexer has merged them (appends go on)
        self._indexer.submit(self._publish, ids, now, sealed.path)
        if self.retention_s is not None:
            self._indexer.submit(self._retire_quietly)

    def _retire_quietly(self) -> None:
        with contextlib.suppress(OSError):  # retried on the next roll; data still there
            self.retire()

    def _fail(self, batch: list[_Pending], exc: BaseException) -> None:
        """After a failed write or fsync the file's state is unknown (fsyncgate): stop
        taking appends; reopening the log recovers what is intact."""
        with self._lock:
            self._failed = exc
            for p in batch + self._queue:
                for mid, _ in p.items:
                    self._inflight.pop(mid, None)
                    self._recent.discard(mid)
            failed = batch + self._queue
            self._queue.clear()
        for p in failed:
            if not p.future.done():
                p.future.set_exception(LogError(f"write failed: {exc}"))

    def close(self) -> None:
        """Write what is queued, then stop the writer and close the file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._thread.join()
        self._indexer.shutdown(wait=True)
        self._file.close()
        os.close(self._lockfd)  # releases the flock
        with self._durable:
            self._durable.notify_all()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------
    def read(self, start: int, max_records: int = 1000) -> list[Record]:
        """Durable records from ``start`` on (at most ``max_records``; tombstones of
        erased records are skipped)."""
        return self.read_from(start, max_records)[0]

    def read_from(self, start: int, max_records: int = 1000) -> tuple[list[Record], int]:
        """Like :meth:`read`, and the offset to read from next (past skipped tombstones)."""
        while True:
            try:
                return self._read(start, max_records)
            except _Replaced:  # a segment was rewritten or retired under us: read again
                continue

    def _read(self, start: int, max_records: int) -> tuple[list[Record], int]:
        with self._durable:
            generation = self._generation
            segments = [(s.base, s.path, s.count, s.size) for s in self._segments]
        out: list[Record] = []
        next_offset = start
        for base, path, count, size in segments:
            if start >= base + count or len(out) >= max_records:
                continue
            offset = max(start, base)
            pos = self._positions.get(offset) if offset > base else 0
            if pos is None:
                offset, pos = base, 0
            try:
                f = path.open("rb")
            except FileNotFoundError:
                raise _Replaced from None
            with f:
                with self._durable:  # the open file is the one the snapshot describes
                    if generation != self._generation:
                        raise _Replaced
                f.seek(pos)
                data = f.read(size - pos)
            at = 0
            while offset < base + count and len(out) < max_records:
                got = decode(data, at)
                if got is None:
                    raise LogCorruptError(f"{path.name}: unreadable record at byte {pos + at}")
                mid, payload, at = got
                if offset >= start and payload != TOMBSTONE:
                    out.append(Record(offset, mid, payload))
                offset += 1
            next_offset = max(next_offset, offset)
            # Remember where this read stopped — also at the segment's durable end, where
            # a tailing consumer resumes — so the next read does not decode from byte 0.
            with self._durable:
                if generation == self._generation:
                    if len(self._positions) > 1024:
                        self._positions.clear()
                    self._positions[offset] = pos + at
        return out, next_offset

    # -- retention and rewriting ------------------------------------------------------------
    def retire(self, now: float | None = None) -> list[str]:
        """Delete the oldest sealed segments past ``retention_s`` that every consumer has
        committed past (see the module docstring); the names of the files deleted."""
        if self.retention_s is None:
            return []
        now = time.time() if now is None else now
        gone: list[str] = []
        with self._maint:
            positions = self._consumer_positions()
            needed = [positions.get(name) for name in self.retain_for]
            if any(p is None for p in needed) or not positions:
                return []  # a required consumer (the warehouse flusher) never committed
            low = min(positions.values())
            indexed = self._indexed_segments()
            while True:
                with self._durable:
                    if len(self._segments) < 2:
                        break
                    seg = self._segments[0]
                    sealed_at = seg.sealed_at
                    end = seg.base + seg.count
                if (
                    sealed_at is None
                    or now - sealed_at <= self.retention_s
                    or low < end
                    or seg.path in indexed  # its ids are forgotten through its sidecar
                ):
                    break
                _index_path(seg.path).unlink(missing_ok=True)  # a crash here: rebuilt
                seg.path.unlink()
                _fsync_dir(self.directory)
                with self._durable:
                    self._segments.pop(0)
                    self._generation += 1
                    self._positions.clear()
                gone.append(seg.path.name)
        self.retired += gone
        return gone

    def _consumer_positions(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for path in (self.directory / "offsets").iterdir():
            if path.suffix == ".tmp":
                continue
            try:
                out[path.name] = int(path.read_text())
            except (OSError, ValueError):
                out[path.name] = 0  # unreadable: assume it needs everything
        return out

    def rewrite(
        self, replace: Callable[[str, bytes], bytes | None], *, needles: Sequence[bytes] = ()
    ) -> int:
        """Replace payloads in place (erasure): ``replace(message_id, payload)`` returns
        the new payload (:data:`TOMBSTONE` to delete) or None to keep the record.

        Only segments containing one of ``needles`` (when given) are decoded. A changed
        segment is written to a new file, fsync'd and renamed over the old one; the
        active segment is rewritten with appends paused. Returns records replaced."""
        changed = 0
        with self._maint:
            with self._durable:
                segments = list(self._segments)
            for seg in segments:
                with self._write_lock:
                    if seg is self._segments[-1]:  # active: appends wait for the rewrite
                        changed += self._rewrite_segment(seg, replace, needles, active=True)
                        continue
                changed += self._rewrite_segment(seg, replace, needles, active=False)
        return changed

    def _rewrite_segment(
        self,
        seg: _Segment,
        replace: Callable[[str, bytes], bytes | None],
        needles: Sequence[bytes],
        *,
        active: bool,
    ) -> int:
        with self._durable:
            size, count = seg.size, seg.count
        with seg.path.open("rb") as f:
            data = f.read(size)
        if needles and not any(n in data for n in needles):
            return 0
        chunks: list[bytes] = []
        ids: list[str] = []
        changed = 0
        pos = 0
        for _ in range(count):
            got = decode(data, pos)
            if got is None:
                raise LogCorruptError(f"{seg.path.name}: unreadable record at byte {pos}")
            mid, payload, end = got
            new = None if payload == TOMBSTONE else replace(mid, payload)
            if new is None or new == payload:
                chunks.append(data[pos:end])
            else:
                chunks.append(encode(mid, new))
                changed += 1
            ids.append(mid)
            pos = end
        if not changed:
            return 0
        body = b"".join(chunks)
        tmp = seg.path.with_name(seg.path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        if active:
            self._file.close()
        tmp.replace(seg.path)
        _fsync_dir(self.directory)
        if active:
            self._file = seg.path.open("ab", buffering=0)
        with self._durable:
            seg.size = len(body)
            self._generation += 1
            self._positions.clear()
        if not active:
            sealed_at = seg.sealed_at if seg.sealed_at is not None else time.time()
            _write_index(seg.path, _Index(count, len(body), sealed_at, ids))
        return changed

    def wait_for(self, offset: int, timeout: float) -> bool:
        """Block until a record at ``offset`` is durable (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._durable:
            while self.end_offset <= offset:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return self.end_offset > offset
                self._durable.wait(left)
        return True

    # -- consumer offsets -------------------------------------------------------------------
    def committed(self, consumer: str) -> int:
        path = self._offset_path(consumer)
        return int(path.read_text()) if path.exists() else 0

    def commit(self, consumer: str, offset: int) -> None:
        """Persist ``offset`` (the next record to deliver) atomically: tmp + fsync + rename."""
        path = self._offset_path(consumer)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(str(offset))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)

    def _offset_path(self, consumer: str) -> Path:
        if not consumer.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"consumer name {consumer!r} must be letters, digits, '-' or '_'")
        return self.directory / "offsets" / consumer

    def consumer(self, name: str, *, batch: int = 1000) -> Consumer:
        return Consumer(self, name, batch)

    def subscribe(
        self, name: str, handler: Callable[[list[Record]], None], *, batch: int = 1000
    ) -> Subscription:
        """Deliver records to ``handler`` in a thread, at least once: the offset is
        committed after ``handler`` returns, so a crash in between redelivers."""
        return Subscription(self.consumer(name, batch=batch), handler)


class Consumer:
    """A named reader whose position survives restarts (at-least-once delivery).

    ``poll`` hands out records after the last one handed out; ``commit`` persists that
    position. Records polled but not committed before a crash are delivered again.
    Usable as an async iterator: each ``__anext__`` commits the batch before it.
    """

    def __init__(self, log: EventLog, name: str, batch: int) -> None:
        self.log = log
        self.name = name
        self.batch = batch
        self.position = log.committed(name)

    def poll(self, timeout: float = 0.0) -> list[Record]:
        if timeout and not self.log.wait_for(self.position, timeout):
            return []
        records, self.position = self.log.read_from(self.position, self.batch)
        return records

    def commit(self) -> None:
        self.log.commit(self.name, self.position)

    def rewind(self, records: list[Record]) -> None:
        """Hand ``records`` out again on the next poll (the handler failed)."""
        self.position = records[0].offset

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> list[Record]:
        if self.position != self.log.committed(self.name):
            await asyncio.to_thread(self.commit)
        while True:
            records = await asyncio.to_thread(self.poll, 0.5)
            if records:
                return records
            if self.log._closed:
                raise StopAsyncIteration


class StreamConsumer(Protocol):
    """What a subscription needs of a consumer (the log's, or Redis's)."""

    def poll(self, timeout: float = 0.0) -> list[Record]: ...
    def commit(self) -> None: ...
    def rewind(self, records: list[Record]) -> None: ...


class EventStream(Protocol):
    """What the collector and the flusher need of an event stream: this log, or
    :class:`opsloop.collect.redis_stream.RedisStream`."""

    batches: int

    @property
    def end_offset(self) -> int: ...
    def __contains__(self, message_id: object) -> bool: ...
    def append(
        self, items: Sequence[tuple[str, bytes]], timeout: float | None = 30.0
    ) -> AppendResult: ...
    async def append_async(self, items: Sequence[tuple[str, bytes]]) -> AppendResult: ...
    def committed(self, consumer: str) -> int: ...
    def subscribe(
        self, name: str, handler: Callable[[list[Record]], None], *, batch: int = 1000
    ) -> Subscription: ...
    def rewrite(
        self, replace: Callable[[str, bytes], bytes | None], *, needles: Sequence[bytes] = ()
    ) -> int: ...
    def close(self) -> None: ...


class Subscription:
    """A thread feeding a handler from a consumer until :meth:`stop`.

    Positions of the embedded log are committed by a second thread, at most every
    ``commit_every_s``: a commit is two ``fsync`` calls, and made inline it held up the
    next delivery by their duration (tens of ms on a busy disk). Delivery stays at least
    once — only positions whose records the handler has returned from are committed, so
    a crash redelivers at most the last interval's records.
    """

    def __init__(
        self,
        consumer: StreamConsumer,
        handler: Callable[[list[Record]], None],
        *,
        commit_every_s: float = 0.05,
    ) -> None:
        self.consumer = consumer
        self.handler = handler
        self.errors = 0
        self._stop = threading.Event()
        self._deferred = isinstance(consumer, Consumer)
        self._handled: int | None = None  # log position after the last handled batch
        self._committed: int | None = None
        self._commit_every_s = commit_every_s
        self._thread = threading.Thread(target=self._run, name="opsloop-sub", daemon=True)
        self._thread.start()
        self._committer: threading.Thread | None = None
        if self._deferred:
            self._committer = threading.Thread(
                target=self._commit_loop, name="opsloop-sub-commit", daemon=True
            )
            self._committer.start()

    def _run(self) -> None:
        name_os_thread("ol-sub-" + str(getattr(self.consumer, "name", ""))[:8])
        while not self._stop.is_set():
            try:
                records = self.consumer.poll(timeout=0.2)
            except Exception:  # a stream error (Redis restarted, key flushed): retry
                self.errors += 1
                self._stop.wait(1.0)
                continue
            if not records:
                continue
            try:
                self.handler(records)
            except Exception:  # retry the same records after a pause
                self.errors += 1
                self.consumer.rewind(records)
                self._stop.wait(1.0)
                continue
            if self._deferred:
                self._handled = records[-1].offset + 1
            else:
                self.consumer.commit()

    def _commit_loop(self) -> None:
        while not self._stop.wait(self._commit_every_s):
            self._commit_handled()

    def _commit_handled(self) -> None:
        handled = self._handled
        if handled is not None and handled != self._committed:
            assert isinstance(self.consumer, Consumer)
            self.consumer.log.commit(self.consumer.name, handled)
            self._committed = handled

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._committer is not None:
            self._committer.join()
            self._commit_handled()


def _take_lock(path: Path) -> int:
    """An exclusive, non-blocking ``flock`` on ``path``; the fd holds it until closed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LogLockedError(
            f"the event log in {path.parent} is in use by another writer (pid {holder}); "
            "stop that process (opsloop serve) or use another OPSLOOP_HOME"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Index:
    """A sealed segment's sidecar (``<segment>.ids``): its record count, byte size, when
    it was sealed and its message ids — all an open needs, without decoding it."""

    count: int
    size: int
    sealed_at: float
    ids: list[str]


def _index_path(segment: Path) -> Path:
    return segment.with_name(segment.name.removesuffix(SUFFIX) + INDEX_SUFFIX)


def _write_index(segment: Path, index: _Index) -> None:
    body = orjson.dumps(
        {"count": index.count, "size": index.size, "sealed_at": index.sealed_at, "ids": index.ids}
    )
    path = _index_path(segment)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(HEADER.pack(len(body), zlib.crc32(body)) + body)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    _fsync_dir(segment.parent)


def _ids_of(segment: Path) -> list[str] | None:
    """A sealed segment's ids from its sidecar, else by scanning it (None: gone)."""
    index = _read_index(segment)
    if index is not None:
        return index.ids
    try:
        records, _end = scan(segment.read_bytes())
    except FileNotFoundError:
        return None
    return [mid for mid, _ in records]


def _read_index(segment: Path) -> _Index | None:
    """The sidecar if present and intact (length + CRC), else None (then: scan)."""
    try:
        raw = _index_path(segment).read_bytes()
    except FileNotFoundError:
        return None
    if len(raw) < HEADER.size:
        return None
    length, crc = HEADER.unpack_from(raw, 0)
    body = raw[HEADER.size :]
    if len(body) != length or zlib.crc32(body) != crc:
        return None
    try:
        d = orjson.loads(body)
        return _Index(int(d["count"]), int(d["size"]), float(d["sealed_at"]), list(d["ids"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def name_os_thread(name: str) -> None:
    """Give the calling thread an OS-visible name (``/proc/<pid>/task/*/comm``, top -H),
    so CPU per thread can be told apart in profiles. Linux only; a no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
