"""A clicked short link and a delivery receipt reach a Collection stream consumer — the
embedded log and Redis Streams — within one poll, with the customer and the outbox key
(what a journey waiting for the click matches on)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from access.fixtures import OPEN_LIMITS, seed_bank
from opsloop.access.clock import utcnow
from opsloop.api.app import create_app
from opsloop.reach import outbox, service, signing
from opsloop.reach.outbox import Message
from opsloop.settings import Settings

SECRET = "receipt-secret-0123456789"
KEY = "j:renew:1:sms1:3:1"


@pytest.fixture(params=["log", "redis"])
def client(request: pytest.FixtureRequest, home: Path) -> Iterator[TestClient]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    settings = Settings(
        home=home, database_url=f"sqlite:///{home / 'opsloop.db'}", redis_url=redis_url
    )
    seed_bank(settings)
    cfg = {"channels": {"sms": {"kind": "webhook", "url": "http://127.0.0.1:9/", "secret": SECRET}}}
    (home / "reach.json").write_bytes(orjson.dumps(cfg))
    app = create_app(settings, access=OPEN_LIMITS, local_token="local-test-token")
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _events(records: list[object]) -> list[dict[str, object]]:
    return [orjson.loads(r.payload) for r in records]  # type: ignore[attr-defined]


def test_click_and_receipt_reach_a_stream_consumer_in_one_poll(client: TestClient) -> None:
    app = client.app
    store = app.state.store  # type: ignore[attr-defined]
    stream = app.state.collector.log  # type: ignore[attr-defined]
    with store.session() as s:
        outbox.enqueue(s, [Message(KEY, "sms", 3, "renew", {"text": "x"})], now=utcnow())
    token = service.create_link(
        store,
        url="https://bank.example/fund",
        customer_id=3,
        campaign="renew",
        channel="sms",
        message_key=KEY,
        now=utcnow(),
    )
    consumer = stream.consumer("journey-waits-test")
    consumer.poll(timeout=0.0)  # joined before the click (a Redis group starts here)
    consumer.commit()

    assert client.get(f"/r/{token}", follow_redirects=False).status_code == 302
    t0 = time.monotonic()
    got = _events(consumer.poll(timeout=2.0))
    waited = time.monotonic() - t0
    clicks = [e for e in got if e["event"] == "reach_clicked"]
    assert len(clicks) == 1, got
    click = clicks[0]
    assert click["userId"] == "3"
    assert click["properties"]["message_key"] == KEY  # type: ignore[index]
    assert click["properties"]["campaign"] == "renew"  # type: ignore[index]
    assert waited < 2.0
    consumer.commit()

    body = orjson.dumps([{"id": KEY, "status": "delivered"}])
    ts = int(time.time())
    headers = {
        signing.TIMESTAMP: str(ts),
        signing.SIGNATURE: signing.sign(SECRET.encode(), ts, body),
    }
    assert client.post("/api/v1/reach/receipts/sms", content=body, headers=headers).json() == {
        "recorded": 1,
        "events": 1,
    }
    got = _events(consumer.poll(timeout=2.0))
    assert [(e["event"], e["userId"], e["properties"]["message_key"]) for e in got] == [  # type: ignore[index]
        ("reach_delivered", "3", KEY)
    ]
