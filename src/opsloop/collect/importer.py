"""Server-side batch import of events from CSV, JSON lines or Parquet files.

Why: history from before opsloop (an old tracking system's export, a core-banking
extract) must land in the same log and the same ``events`` table as live events, with
the same rules. Each row is one Segment-shaped message validated by the tracking API's
own :func:`~opsloop.collect.segment.normalize`; an error names ``file:line`` and the
field (``events.csv:17.timestamp``) and the whole file is refused — nothing is stored
unless every row is valid. A row without ``messageId`` gets one derived from its
content (and timestamp), so importing the same file twice stores it once.

Row layout (any format): columns ``type`` (default ``track``), ``event``, ``userId``,
``anonymousId``, ``previousId``, ``groupId``, ``messageId``, ``timestamp``, ``name``;
``properties`` / ``traits`` / ``context`` / ``integrations`` as objects (in CSV: JSON
text); any other column ``properties.X`` (or ``traits.X``) becomes that key. Empty CSV
cells are absent. Past timestamps are allowed (it is history); future ones are not.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from opsloop.collect.segment import BadEventError, Limits, normalize

FORMATS = ("csv", "jsonl", "parquet")
OBJECT_COLUMNS = ("properties", "traits", "context", "integrations")
TOP_COLUMNS = (
    "type",
    "event",
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "messageId",
    "timestamp",
    "name",
    "sentAt",
)
# History may be old; a message still may not come from the future.
IMPORT_LIMITS = Limits(max_past=timedelta(days=365 * 100))


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The file's format from ``fmt`` or its suffix."""
    name = (fmt or path.suffix.lstrip(".")).lower()
    name = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(name, name)
    if name not in FORMATS:
        raise BadEventError(
            "unknown_type", f"unknown file format {name!r}; use one of {FORMATS}", where=str(path)
        )
    return name


def rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` pairs: the physical line for CSV / JSON lines, the row number
    (from 1) for Parquet."""
    if fmt == "jsonl":
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise BadEventError(
                        "malformed_json", f"not valid JSON: {exc}", where=f"{path.name}:{n}"
                    ) from exc
                if not isinstance(value, dict):
                    raise BadEventError(
                        "wrong_type", "each line must be a JSON object", where=f"{path.name}:{n}"
                    )
                yield n, value
    elif fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            start = 2
            for row in reader:
                yield start, _from_csv(row, f"{path.name}:{start}")
                start = reader.line_num + 1
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for n, row in enumerate(table.to_pylist(), 1):
            yield n, _from_parquet(row, f"{path.name}:{n}")


def _from_csv(row: dict[str | Any, str | Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            raise BadEventError("wrong_type", "more cells than header columns", where=where)
        if value is None or value == "":
            continue
        if key in OBJECT_COLUMNS:
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BadEventError(
                    "malformed_json", f"{key} is not valid JSON: {exc}", where=f"{where}.{key}"
                ) from exc
        _put(out, key, value)
    return out


def _from_parquet(row: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in OBJECT_COLUMNS and isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise BadEventError(
                    "malformed_json", f"{key} is not valid JSON: {exc}", where=f"{where}.{key}"
                ) from exc
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        _put(out, key, value)
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    head, dot, rest = key.partition(".")
    if dot and head in ("properties", "traits", "context") and rest:
        sub = out.setdefault(head, {})
        if isinstance(sub, dict):
            sub[rest] = value
        return
    if key in TOP_COLUMNS or key in OBJECT_COLUMNS:
        out[key] = value
    else:  # an unknown column is a property, not silently dropped
        out.setdefault("properties", {})[key] = value


def prepare(
    path: Path,
    *,
    source_id: str,
    fmt: str | None = None,
    received_at: datetime | None = None,
    limits: Limits = IMPORT_LIMITS,
) -> list[tuple[str, bytes]]:
    """Validate the whole file; the records to append (message id, payload).

    Raises :class:`BadEventError` at the first bad row, naming ``file:line.field``.
    """
    fmt = detect_format(path, fmt)
    now = received_at or datetime.now(UTC)
    out: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for line, row in rows(path, fmt):
        row.setdefault("type", "track")
        if row.get("messageId") is None:  # same row, same id: a re-import dedupes
            digest = hashlib.sha256(
                source_id.encode() + orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
            )
            row["messageId"] = "imp-" + digest.hexdigest()[:32]
        msg = normalize(
            row,
            kind=None,
            where=f"{path.name}:{line}",
            received_at=now,
            source_id=source_id,
            limits=limits,
        )
        mid = str(msg["messageId"])
        if mid in seen:  # the same message twice in one file is stored once
            continue
        seen.add(mid)
        out.append((mid, orjson.dumps(msg)))
    if not out:
        raise BadEventError("empty_batch", "the file holds no events", where=str(path.name))
    return out
