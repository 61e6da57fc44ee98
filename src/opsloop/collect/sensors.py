"""Sensors Analytics (神策) SDK posts → the same messages as the Segment API (pure).

Chinese bank apps often embed the Sensors SDKs, which post form fields to
``/sa?project=NAME``: ``data_list`` (a batch) or ``data`` (one record), each
``base64(gzip(JSON))`` when ``gzip=1``, else ``base64(JSON)``. Records are mapped onto
Segment-shaped messages so one validator, one log and one flusher serve both:

* ``track`` → track; ``track_signup`` → track ``$SignUp`` linking ``original_id``
  (anonymous) to ``distinct_id`` (login); ``profile_*`` → identify (event ``$<type>``).
* who: ``login_id`` or a ``distinct_id`` flagged ``$is_login_id`` is the userId, else
  the ``distinct_id`` / ``anonymous_id`` is the anonymousId.
* the idempotency id is ``_track_id`` qualified by ``distinct_id`` and ``time``
  (``_track_id`` alone is a 32-bit random number in some SDKs); ``_flush_time`` plays
  ``sentAt`` for clock-skew correction.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

from opsloop.collect.segment import BadEventError, Limits, gunzip, iso, normalize

TRACK_TYPES = ("track", "track_signup")
PROFILE_TYPES = (
    "profile_set",
    "profile_set_once",
    "profile_increment",
    "profile_append",
    "profile_unset",
    "profile_delete",
)


def parse_form(
    form: dict[str, str], *, received_at: datetime, source_id: str, limits: Limits
) -> list[dict[str, Any]]:
    """Decode and validate a whole post; any bad record rejects it all."""
    gz = form.get("gzip", "0") == "1"
    if "data_list" in form:
        payload, where = form["data_list"], "data_list"
    elif "data" in form:
        payload, where = form["data"], "data"
    else:
        raise BadEventError("missing_field", "form needs data_list or data", where="data_list")
    raw = _unbase64(payload, where)
    if gz:
        raw = gunzip(raw, limits.max_request_bytes)
    if len(raw) > limits.max_request_bytes:
        raise BadEventError(
            "too_large", f"request exceeds {limits.max_request_bytes} bytes", where=where
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEventError("malformed_json", f"not valid JSON: {exc}", where=where) from exc
    records = body if isinstance(body, list) else [body]
    if not records:
        raise BadEventError("empty_batch", "no records", where=where)
    out = []
    for i, rec in enumerate(records):
        at = f"{where}[{i}]"
        msg = to_segment(rec, at)
        out.append(
            normalize(
                msg,
                kind=None,
                where=at,
                received_at=received_at,
                source_id=source_id,
                limits=limits,
            )
        )
    return out


def to_segment(rec: Any, where: str) -> dict[str, Any]:
    """One Sensors record → a Segment-shaped message (not yet validated)."""
    if not isinstance(rec, dict):
        raise BadEventError("wrong_type", "record must be an object", where=where)
    rtype = rec.get("type")
    if rtype not in TRACK_TYPES + PROFILE_TYPES:
        raise BadEventError("unknown_type", f"unknown record type {rtype!r}", where=f"{where}.type")
    distinct = rec.get("distinct_id")
    if not isinstance(distinct, str | int) or isinstance(distinct, bool) or distinct == "":
        raise BadEventError(
            "missing_field", "distinct_id must be a non-empty string", where=f"{where}.distinct_id"
        )
    props = rec.get("properties", {})
    if not isinstance(props, dict):
        raise BadEventError("wrong_type", "must be a JSON object", where=f"{where}.properties")
    props = dict(props)
    lib = rec.get("lib")
    if isinstance(lib, dict) and "$lib" in lib:
        props.setdefault("$lib", lib["$lib"])
    msg: dict[str, Any] = {}
    login = rec.get("login_id") or (distinct if props.pop("$is_login_id", False) else None)
    if rtype == "track_signup":
        msg["userId"] = distinct
        msg["anonymousId"] = rec.get("original_id")
    elif login:
        msg["userId"] = login
        if rec.get("anonymous_id"):
            msg["anonymousId"] = rec["anonymous_id"]
    else:
        msg["anonymousId"] = rec.get("anonymous_id") or distinct
    if rtype in TRACK_TYPES:
        msg["type"] = "track"
        msg["event"] = rec.get("event") if rtype == "track" else "$SignUp"
        msg["properties"] = props
    else:
        msg["type"] = "identify"
        msg["event"] = f"${rtype}"
        msg["traits"] = props
    msg["timestamp"] = _ms(rec.get("time"), f"{where}.time")
    if rec.get("_flush_time") is not None:
        msg["sentAt"] = _ms(rec["_flush_time"], f"{where}._flush_time")
    track_id = rec.get("_track_id")
    if track_id is not None:
        msg["messageId"] = f"sa:{distinct}:{rec.get('time')}:{track_id}"
    return msg


def _ms(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadEventError("wrong_type", "must be epoch milliseconds", where=where)
    try:
        return iso(datetime.fromtimestamp(value / 1000, tz=UTC))
    except (OverflowError, OSError, ValueError) as exc:
        raise BadEventError("bad_timestamp", f"not a time: {value}", where=where) from exc


def _unbase64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise BadEventError("bad_encoding", f"not valid base64: {exc}", where=where) from exc
