"""The bulk decode inside DuckDB against the Python rules (the oracle): row for row,
byte for byte, on generated messages — what the validators store (Segment and Sensors
records, consent-anonymised ones) and shapes they never store (which the SQL must hand
back to Python rather than decide differently)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.collect import decode, identity
from opsloop.collect.consent import anonymise, who
from opsloop.collect.log import Record
from opsloop.collect.rows import to_rows
from opsloop.collect.segment import BadEventError, Limits, iso, normalize
from opsloop.collect.sensors import to_segment

NOW = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)

# -- generated JSON ------------------------------------------------------------------------
texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(["", "x", "\x1f", "\u2028", "é中😀", '"\\/', "None", "0"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e20, 1e-7, -0.0, 1.0, 0.1, 1e16, 123456789012345.67, 5e-324])
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
platform_words = st.sampled_from(
    ["iOS", "Android", " android ", "Web", "js", "MiniProgram", "WeChat MiniProgram",
     "iPhone OS", "iPadOS", "\u3000iOS\u3000", "ANDROID\n", "linux", "", "İOS", "ios\x85"]
)  # fmt: skip
digits = st.from_regex(r"[0-9]{1,20}", fullmatch=True)
ids = st.one_of(digits, texts.filter(bool), st.sampled_from(["u-1", "١٢٣", "00042"]))


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    ctx: dict[str, Any] = {}
    if draw(st.booleans()):
        ctx["os"] = draw(
            st.fixed_dictionaries({}, optional={"name": platform_words | json_values}) | json_values
        )
    if draw(st.booleans()):
        ctx["library"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.sampled_from(
                        ["analytics.js", "analytics.js-next", "analytics-python"]
                    )
                    | json_values
                },
            )
        )
    if draw(st.booleans()):
        ctx["platform"] = draw(platform_words | json_values)
    if draw(st.booleans()):
        ctx["ip"] = "10.0.0.1"
    return ctx


def objects(draw: st.DrawFn) -> dict[str, Any] | None:
    props = draw(st.none() | st.dictionaries(texts, json_values, max_size=4))
    if props is not None and draw(st.booleans()):
        key = draw(st.sampled_from(["$lib", "name", "groupId", "$user_id"]))
        props[key] = draw(platform_words | json_values)
    return props


@st.composite
def segment_raw(draw: st.DrawFn) -> dict[str, Any]:
    """A client's Segment message (before validation), often valid."""
    mtype = draw(st.sampled_from(["track", "identify", "page", "screen", "alias", "group"]))
    m: dict[str, Any] = {"type": mtype}
    if draw(st.integers(0, 3)):
        m["userId"] = draw(ids)
    if draw(st.integers(0, 3)):
        m["anonymousId"] = draw(ids)
    if mtype == "alias":
        m["previousId"] = draw(ids)
        m.setdefault("userId", draw(ids))
    if mtype == "track" or draw(st.integers(0, 5)) == 0:
        m["event"] = (
            draw(texts.filter(lambda t: t.strip() != "")) if mtype == "track" else draw(json_values)
        )
    if mtype in ("page", "screen") and draw(st.booleans()):
        m["name"] = draw(st.none() | texts)
    if mtype == "group":
        m["groupId"] = draw(ids)
    key = "properties" if mtype in ("track", "page", "screen") else "traits"
    body = objects(draw)
    if body is not None:
        m[key] = body
    if draw(st.booleans()):  # the other one too: must be ignored (or used for $lib)
        m["traits" if key == "properties" else "properties"] = objects(draw)
    ctx = draw(contexts())
    if ctx is not None:
        m["context"] = ctx
    if draw(st.booleans()):
        m["messageId"] = draw(texts.filter(bool))
    if draw(st.booleans()):
        at = NOW - timedelta(seconds=draw(st.integers(0, 29 * 86400)))
        m["timestamp"] = draw(
            st.sampled_from([iso(at), at.isoformat(), at.strftime("%Y-%m-%dT%H:%M:%S")])
        )
    return m


@st.composite
def sensors_raw(draw: st.DrawFn) -> dict[str, Any]:
    """A Sensors Analytics record (before validation)."""
    rtype = draw(st.sampled_from(["track", "track_signup", "profile_set", "profile_unset"]))
    rec: dict[str, Any] = {"type": rtype, "distinct_id": draw(ids)}
    if rtype == "track":
        rec["event"] = draw(texts.filter(lambda t: t.strip() != ""))
    if rtype == "track_signup":
        rec["original_id"] = draw(ids)
        rec["event"] = "$SignUp"
    if draw(st.booleans()):
        rec["login_id"] = draw(ids)
    if draw(st.booleans()):
        rec["anonymous_id"] = draw(ids)
    rec["properties"] = draw(st.dictionaries(texts, json_values, max_size=3))
    if draw(st.booleans()):
        rec["properties"]["$is_login_id"] = True
    if draw(st.booleans()):
        rec["lib"] = {"$lib": draw(platform_words)}
    rec["time"] = int((NOW - timedelta(seconds=draw(st.integers(0, 86400)))).timestamp() * 1000)
    if draw(st.booleans()):
        rec["_track_id"] = draw(st.integers(0, 2**31))
    return rec


def stored(raw: dict[str, Any], *, sensors: bool, anonymised: bool) -> dict[str, Any] | None:
    """What the collector would store for ``raw`` (None: the validators reject it)."""
    try:
        msg = to_segment(raw, "r") if sensors else raw
        out = normalize(
            msg, kind=None, where="", received_at=NOW, source_id="src-1", limits=Limits()
        )
    except BadEventError:
        return None
    return anonymise(out) if anonymised else out


def bulk_rows(
    records: list[Record], links: dict[str, str], erased: frozenset[str] = frozenset()
) -> tuple[decode.Scan, pa.Table]:
    found = decode.scan(records, erased)
    return found, decode.rows(found, records, links)


def reference(
    records: list[Record], links: dict[str, str], erased: frozenset[str] = frozenset()
) -> pa.Table:
    messages = [orjson.loads(r.payload) for r in records]
    kept = [
        (r.offset, m)
        for r, m in zip(records, messages, strict=True)
        if not ({x for x in who(m) if x is not None} & erased)
    ]
    rows = to_rows([m for _, m in kept], links)
    return rows.add_column(0, "off", pa.array([o for o, _ in kept], pa.int64()))


def same_rows(got: pa.Table, want: pa.Table) -> None:
    got_rows = got.select(want.column_names).cast(want.schema).to_pylist()
    assert got_rows == want.to_pylist()


def links_for(messages: list[dict[str, Any]], draw: st.DrawFn) -> dict[str, str]:
    """Stored links for some of the batch's anonymous ids (the first link wins, so
    the batch's own assertions are not in it unless the store already had them)."""
    anon = sorted({str(m["anonymousId"]) for m in messages if m.get("anonymousId")})
    picked = draw(st.lists(st.sampled_from(anon), unique=True) if anon else st.just([]))
    return {a: draw(ids) for a in picked}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_stored_messages_decode_as_the_python_rules_do(data: st.DataObject) -> None:
    raws = data.draw(
        st.lists(
            st.tuples(segment_raw() | sensors_raw(), st.booleans(), st.integers(0, 9)),
            min_size=1,
            max_size=12,
        )
    )
    messages = []
    for raw, anonymised, k in raws:
        msg = stored(raw, sensors="distinct_id" in raw, anonymised=anonymised and k == 0)
        if msg is not None:
            messages.append(msg)
    if not messages:
        return
    records = [Record(10 + i, str(m["messageId"]), orjson.dumps(m)) for i, m in enumerate(messages)]
    links = links_for(messages, data.draw)
    every_id = sorted({x for m in messages for x in who(m) if x is not None})
    erased = frozenset(
        data.draw(st.lists(st.sampled_from(every_id), max_size=2)) if every_id else []
    )
    found, got = bulk_rows(records, links, erased)
    assert found.bulk  # stored ids are strings: identity is decided in bulk
    want = reference(records, links, erased)
    same_rows(got, want)
    # the identity the flusher reads back and asserts
    kept = [orjson.loads(records[o - 10].payload) for o in want.column("off").to_pylist()]
    assert decode.asserted_links(found) == identity.links_in(kept)
    need = {str(m["anonymousId"]) for m in kept if m.get("anonymousId") and not m.get("userId")}
    assert set(decode.lookup_ids(found)) == need


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_shapes_never_stored_go_back_to_python(data: st.DataObject) -> None:
    """Payloads the validators would refuse or another encoder wrote (spaces, non-string
    fields, odd timestamps): the SQL must not guess, the rows still match the rules."""
    messages = []
    for raw in data.draw(st.lists(segment_raw(), min_size=1, max_size=8)):
        m = dict(raw)
        m.setdefault("messageId", data.draw(texts.filter(bool)))
        m.setdefault("timestamp", iso(NOW))
        if m["type"] == "track" and not (isinstance(m.get("event"), str) and m["event"]):
            m["event"] = "e"
        if data.draw(st.integers(0, 4)) == 0:
            m["timestamp"] = data.draw(
                st.sampled_from(
                    ["2026-12-08T01:00:00Z", "2026-12-08T09:00:00.000+08:00", "2026-12-08 01:00"]
                )
            )
        if data.draw(st.integers(0, 4)) == 0:
            m["event"] = data.draw(json_values.filter(bool)) if m["type"] != "track" else "e"
        messages.append(m)
    encoders = [orjson.dumps, lambda m: json.dumps(m, ensure_ascii=False).encode()]
    records = [
        Record(i, str(m["messageId"]), data.draw(st.sampled_from(encoders))(m))
        for i, m in enumerate(messages)
    ]
    links = links_for(messages, data.draw)
    found, got = bulk_rows(records, links)
    assert found.bulk
    same_rows(got, reference(records, links))


def test_a_non_string_identity_field_sends_the_batch_to_python() -> None:
    m = {"type": "track", "event": "e", "messageId": "m1", "timestamp": iso(NOW), "userId": 7}
    found = decode.scan([Record(0, "m1", orjson.dumps(m))])
    assert not found.bulk


def test_float_and_escape_formats_are_kept_byte_for_byte() -> None:
    """DuckDB's writer differs from orjson's here (1e+20, \\u001f): such rows are
    decided in Python, so the stored properties text is what the rules make."""
    props = {"big": 1e20, "ctl": "a\x1fb", "small": 1e-7, "nested": {"x": [1.5, None]}}
    m = {"type": "track", "event": "e", "messageId": "m1", "timestamp": iso(NOW),
         "anonymousId": "a1", "properties": props}  # fmt: skip
    records = [Record(0, "m1", orjson.dumps(m))]
    found, got = bulk_rows(records, {})
    assert found.table.column("py_row").to_pylist() == [True]
    assert got.column("properties").to_pylist() == [orjson.dumps(props).decode()]


def test_common_events_are_decoded_in_sql() -> None:
    """The bench's and SDKs' usual events take the SQL path (no Python row)."""
    msgs = [
        {"type": "track", "event": "fund_detail_view", "messageId": f"m{i}", "anonymousId": f"a{i}",
         "timestamp": iso(NOW), "context": {"os": {"name": "iOS"}},
         "properties": {"fund": "F000123", "amount": 12.5, "n": 3}}
        for i in range(3)
    ] + [
        {"type": "page", "name": "Home", "messageId": "p1", "userId": "u-9",
         "anonymousId": "a0", "timestamp": iso(NOW), "properties": {"path": "/"}},
        {"type": "group", "groupId": "g1", "messageId": "g1", "userId": "42",
         "timestamp": iso(NOW), "traits": {"plan": "gold"}},
    ]  # fmt: skip
    records = [Record(i, str(m["messageId"]), orjson.dumps(m)) for i, m in enumerate(msgs)]
    found, got = bulk_rows(records, {"a1": "1001"})
    assert found.table.column("py_row").to_pylist() == [False] * 5
    same_rows(got, reference(records, {"a1": "1001"}))
    assert got.column("customer_id").to_pylist() == [None, 1001, None, None, 42]
    assert got.column("properties").to_pylist()[3] == (
        '{"path":"/","name":"Home","$user_id":"u-9"}'
    )


def test_flush_records_stores_the_links_and_rows_end_to_end(home: Path) -> None:
    """Through the store and a DuckDB warehouse: an identify links a device, later
    anonymous events of it get the customer; an erased id named "None" does not skip
    events that have no user id (the Python rule's str(None) matched it)."""
    from opsloop.collect.flush import CONSUMER, flush_records
    from opsloop.settings import get_settings
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        first = [
            {"type": "identify", "userId": "1001", "anonymousId": "dev-1", "messageId": "i1",
             "timestamp": iso(NOW), "traits": {"tier": "gold"}},
            {"type": "track", "event": "e", "anonymousId": "dev-2", "messageId": "t0",
             "timestamp": iso(NOW)},
        ]  # fmt: skip
        later = [
            {"type": "track", "event": "e", "anonymousId": "dev-1", "messageId": "t1",
             "timestamp": iso(NOW), "properties": {"k": [1, "é"]}},
        ]  # fmt: skip
        recs = [Record(i, str(m["messageId"]), orjson.dumps(m)) for i, m in enumerate(first)]
        n = flush_records(
            recs, store=store, warehouse=wh, position_of=CONSUMER, erased={"None"}, bulk_min=0
        )
        assert n == 2
        assert identity.load_links(store, ["dev-1"]) == {"dev-1": "1001"}
        rec = [Record(2, "t1", orjson.dumps(later[0]))]
        assert flush_records(rec, store=store, warehouse=wh, position_of=CONSUMER, bulk_min=0) == 1
        got = wh.execute(wh.table("events").order_by("message_id")).to_pylist()
        assert [(r["message_id"], r["customer_id"], r["properties"]) for r in got] == [
            ("i1", 1001, '{"tier":"gold"}'),
            ("t0", None, "{}"),
            ("t1", 1001, '{"k":[1,"é"]}'),
        ]
    finally:
        wh.close()
        store.close()
