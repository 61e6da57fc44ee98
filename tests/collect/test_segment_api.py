"""The Segment-compatible HTTP API: success, auth, every rejection, dedupe, clock skew."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from collect.conftest import Ingest
from opsloop.collect.segment import Limits, correct_clock, parse_time


def _now(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def _track(**kw: Any) -> dict[str, Any]:
    return {"userId": "1001", "event": "fund_detail_view", "properties": {"fund": "F1"}, **kw}


def test_track_is_stored_durably_with_server_fields(ingest: Ingest) -> None:
    r = ingest.client.post("/v1/track", json=_track(messageId="m-1"), auth=ingest.auth)
    assert r.status_code == 200 and r.json() == {"success": True}
    (msg,) = ingest.stored()
    assert msg["messageId"] == "m-1" and msg["type"] == "track"
    assert msg["event"] == "fund_detail_view" and msg["sourceId"].startswith("src_")
    assert msg["receivedAt"] and msg["timestamp"] == msg["receivedAt"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("identify", {"userId": "1001", "anonymousId": "a1", "traits": {"tier": "gold"}}),
        ("page", {"anonymousId": "a1", "name": "Home", "properties": {"url": "/"}}),
        ("screen", {"userId": "1001", "name": "FundList"}),
        ("alias", {"userId": "1001", "previousId": "a1"}),
        ("group", {"userId": "1001", "groupId": "branch-7", "traits": {}}),
    ],
)
def test_each_call_type(ingest: Ingest, kind: str, body: dict[str, Any]) -> None:
    r = ingest.client.post(f"/v1/{kind}", json=body, auth=ingest.auth)
    assert r.status_code == 200, r.text
    assert [m["type"] for m in ingest.stored()] == [kind]


def test_batch_gzip_and_shared_context(ingest: Ingest) -> None:
    body = {
        "batch": [
            {"type": "track", **_track(messageId="b1")},
            {"type": "identify", "userId": "1001", "anonymousId": "dev-1", "messageId": "b2"},
            {"type": "page", "anonymousId": "dev-1", "messageId": "b3", "context": {"x": 1}},
        ],
        "context": {"library": {"name": "analytics-python"}},
        "sentAt": _now(),
    }
    raw = gzip.compress(orjson.dumps(body))
    r = ingest.client.post(
        "/v1/batch",
        content=raw,
        auth=ingest.auth,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    stored = ingest.stored()
    assert [m["messageId"] for m in stored] == ["b1", "b2", "b3"]
    assert stored[0]["context"] == {"library": {"name": "analytics-python"}}
    assert stored[2]["context"] == {"x": 1}  # a message's own context wins


def test_write_key_in_body_is_accepted(ingest: Ingest) -> None:
    r = ingest.client.post("/v1/track", json=_track(writeKey=ingest.key))
    assert r.status_code == 200
    assert "writeKey" not in ingest.stored()[0]  # the key is not stored with the event


@pytest.mark.parametrize("auth", [None, ("olk_wrong", ""), ("", "")])
def test_missing_or_wrong_key_is_401_and_stores_nothing(
    ingest: Ingest, auth: tuple[str, str] | None
) -> None:
    r = ingest.client.post("/v1/track", json=_track(), auth=auth)
    assert r.status_code == 401
    assert ingest.stored() == []


def test_revoked_key_is_401(ingest: Ingest) -> None:
    assert ingest.client.post("/v1/track", json=_track(), auth=ingest.auth).status_code == 200
    r = ingest.client.post(
        "/api/v1/collect/sources/app-ios/revoke",
        headers={"Authorization": f"Bearer {ingest.token}"},
    )
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = ingest.client.post("/v1/track", json=_track(), auth=ingest.auth)
    assert r.status_code == 401
    assert len(ingest.stored()) == 1


def test_retried_message_id_is_stored_once(ingest: Ingest) -> None:
    for _ in range(3):
        r = ingest.client.post("/v1/track", json=_track(messageId="retry-1"), auth=ingest.auth)
        assert r.status_code == 200
    assert len(ingest.stored()) == 1
    stats = ingest.client.get(
        "/api/v1/collect/stats", headers={"Authorization": f"Bearer {ingest.token}"}
    ).json()
    assert stats["accepted"] == 1 and stats["duplicates"] == 2


BIG = "x" * (33 * 1024)
BAD: list[tuple[str, str, bytes | Any, dict[str, str], str, str]] = [
    # (id, path, body, headers, reason, where)
    ("malformed-json", "/v1/track", b'{"userId": ', {}, "malformed_json", "body"),
    ("not-object", "/v1/track", [1, 2], {}, "wrong_type", "body"),
    ("no-event", "/v1/track", {"userId": "1"}, {}, "missing_field", "event"),
    ("event-number", "/v1/track", {"userId": "1", "event": 5}, {}, "missing_field", "event"),
    ("no-ids", "/v1/track", {"event": "e"}, {}, "missing_field", "userId"),
    ("userid-list", "/v1/track", _track(userId=[1]), {}, "wrong_type", "userId"),
    ("props-list", "/v1/track", _track(properties=[1]), {}, "wrong_type", "properties"),
    ("context-str", "/v1/identify", {"userId": "1", "context": "x"}, {}, "wrong_type", "context"),
    ("msgid-int", "/v1/track", _track(messageId=7), {}, "wrong_type", "messageId"),
    ("ts-garbage", "/v1/track", _track(timestamp="yesterday"), {}, "bad_timestamp", "timestamp"),
    ("ts-number", "/v1/track", _track(timestamp=1700000000), {}, "wrong_type", "timestamp"),
    ("sentat-bad", "/v1/track", _track(sentAt="soon"), {}, "bad_timestamp", "sentAt"),
    (
        "ts-future",
        "/v1/track",
        _track(timestamp=_now(timedelta(days=2))),
        {},
        "timestamp_future",
        "timestamp",
    ),
    (
        "ts-past",
        "/v1/track",
        _track(timestamp=_now(-timedelta(days=90))),
        {},
        "timestamp_past",
        "timestamp",
    ),
    ("event-too-big", "/v1/track", _track(properties={"b": BIG}), {}, "too_large", "body"),
    (
        "batch-too-big",
        "/v1/batch",
        {"batch": [{"type": "track", **_track(properties={"b": "y" * 30000})}] * 20},
        {},
        "too_large",
        "body",
    ),
    ("alias-no-prev", "/v1/alias", {"userId": "1"}, {}, "missing_field", "previousId"),
    ("group-no-id", "/v1/group", {"userId": "1"}, {}, "missing_field", "groupId"),
    ("page-name-int", "/v1/page", {"userId": "1", "name": 3}, {}, "wrong_type", "name"),
    ("batch-not-list", "/v1/batch", {"batch": {}}, {}, "wrong_type", "batch"),
    ("batch-empty", "/v1/batch", {"batch": []}, {}, "empty_batch", "batch"),
    (
        "batch-unknown-type",
        "/v1/batch",
        {"batch": [{"type": "track", **_track()}, {"type": "purchase", "userId": "1"}]},
        {},
        "unknown_type",
        "batch[1].type",
    ),
    (
        "batch-one-bad",
        "/v1/batch",
        {"batch": [{"type": "track", **_track()}, {"type": "track", "userId": "1"}]},
        {},
        "missing_field",
        "batch[1].event",
    ),
    ("bad-gzip", "/v1/track", b"not gzip at all", {"Content-Encoding": "gzip"}, "bad_gzip", "body"),
    (
        "truncated-gzip",
        "/v1/track",
        gzip.compress(orjson.dumps(_track()))[:-12],
        {"Content-Encoding": "gzip"},
        "bad_gzip",
        "body",
    ),
    (
        "gzip-bomb",
        "/v1/track",
        gzip.compress(b" " * (2 * 1024 * 1024)),
        {"Content-Encoding": "gzip"},
        "too_large",
        "body",
    ),
    ("brotli", "/v1/track", b"{}", {"Content-Encoding": "br"}, "bad_encoding", "Content-Encoding"),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "reason", "where"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_400_naming_reason_and_field_and_stores_nothing(
    ingest: Ingest, path: str, body: Any, headers: dict[str, str], reason: str, where: str
) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    r = ingest.client.post(
        path, content=raw, auth=ingest.auth, headers={"Content-Type": "application/json", **headers}
    )
    assert r.status_code == 400, r.text
    got = r.json()
    assert got["success"] is False and got["reason"] == reason
    assert got["where"].endswith(where), got
    assert got["detail"]
    assert ingest.stored() == []
    stats = ingest.client.get(
        "/api/v1/collect/stats", headers={"Authorization": f"Bearer {ingest.token}"}
    ).json()
    assert stats["rejected"] == {reason: 1} and stats["accepted"] == 0


def test_clock_skew_correction_by_hand() -> None:
    # The phone's clock is 10 minutes fast. It recorded the event at its 12:00:00 and
    # sent the batch at its 12:05:00; we received it at true 11:55:30.
    ts = parse_time("2025-03-01T12:00:00Z")
    sent = parse_time("2025-03-01T12:05:00.000+00:00")
    received = datetime(2025, 3, 1, 11, 55, 30, tzinfo=UTC)
    # 11:55:30 + (12:00:00 - 12:05:00) = 11:50:30
    assert correct_clock(ts, sent, received) == datetime(2025, 3, 1, 11, 50, 30, tzinfo=UTC)
    assert correct_clock(ts, None, received) == ts
    assert correct_clock(None, sent, received) == received
    assert parse_time("2025-03-01T20:00:00+08:00") == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_clock_skew_applied_through_the_api(ingest: Ingest) -> None:
    # client clock 2 hours behind: its timestamp and sentAt are both 2h in the past
    now = datetime.now(UTC)
    body = _track(
        messageId="skew",
        timestamp=(now - timedelta(hours=2, minutes=3)).isoformat(),
        sentAt=(now - timedelta(hours=2)).isoformat(),
    )
    assert ingest.client.post("/v1/track", json=body, auth=ingest.auth).status_code == 200
    (msg,) = ingest.stored()
    received = parse_time(msg["receivedAt"])
    expected = received - timedelta(minutes=3)
    assert abs(parse_time(msg["timestamp"]) - expected) < timedelta(milliseconds=2)
    assert parse_time(msg["originalTimestamp"]) < expected - timedelta(hours=1)


def test_batch_level_sent_at_applies_to_each_message(ingest: Ingest) -> None:
    now = datetime.now(UTC)
    body = {
        "sentAt": (now + timedelta(hours=5)).isoformat(),  # device clock 5 h fast
        "batch": [
            {
                "type": "track",
                **_track(timestamp=(now + timedelta(hours=5, seconds=-30)).isoformat()),
            }
        ],
    }
    assert ingest.client.post("/v1/batch", json=body, auth=ingest.auth).status_code == 200
    (msg,) = ingest.stored()
    delta = parse_time(msg["receivedAt"]) - parse_time(msg["timestamp"])
    assert timedelta(seconds=29) < delta < timedelta(seconds=31)


def test_default_limits_are_segments() -> None:
    assert Limits().max_event_bytes == 32 * 1024 and Limits().max_request_bytes == 500 * 1024
