"""Stored payloads → rows of the warehouse ``events`` table, in bulk, inside DuckDB.

Why: the flusher shares its process with the HTTP event loop, and decoding every
stored payload in Python (``orjson.loads``, identity lookups, building Arrow rows:
8-20 µs per event) held the GIL the loop needs; at 25,000 events/s that was the ack
latency's tail. Here a batch's payloads go in as one Arrow string column and one SQL
statement extracts the columns with DuckDB's JSON functions, while the calling thread
holds no GIL. Python keeps what must be Python: the identity links (the store), the
platform names of the few distinct SDK strings (``str.strip().lower()``), and rows the
SQL cannot reproduce exactly.

Same output as :func:`opsloop.collect.flush.to_rows`, row for row and byte for byte
(a hypothesis test compares the two): the SQL never decides anything the Python rules
would decide differently, it hands such rows back to them instead —

* **per row**, when DuckDB's JSON writer would not reproduce the stored bytes (it
  writes ``1e+20`` as ``100000000000000000000.0`` and ``\\u001f`` as ``\\u001F``;
  ``properties`` is re-serialised, so the row goes to Python unless re-serialising the
  whole payload gives back exactly what is stored), or a field has a shape the
  validators never store (a non-string ``messageId`` or ``event``, a timestamp not in
  the ``iso()`` form, an unknown ``type``);
* **per batch**, when an identity field (``userId``, ``anonymousId``, ``previousId``,
  ``type``) is not a string: identity is then decided in Python for the whole batch.

The stages are pure (Arrow in, Arrow out); :func:`opsloop.collect.flush.flush_records`
does the store and warehouse edges between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.collect.identity import Link
from opsloop.collect.log import Record
from opsloop.collect.rows import platform_name, to_rows
from opsloop.warehouse.scratch import scratch

# JSON paths extracted in one parse per payload (DuckDB's list form of json_extract).
_PATHS = (
    "$.messageId",
    "$.type",
    "$.timestamp",
    "$.event",
    "$.userId",
    "$.anonymousId",
    "$.previousId",
    "$.name",
    "$.groupId",
    "$.properties",
    "$.traits",
    "$.context.os.name",
    "$.context.library.name",
    "$.context.platform",
    '$.properties."$lib"',
)
_J = {p: i + 1 for i, p in enumerate(_PATHS)}
# iso() output only (what the validators store); anything else is parsed in Python
_ISO_MS = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
_TYPES = "('track', 'identify', 'page', 'screen', 'alias', 'group')"


def _j(path: str) -> str:
    return f"j[{_J[path]}]"


def _str(path: str) -> str:
    """The string at ``path``, NULL when absent or not a string."""
    return f"case when json_type({_j(path)}) = 'VARCHAR' then {_j(path)} ->> '$' end"


def _str_or_null(path: str) -> str:
    """TRUE when ``path`` is absent, JSON null or a string."""
    return f"coalesce(json_type({_j(path)}) in ('VARCHAR', 'NULL'), true)"


_SCAN = f"""
with x as (
    select off, p, json_extract(p, [{", ".join(f"'{p}'" for p in _PATHS)}]) as j from _raw
), y as (
    select
        off,
        {_str("$.messageId")} as message_id,
        case when {_j("$.type")} is null then 'track' else {_str("$.type")} end as typ,
        {_str("$.timestamp")} as ts_s,
        {_j("$.event")} as event_j,
        nullif({_str("$.userId")}, '') as user_s,
        {_j("$.userId")}::varchar as user_j,
        nullif({_str("$.anonymousId")}, '') as anon_s,
        nullif({_str("$.previousId")}, '') as prev_s,
        {_j("$.name")} as name_j,
        {_j("$.groupId")} as gid_j,
        {_j("$.properties")} as props_j,
        {_j("$.traits")} as traits_j,
        {_str("$.context.os.name")} as c_os,
        coalesce(starts_with({_str("$.context.library.name")}, 'analytics.js'), false)
            as lib_web,
        {_str("$.context.platform")} as c_plat,
        {_str('$.properties."$lib"')} as c_lib,
        {_str_or_null("$.userId")} and {_str_or_null("$.anonymousId")}
            and {_str_or_null("$.previousId")}
            and coalesce(json_type({_j("$.type")}) = 'VARCHAR', {_j("$.type")} is null)
            as ids_ok,
        json_extract(p, '$')::varchar = p as same
    from x
), z as (
    select
        *,
        case when typ in ('track', 'page', 'screen') then props_j else traits_j end as body
    from y
)
select
    off, message_id, typ, user_s, user_j, anon_s, prev_s, c_os, lib_web, c_plat, c_lib,
    ids_ok,
    case when json_type(body) = 'OBJECT' then body::varchar else '{{}}' end as body_txt,
    case when json_type(body) = 'OBJECT' then json_keys(body) else []::varchar[] end
        as body_keys,
    coalesce(
        case when json_type(event_j) = 'VARCHAR' then nullif(event_j ->> '$', '') end,
        case typ when 'page' then '$pageview' when 'screen' then '$screen'
            when 'identify' then '$identify' when 'alias' then '$alias'
            when 'group' then '$group' end
    ) as event,
    try_strptime(
        case when regexp_full_match(ts_s, '{_ISO_MS}') and not starts_with(ts_s, '0000')
            then ts_s end,
        '%Y-%m-%dT%H:%M:%S.%gZ'
    ) as ts,
    case when typ in ('page', 'screen') and json_type(name_j) = 'VARCHAR'
        and (name_j ->> '$') <> '' then name_j::varchar end as name_txt,
    case when typ = 'group' then coalesce(gid_j::varchar, 'null') end as gid_txt,
    not (
        same and message_id is not null and typ in {_TYPES}
        and coalesce(json_type(event_j) in ('VARCHAR', 'NULL'), true)
        and not (typ in ('page', 'screen')
            and not coalesce(json_type(name_j) in ('VARCHAR', 'NULL'), true))
    ) as odd
from z
"""
# a row goes to the Python rules when a field is odd or a column could not be made
_SCAN = f"""
select * exclude (odd), odd or ts is null or event is null as py_row from ({_SCAN})
"""

# the second stage: identity (links from the store) and the columns that need it
_ROWS = """
with b as (
    select
        s.*,
        coalesce(s.user_s, l.user_id) as user_id,
        case when s.user_s is not null then s.user_j else l.user_json end as user_json
    from _scan s left join _links l on s.user_s is null and s.anon_s = l.anonymous_id
    where not s.py_row
), c as (
    select
        *,
        case when regexp_full_match(user_id, '[0-9]{1,18}') then user_id::bigint end
            as customer_id
    from b
)
select
    c.off,
    c.message_id,
    c.ts,
    c.event,
    c.customer_id,
    c.anon_s as anonymous_id,
    coalesce(p1.platform, case when c.lib_web then 'web' end, p2.platform, p3.platform)
        as platform,
    '{' || concat_ws(',',
        nullif(substr(body_txt, 2, length(body_txt) - 2), ''),
        case when name_txt is not null and not list_contains(body_keys, 'name')
            then '"name":' || name_txt end,
        case when gid_txt is not null and not list_contains(body_keys, 'groupId')
            then '"groupId":' || gid_txt end,
        case when user_id is not null and customer_id is null
            and not list_contains(body_keys, '$user_id')
            then '"$user_id":' || user_json end
    ) || '}' as properties
from c
left join _platforms p1 on p1.raw = c.c_os
left join _platforms p2 on p2.raw = c.c_plat
left join _platforms p3 on p3.raw = c.c_lib
order by c.off
"""


@dataclass(frozen=True)
class Scan:
    """What the first stage found in a batch (kept records only, in log order).

    ``table`` holds one row per kept record with the extracted fields; ``bulk`` is
    False when identity has to be decided in Python for the whole batch."""

    table: pa.Table
    bulk: bool

    @property
    def offsets(self) -> list[int]:
        return [int(o) for o in self.table.column("off").to_pylist()]


def payloads(records: Sequence[Record]) -> pa.Table:
    """The batch as an Arrow table ``(off, p)`` (one C-level conversion per column)."""
    return pa.table(
        {
            "off": pa.array([r.offset for r in records], pa.int64()),
            "p": pa.array([r.payload for r in records], pa.binary()).cast(pa.string()),
        }
    )


def scan(records: Sequence[Record], erased: frozenset[str] | set[str] = frozenset()) -> Scan:
    """First stage: extract the fields of every record; records of ``erased`` user or
    anonymous ids are left out."""
    raw = payloads(records)
    table = scratch().query(_SCAN, {"_raw": raw})
    if erased and table.num_rows:
        ids = pa.array(sorted(erased), pa.string())
        hit = pc.or_kleene(
            pc.is_in(table.column("user_s"), value_set=ids),
            pc.is_in(table.column("anon_s"), value_set=ids),
        )
        table = table.filter(pc.invert(pc.fill_null(hit, False)))
    ok = table.column("ids_ok")
    bulk = table.num_rows == 0 or (ok.null_count == 0 and bool(pc.all(ok).as_py()))
    return Scan(table, bulk)


def asserted_links(found: Scan) -> list[Link]:
    """The links the batch asserts, first one per anonymous id, in log order
    (:func:`opsloop.collect.identity.links_in` on the bulk scan)."""
    t = found.table
    if t.column("user_s").null_count == t.num_rows:  # no logged-in event: nothing asserted
        return []
    t = t.filter(pc.is_valid(t.column("user_s")))
    users = t.column("user_s").to_pylist()
    typs = t.column("typ").to_pylist()
    anons = t.column("anon_s").to_pylist()
    prevs = t.column("prev_s").to_pylist()
    seen: dict[str, Link] = {}
    for user, typ, anon, prev in zip(users, typs, anons, prevs, strict=True):
        a = prev if typ == "alias" else anon
        if user is not None and a is not None and a != user and a not in seen:
            seen[a] = Link(a, user, typ)
    return list(seen.values())


def lookup_ids(found: Scan) -> list[str]:
    """Anonymous ids whose links the rows need: those of rows without a user id."""
    t = found.table
    anon = t.column("anon_s").filter(pc.is_null(t.column("user_s")))
    return [str(a) for a in pc.unique(anon.drop_null()).to_pylist()]


def _platforms(found: Scan) -> pa.Table:
    """``(raw, platform)`` for the distinct SDK strings of the batch that name one."""
    t = found.table
    distinct: set[str] = set()
    for name in ("c_os", "c_plat", "c_lib"):
        distinct.update(pc.unique(t.column(name).drop_null()).to_pylist())
    pairs = [(s, p) for s in sorted(distinct) if (p := platform_name(s)) is not None]
    return pa.table(
        {
            "raw": pa.array([s for s, _ in pairs], pa.string()),
            "platform": pa.array([p for _, p in pairs], pa.string()),
        }
    )


def rows(found: Scan, records: Sequence[Record], links: Mapping[str, str]) -> pa.Table:
    """Second stage: the ``events`` rows of the kept records (plus an ``off`` column),
    in log order. ``links`` must hold every anonymous id of :func:`lookup_ids`."""
    t = found.table
    link_ids = sorted(links)
    link_table = pa.table(
        {
            "anonymous_id": pa.array(link_ids, pa.string()),
            "user_id": pa.array([links[a] for a in link_ids], pa.string()),
            "user_json": pa.array([orjson.dumps(links[a]).decode() for a in link_ids], pa.string()),
        }
    )
    fast = scratch().query(
        _ROWS, {"_scan": t, "_links": link_table, "_platforms": _platforms(found)}
    )
    if not pc.any(t.column("py_row")).as_py():
        return fast
    py = t.column("py_row").to_pylist()
    # rows the SQL hands back: the Python rules on the decoded messages
    by_offset = {r.offset: r for r in records}
    offs = [o for o, slow in zip(t.column("off").to_pylist(), py, strict=True) if slow]
    slow_rows = to_rows([_loads(by_offset[o].payload) for o in offs], links)
    slow_rows = slow_rows.add_column(0, "off", pa.array(offs, pa.int64()))
    both = pa.concat_tables([fast.cast(slow_rows.schema), slow_rows])
    return both.sort_by("off")


def _loads(payload: bytes) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(payload)
    return out
