"""The Reach routes end to end on the tiny bank (scope, masking, audit, events)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from access.fixtures import add_user, app, settings
from opsloop.access.clock import utcnow
from opsloop.reach import consent, outbox, service, signing
from opsloop.reach.channels.stored import InboxChannel, TaskChannel
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.outbox import Message
from opsloop.settings import Settings
from opsloop.store import Store

__all__ = ["app", "settings"]
SECRET = "receipt-secret-0123456789"


@pytest.fixture
def client(app: FastAPI, settings: Settings) -> Iterator[TestClient]:
    cfg = {
        "channels": {"sms": {"kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": SECRET}}
    }
    (settings.home / "reach.json").write_bytes(orjson.dumps(cfg))
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _store(client: TestClient) -> Store:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return store


def _dispatch(store: Store) -> None:
    chans = {
        "inbox": InboxChannel("inbox", store),
        "call": TaskChannel("call", store, kind="call"),
    }
    d = Dispatcher(store, chans)  # type: ignore[arg-type]
    while d.run_once():
        pass
    d.close()


def test_templates_validate_and_preview_with_masking(client: TestClient) -> None:
    admin = add_user(_store(client), "admin", roles=["admin"])
    op = add_user(_store(client), "op", roles=["operator"])
    body = {
        "template_id": "welcome",
        "channel": "sms",
        "body": "{{ customer.name }}您好，欢迎开户！",
    }
    r = client.post("/api/v1/reach/templates", json=body, headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["sms"]["encoding"] == "UCS-2"
    bad = body | {"body": "{{ customer.nmae }}"}
    r = client.post("/api/v1/reach/templates", json=bad, headers=op)
    assert r.status_code == 400 and r.json()["where"] == "body" and "nmae" in r.json()["detail"]
    evil = body | {"body": "{{ ''.__class__.__mro__ }}"}
    assert client.post("/api/v1/reach/templates", json=evil, headers=op).status_code == 400
    masked = client.get("/api/v1/reach/templates/welcome/preview?customer_id=1", headers=op)
    assert masked.json()["text"].startswith("张**") and masked.json()["masked"]
    clear = client.get("/api/v1/reach/templates/welcome/preview?customer_id=1", headers=admin)
    assert clear.json()["text"].startswith("张01丰") and not clear.json()["masked"]


def test_tasks_are_scoped_assigned_and_exported(client: TestClient) -> None:
    store = _store(client)
    b01 = add_user(store, "b01", roles=["operator"], org_id="B01")
    body = {"kind": "call", "campaign": "fund-q2", "customer_ids": [1, 2, 4, 8], "script": "=1+1"}
    r = client.post("/api/v1/reach/tasks", json=body, headers=b01)
    assert r.json() == {"queued": 3}  # customer 8 is outside B01
    _dispatch(store)
    rm1 = add_user(store, "rm1", roles=["rm"], org_id="B01S01", rm_id="RM1")
    mine = client.get("/api/v1/reach/tasks", headers=rm1).json()
    assert sorted(t["customer_id"] for t in mine) == [1, 2]
    every = client.get("/api/v1/reach/tasks?campaign=fund-q2", headers=b01).json()
    queues = {t["customer_id"]: t["queue"] for t in every}
    assert queues == {1: "RM1", 2: "RM1", 4: "/HO/B01/B01S01/"}  # no RM → branch queue
    tid = mine[0]["id"]
    r = client.post(
        f"/api/v1/reach/tasks/{tid}/outcome", json={"outcome": "interested"}, headers=rm1
    )
    assert r.status_code == 204
    csv_text = client.get("/api/v1/reach/tasks/export", headers=rm1).text
    assert "interested" in csv_text and "'=1+1" in csv_text
    b02 = add_user(store, "b02", roles=["operator"], org_id="B02")
    r = client.post(f"/api/v1/reach/tasks/{tid}/outcome", json={"outcome": "declined"}, headers=b02)
    assert r.status_code == 404


def test_inbox_links_receipts_and_contacts(client: TestClient) -> None:
    store = _store(client)
    admin = add_user(store, "admin", roles=["admin"])
    now = utcnow()
    with store.session() as s:
        outbox.enqueue(
            s,
            [
                Message("j:w:1:n1:1:1", "inbox", 1, "welcome", {"title": "欢迎", "body": "您好"}),
                Message("j:w:1:n2:1:1", "sms", 1, "welcome", {"to": "x"}),
            ],
            now=now,
        )
    _dispatch(store)
    items = client.get("/api/v1/inbox/1", headers=admin).json()
    assert [i["title"] for i in items] == ["欢迎"] and not items[0]["read"]
    r = client.post(f"/api/v1/inbox/1/{items[0]['id']}/read", headers=admin)
    assert r.status_code == 204 and client.get("/api/v1/inbox/1", headers=admin).json()[0]["read"]

    token = service.create_link(
        store,
        url="https://bank.example/fund",
        customer_id=1,
        campaign="welcome",
        channel="sms",
        message_key="j:w:1:n2:1:1",
        now=now,
    )
    r = client.get(f"/r/{token}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://bank.example/fund"
    log = client.app.state.collector.log  # type: ignore[attr-defined]
    assert f"reach:clicked:{token}:1" in log
    assert client.get("/r/" + "A" * 22).status_code == 404

    unsub = service.create_link(
        store,
        url=service.UNSUBSCRIBE,
        customer_id=1,
        campaign="welcome",
        channel="sms",
        message_key=None,
        now=now,
    )
    assert client.get(f"/r/{unsub}").status_code == 200
    with store.session() as s:
        assert consent.blocked(s, [(1, "sms"), (1, "email")]) == {(1, "sms")}

    body = orjson.dumps(
        [{"id": "j:w:1:n2:1:1", "status": "delivered"}, {"id": "nope", "status": "failed"}]
    )
    ts = int(time.time())
    headers = {
        signing.TIMESTAMP: str(ts),
        signing.SIGNATURE: signing.sign(SECRET.encode(), ts, body),
    }
    r = client.post("/api/v1/reach/receipts/sms", content=body, headers=headers)
    assert r.json() == {"recorded": 1, "events": 1}
    assert "reach:delivered:j:w:1:n2:1:1" in log
    forged = headers | {signing.SIGNATURE: "v1=" + "0" * 64}
    assert (
        client.post("/api/v1/reach/receipts/sms", content=body, headers=forged).status_code == 401
    )

    kinds = [c["kind"] for c in client.get("/api/v1/contacts?customer_id=1", headers=admin).json()]
    assert sorted(kinds) == ["clicked", "delivered", "opened", "sent", "unsubscribed"]
    b02 = add_user(store, "b02", roles=["operator"], org_id="B02")
    assert client.get("/api/v1/contacts?customer_id=1", headers=b02).status_code == 404
    assert client.get("/api/v1/contacts?campaign=welcome", headers=b02).json() == []
    assert len(client.get("/api/v1/contacts?campaign=welcome", headers=admin).json()) == 5


def test_slots_serve_the_best_content_now(client: TestClient) -> None:
    admin = add_user(_store(client), "admin", roles=["admin"])
    now = datetime.now(UTC)
    window: dict[str, Any] = {
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    for title, prio, who in (("通用", 1, None), ("VIP专享", 9, [2]), ("过期", 99, None)):
        body = {
            "slot": "home-banner",
            "title": title,
            "priority": prio,
            "customer_ids": who,
        } | window
        if title == "过期":
            body["ends_at"] = (now - timedelta(minutes=1)).isoformat()
            body["starts_at"] = (now - timedelta(hours=2)).isoformat()
        assert client.post("/api/v1/reach/slots", json=body, headers=admin).status_code == 201
    get = client.get
    assert (
        get("/api/v1/slots/home-banner?customer_id=1", headers=admin).json()["content"]["title"]
        == "通用"
    )
    assert (
        get("/api/v1/slots/home-banner?customer_id=2", headers=admin).json()["content"]["title"]
        == "VIP专享"
    )
    assert get("/api/v1/slots/none?customer_id=2", headers=admin).json()["content"] is None
