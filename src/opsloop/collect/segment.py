"""Segment HTTP Tracking API messages: decode, validate, correct the clock (pure).

Why Segment's format: the bank's apps and servers already embed analytics SDKs that
speak it (``/v1/track``, ``/v1/batch`` …), so pointing an SDK's host at opsloop is all
it takes. A request is all-or-nothing: one bad message rejects the whole request with
a :class:`BadEventError` that names the reason and the field, and nothing is stored.

Clock skew: a device's clock may be wrong, but its *differences* are right, so
``timestamp = receivedAt + (originalTimestamp - sentAt)`` (Segment's rule). Without
``sentAt`` the client's timestamp is kept; without ``timestamp`` it is ``receivedAt``.
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from opsloop.errors import InvalidInputError

TYPES = ("track", "identify", "page", "screen", "alias", "group")
MAX_ID_CHARS = 200
_TYPE_SET = frozenset(TYPES)
_OBJECT_KEYS = ("context", "integrations", "properties", "traits")
_ID_KEYS = ("userId", "anonymousId", "previousId", "groupId")
_NAMED = ("page", "screen")
_STR_OR_NONE = (str, type(None))


@dataclass(frozen=True, slots=True)
class Limits:
    """What a request may carry (Segment's documented limits by default)."""

    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    max_future: timedelta = timedelta(hours=1)
    max_past: timedelta = timedelta(days=30)


class BadEventError(InvalidInputError):
    """A request the API rejects as a whole (400). ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str, *, where: str | None = None) -> None:
        self.reason = reason
        super().__init__(message, where=where)


# -- body ----------------------------------------------------------------------------------


def decode_body(raw: bytes, content_encoding: str | None, limits: Limits) -> Any:
    """Gunzip (if told to) and parse JSON, refusing anything over the request limit.

    Decompression is bounded, so a small gzip bomb cannot blow up memory.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip":
        raw = gunzip(raw, limits.max_request_bytes)
    elif encoding not in ("", "identity"):
        raise BadEventError(
            "bad_encoding",
            f"Content-Encoding {encoding!r} is not supported (gzip or none)",
            where="Content-Encoding",
        )
    if len(raw) > limits.max_request_bytes:
        raise BadEventError(
            "too_large",
            f"request of {len(raw)} bytes exceeds {limits.max_request_bytes}",
            where="body",
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEventError(
            "malformed_json", f"body is not valid JSON: {exc}", where="body"
        ) from exc


def gunzip(raw: bytes, cap: int) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, cap + 1)
    except zlib.error as exc:
        raise BadEventError("bad_gzip", f"body is not valid gzip: {exc}", where="body") from exc
    if len(out) > cap:
        raise BadEventError("too_large", f"decompressed body exceeds {cap} bytes", where="body")
    if not d.eof:
        raise BadEventError("bad_gzip", "gzip body is truncated", where="body")
    return out


# -- messages ------------------------------------------------------------------------------


def parse_request(
    kind: str,
    body: Any,
    *,
    received_at: datetime,
    source_id: str,
    limits: Limits,
) -> list[dict[str, Any]]:
    """Validate one call to ``/v1/<kind>`` and return the messages to store.

    Each stored message is the client's message plus ``type``, ``messageId``,
    ``receivedAt``, ``originalTimestamp``, corrected ``timestamp`` and ``sourceId``.
    """
    if not isinstance(body, dict):
        raise BadEventError("wrong_type", "body must be a JSON object", where="body")
    if kind == "batch":
        items = body.get("batch")
        if not isinstance(items, list):
            raise BadEventError("wrong_type", "batch must be an array of messages", where="batch")
        if not items:
            raise BadEventError("empty_batch", "batch is empty", where="batch")
        shared = {k: body[k] for k in ("context", "integrations") if k in body}
        for k, v in shared.items():
            _object(v, k)
        sent_at = body.get("sentAt")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise BadEventError("wrong_type", "message must be an object", where=f"batch[{i}]")
            merged = {**shared, **item}
            if "sentAt" not in merged and sent_at is not None:
                merged["sentAt"] = sent_at
            out.append(
                normalize(
                    merged,
                    kind=None,
                    where=f"batch[{i}]",
                    received_at=received_at,
                    source_id=source_id,
                    limits=limits,
                )
            )
        return out
    if kind not in TYPES:
        raise BadEventError("unknown_type", f"unknown call {kind!r}", where="path")
    msg = normalize(
        body, kind=kind, where="", received_at=received_at, source_id=source_id, limits=limits
    )
    return [msg]


def normalize(
    msg: dict[str, Any],
    *,
    kind: str | None,
    where: str,
    received_at: datetime,
    source_id: str,
    limits: Limits,
) -> dict[str, Any]:
    """Check one message against the spec of its type and stamp the server's fields."""
    size = len(orjson.dumps(msg))
    if size > limits.max_event_bytes:
        raise BadEventError(
            "too_large",
            f"message of {size} bytes exceeds {limits.max_event_bytes}",
            where=where or "body",
        )

    def at(name: str) -> str:  # only called on the way to an error
        return f"{where}.{name}" if where else name

    mtype = msg.get("type", kind)
    if kind is not None and mtype != kind:
        mtype = kind  # /v1/track with "type": "identify" is a track (the path decides)
    if not isinstance(mtype, str) or mtype not in _TYPE_SET:
        raise BadEventError("unknown_type", f"unknown message type {mtype!r}", where=at("type"))
    out = dict(msg)
    out["type"] = mtype
    for key in _OBJECT_KEYS:
        value = msg.get(key)
        if value is not None and type(value) is not dict:
            _object(value, at(key))
    for key in _ID_KEYS:
        value = msg.get(key)
        if value is not None:
            if type(value) is str and len(value) <= MAX_ID_CHARS:
                continue  # the common case, already what we store
            out[key] = _ident(value, at(key))
    if mtype == "alias":
        for key in ("userId", "previousId"):
            if not out.get(key):
                raise BadEventError("missing_field", f"alias needs {key}", where=at(key))
    elif not out.get("userId") and not out.get("anonymousId"):
        raise BadEventError(
            "missing_field", "userId or anonymousId is required", where=at("userId")
        )
    if mtype == "track":
        event = msg.get("event")
        if not isinstance(event, str) or not event.strip():
            raise BadEventError(
                "missing_field", "track needs a non-empty string event", where=at("event")
            )
    if mtype == "group" and not out.get("groupId"):
        raise BadEventError("missing_field", "group needs groupId", where=at("groupId"))
    if mtype in _NAMED and not isinstance(msg.get("name", ""), _STR_OR_NONE):
        raise BadEventError("wrong_type", "name must be a string", where=at("name"))

    message_id = msg.get("messageId")
    if message_id is None:
        out["messageId"] = derive_message_id(source_id, msg)
    elif not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_CHARS:
        raise BadEventError(
            "wrong_type",
            f"messageId must be a non-empty string of at most {MAX_ID_CHARS} characters",
            where=at("messageId"),
        )

    ts = _time(msg.get("timestamp"), where, "timestamp")
    sent = _time(msg.get("sentAt"), where, "sentAt")
    corrected = correct_clock(ts, sent, received_at)
    if corrected > received_at + limits.max_future:
        raise BadEventError(
            "timestamp_future",
            f"timestamp {iso(corrected)} is more than {limits.max_future} after receipt",
            where=at("timestamp"),
        )
    if corrected < received_at - limits.max_past:
        raise BadEventError(
            "timestamp_past",
            f"timestamp {iso(corrected)} is more than {limits.max_past.days} days old",
            where=at("timestamp"),
        )
    out["receivedAt"] = _iso_cached(received_at)
    out["originalTimestamp"] = _iso_cached(ts) if ts is not None else None
    out["timestamp"] = _iso_cached(corrected)
    if sent is not None:
        out["sentAt"] = _iso_cached(sent)
    out["sourceId"] = source_id
    out.pop("writeKey", None)
    return out


def correct_clock(
    timestamp: datetime | None, sent_at: datetime | None, received_at: datetime
) -> datetime:
    """``receivedAt + (timestamp - sentAt)``; the client's time alone when unsure."""
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    return received_at + (timestamp - sent_at)


def derive_message_id(source_id: str, msg: Mapping[str, Any]) -> str:
    """A message without ``messageId``: a content hash when it carries its own timestamp
    (so a blind retry still dedupes), else a random id (two identical clicks are two)."""
    if msg.get("timestamp") is None:
        return f"gen-{uuid.uuid4()}"
    digest = hashlib.sha256(source_id.encode() + orjson.dumps(msg, option=orjson.OPT_SORT_KEYS))
    return f"gen-{digest.hexdigest()[:32]}"


def parse_time(value: str) -> datetime:
    """ISO-8601 → aware UTC datetime (naive means UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix (what Segment emits)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The hot path of ingest: a batch's messages share sentAt, receivedAt and often their
# timestamps, so parsing and formatting are memoised (both are pure).
_parse_cached = lru_cache(maxsize=8192)(parse_time)
_iso_cached = lru_cache(maxsize=8192)(iso)


def _time(value: Any, where: str, name: str) -> datetime | None:
    """Parse a time field; ``where.name`` is only built when it is wrong."""
    if value is None:
        return None
    if not isinstance(value, str):
        at = f"{where}.{name}" if where else name
        raise BadEventError("wrong_type", "must be an ISO-8601 string", where=at)
    try:
        return _parse_cached(value)
    except ValueError as exc:
        at = f"{where}.{name}" if where else name
        raise BadEventError("bad_timestamp", f"not an ISO-8601 time: {value!r}", where=at) from exc


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise BadEventError("wrong_type", "must be a JSON object", where=where)


def _ident(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadEventError("wrong_type", "must be a string (or integer)", where=where)
    text = str(value)
    if len(text) > MAX_ID_CHARS:
        raise BadEventError("too_large", f"longer than {MAX_ID_CHARS} characters", where=where)
    return text
