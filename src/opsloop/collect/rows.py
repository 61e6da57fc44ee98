"""The Python rules from a stored message to a row of the warehouse ``events`` table.

The reference for the mapping documented in docs/collection.md (*Warehouse mapping*):
:func:`to_rows` decides every column from decoded messages. The flusher runs the same
rules in bulk inside DuckDB (:mod:`opsloop.collect.decode`), which hands back to
:func:`to_rows` any row it cannot reproduce exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import orjson
import pyarrow as pa

from opsloop.collect import identity
from opsloop.collect.segment import parse_time
from opsloop.warehouse import TABLES_BY_NAME

EVENT_NAMES = {
    "page": "$pageview",
    "screen": "$screen",
    "identify": "$identify",
    "alias": "$alias",
    "group": "$group",
}
_PLATFORMS = {
    "ios": "ios",
    "ipados": "ios",
    "iphone os": "ios",
    "android": "android",
    "web": "web",
    "js": "web",
    "miniprogram": "miniprogram",
    "wechat miniprogram": "miniprogram",
}


def platform_of(message: Mapping[str, Any]) -> str | None:
    """ios | android | web | miniprogram from the SDK's context, else None (servers)."""
    ctx = message.get("context") or {}
    candidates: list[Any] = []
    if isinstance(ctx, dict):
        os_ = ctx.get("os")
        if isinstance(os_, dict):
            candidates.append(os_.get("name"))
        lib = ctx.get("library")
        if isinstance(lib, dict) and str(lib.get("name", "")).startswith("analytics.js"):
            candidates.append("web")
        candidates.append(ctx.get("platform"))
    props = message.get("properties") or {}
    if isinstance(props, dict):
        candidates.append(props.get("$lib"))  # Sensors Analytics
    for c in candidates:
        if isinstance(c, str) and (found := platform_name(c)) is not None:
            return found
    return None


def platform_name(text: str) -> str | None:
    """The platform an SDK string names (``" iOS "`` → ``ios``), else None."""
    return _PLATFORMS.get(text.strip().lower())


def to_rows(messages: Sequence[Mapping[str, Any]], links: Mapping[str, str]) -> pa.Table:
    """Messages → rows of the canonical ``events`` table (pure)."""
    cols: dict[str, list[Any]] = {c: [] for c in TABLES_BY_NAME["events"].column_names}
    for m in messages:
        mtype = str(m.get("type", "track"))
        user = identity.resolve(m, links)
        ts = parse_time(str(m["timestamp"])).astimezone(UTC).replace(tzinfo=None)
        body = m.get("properties") if mtype in ("track", "page", "screen") else m.get("traits")
        props: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        if mtype in ("page", "screen") and m.get("name"):
            props.setdefault("name", m["name"])
        if mtype == "group":
            props.setdefault("groupId", m.get("groupId"))
        if user is not None and identity.customer_id(user) is None:
            props.setdefault("$user_id", user)  # a non-numeric user id is kept, not lost
        cols["message_id"].append(str(m["messageId"]))
        cols["ts"].append(ts)
        cols["event"].append(str(m.get("event") or EVENT_NAMES[mtype]))
        cols["customer_id"].append(identity.customer_id(user))
        anon = m.get("anonymousId")
        cols["anonymous_id"].append(str(anon) if anon else None)
        cols["platform"].append(platform_of(m))
        cols["properties"].append(orjson.dumps(props).decode())
    return pa.Table.from_pydict(cols, schema=TABLES_BY_NAME["events"].schema)
