"""The flusher's exactly-once by stream position (embedded log, DuckDB warehouse)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from opsloop.collect.flush import CONSUMER, flush_records, to_rows
from opsloop.collect.log import EventLog, Record
from opsloop.errors import InvalidInputError
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse
from opsloop.warehouse.append import append_from_stream, stream_offset


def _messages(n: int) -> list[dict[str, object]]:
    return [
        {
            "type": "track",
            "userId": str(100 + i),
            "event": "x",
            "messageId": f"p{i}",
            "timestamp": "2025-01-01T00:00:00.000Z",
        }
        for i in range(n)
    ]


def _count(wh: Warehouse) -> int:
    return int(wh.execute(wh.table("events")).num_rows)


def test_redelivery_is_skipped_by_position(home: Path) -> None:
    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        with EventLog(home / "events") as log:
            msgs = _messages(10)
            log.append([(str(m["messageId"]), orjson.dumps(m)) for m in msgs])
            recs = log.read(0, 100)
            assert stream_offset(wh, CONSUMER) == 0
            assert flush_records(recs[:6], store=store, warehouse=wh, position_of=CONSUMER) == 6
            assert stream_offset(wh, CONSUMER) == recs[5].offset + 1
            # a crash after the warehouse commit, before the log's: 0..5 come again
            assert flush_records(recs, store=store, warehouse=wh, position_of=CONSUMER) == 4
            assert flush_records(recs, store=store, warehouse=wh, position_of=CONSUMER) == 0
            assert stream_offset(wh, CONSUMER) == recs[-1].offset + 1
        assert _count(wh) == 10
        got = wh.execute(wh.table("events")).column("message_id").to_pylist()
        assert sorted(got) == sorted(f"p{i}" for i in range(10))
    finally:
        wh.close()
        store.close()


def test_erased_records_still_advance_the_position(home: Path) -> None:
    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        msgs = _messages(3)
        recs = [Record(i, str(m["messageId"]), orjson.dumps(m)) for i, m in enumerate(msgs)]
        n = flush_records(
            recs, store=store, warehouse=wh, position_of=CONSUMER, erased={"100", "101", "102"}
        )
        assert n == 0
        assert stream_offset(wh, CONSUMER) == 3
    finally:
        wh.close()
        store.close()


def test_mismatched_offsets_are_refused_and_change_nothing(home: Path) -> None:
    settings = get_settings()
    wh = Warehouse.open(settings.warehouse)
    try:
        rows = to_rows(_messages(2), {})
        with pytest.raises(InvalidInputError, match="1 offsets for 2 rows"):
            append_from_stream(wh, "events", rows, consumer="w", offsets=[0], next_offset=1)
        assert stream_offset(wh, "w") == 0
        assert "events" not in wh.tables()
    finally:
        wh.close()


def test_position_is_kept_per_consumer(home: Path) -> None:
    settings = get_settings()
    wh = Warehouse.open(settings.warehouse)
    try:
        rows = to_rows(_messages(2), {})
        assert (
            append_from_stream(wh, "events", rows, consumer="a", offsets=[0, 1], next_offset=2) == 2
        )
        empty = rows.slice(0, 0)
        assert append_from_stream(wh, "events", empty, consumer="b", offsets=[], next_offset=7) == 0
        assert (stream_offset(wh, "a"), stream_offset(wh, "b")) == (2, 7)
        assert isinstance(rows, pa.Table)
    finally:
        wh.close()
