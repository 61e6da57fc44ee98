"""The Activity API end to end: catalogue, maker-checker, participation, risk, stats."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from access.fixtures import add_user
from opsloop.access import roles
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.access.schemas import RoleCreate

from .helpers import coupon

WINDOW = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}


def _activity(template: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "春季领券", "template": template, "landing": {"title": "领券"}} | WINDOW | extra


def _launch(
    client: TestClient, maker: dict[str, str], checker: dict[str, str], doc: dict[str, Any]
) -> str:
    r = client.post("/api/v1/activities", json=doc, headers=maker)
    assert r.status_code == 201, r.text
    aid: str = r.json()["id"]
    assert client.post(f"/api/v1/activities/{aid}/submit", headers=maker).status_code == 200
    assert client.post(f"/api/v1/activities/{aid}/approve", headers=maker).status_code == 403
    assert (
        client.post(f"/api/v1/activities/{aid}/approve", headers=checker).json()["status"]
        == "approved"
    )
    assert (
        client.post(f"/api/v1/activities/{aid}/start", headers=maker).json()["status"] == "running"
    )
    return aid


def test_coupon_drop_flow(app: FastAPI, client: TestClient) -> None:
    store = app.state.store
    maker = add_user(store, "maker", roles=["operator"])
    checker = add_user(store, "checker", roles=["approver"])
    backend = add_user(store, "appsys", roles=["admin"])
    b = coupon(total_stock=2, per_customer_lifetime=1).model_dump(mode="json")
    assert client.post("/api/v1/benefits", json=b, headers=maker).status_code == 201
    bad = _activity({"kind": "coupon_drop", "benefit_id": "nope"})
    r = client.post("/api/v1/activities", json=bad, headers=maker)
    assert r.status_code == 400 and r.json()["where"] == "benefits[0]"
    r = client.post("/api/v1/activities", json=_activity({"kind": "coupon_drop"}), headers=maker)
    assert r.status_code == 400 and r.json()["where"] == "template.coupon_drop.benefit_id"
    aid = _launch(client, maker, checker, _activity({"kind": "coupon_drop", "benefit_id": "c10"}))
    url = f"/api/v1/activities/{aid}/participate"
    assert client.post(url, json={"customer_id": 1}, headers=maker).status_code == 403
    first = client.post(url, json={"customer_id": 1, "device_id": "d1"}, headers=backend).json()
    assert first["outcome"] == "issued"
    again = client.post(url, json={"customer_id": 1, "device_id": "d1"}, headers=backend).json()
    assert again == {**again, "outcome": "exhausted", "detail": "b/c10/c/1"}
    assert client.post(url, json={"customer_id": 2}, headers=backend).json()["outcome"] == "issued"
    assert (
        client.post(url, json={"customer_id": 3}, headers=backend).json()["detail"] == "b/c10/stock"
    )
    unit = first["unit_ids"][0]
    red = {"customer_id": 1, "unit_id": unit, "idempotency_key": "o1", "order_cents": 20000}
    assert client.post("/api/v1/benefits/redeem", json=red, headers=backend).status_code == 200
    assert client.post("/api/v1/benefits/redeem", json=red, headers=backend).status_code == 200
    red2 = red | {"idempotency_key": "o2"}
    assert client.post("/api/v1/benefits/redeem", json=red2, headers=backend).status_code == 409
    stats = client.get(f"/api/v1/activities/{aid}/stats", headers=maker).json()
    assert (
        stats["issued"],
        stats["issued_cost_cents"],
        stats["redeemed"],
        stats["participants"],
    ) == (
        2,
        2000,
        1,
        2,
    )


def test_risk_block_review_and_release(app: FastAPI, client: TestClient) -> None:
    store = app.state.store
    maker = add_user(store, "maker", roles=["operator"])
    checker = add_user(store, "checker", roles=["approver"])
    backend = add_user(store, "appsys", roles=["admin"])
    client.post("/api/v1/benefits", json=coupon().model_dump(mode="json"), headers=maker)
    doc = _activity({"kind": "coupon_drop", "benefit_id": "c10"}, risk={"accounts_per_device": 2})
    aid = _launch(client, maker, checker, doc)
    url = f"/api/v1/activities/{aid}/participate"
    lst = {"dimension": "device", "value": "evil", "list": "black"}
    assert client.put("/api/v1/risk/lists", json=lst, headers=checker).status_code == 204
    r = client.post(url, json={"customer_id": 5, "device_id": "evil"}, headers=backend).json()
    assert r["outcome"] == "block" and r["risk"]["fired"][0]["rule"] == "blacklist.device"
    # three accounts on one farm device: the third is challenged (50 points ≥ 40)
    outs = [
        client.post(url, json={"customer_id": c, "device_id": "farm"}, headers=backend).json()
        for c in (6, 7, 8)
    ]
    assert [o["outcome"] for o in outs] == ["issued", "issued", "challenge"]
    passed = {"customer_id": 8, "device_id": "farm", "challenge_passed": True}
    assert client.post(url, json=passed, headers=backend).json()["outcome"] == "issued"
    decisions = client.get("/api/v1/risk/decisions?status=open", headers=checker).json()
    assert {d["customer_id"] for d in decisions} == {5, 8}
    blocked = next(d for d in decisions if d["customer_id"] == 5)
    rel = client.post(f"/api/v1/risk/decisions/{blocked['id']}/release", headers=checker)
    assert rel.json()["status"] == "released"
    r = client.post(url, json={"customer_id": 5, "device_id": "evil"}, headers=backend).json()
    assert r["outcome"] == "issued"


def test_branch_staff_see_and_release_only_their_customers_decisions(
    app: FastAPI, client: TestClient
) -> None:
    store = app.state.store
    maker = add_user(store, "maker", roles=["operator"])
    checker = add_user(store, "checker", roles=["approver"])
    backend = add_user(store, "appsys", roles=["admin"])
    b01 = add_user(store, "b01rev", roles=["approver"], org_id="B01")
    with store.session() as s:
        body = RoleCreate(name="branch_app", permissions=["activity:participate"])
        roles.create_role(session=s, actor=LOCAL_OPERATOR, body=body)
    b01_app = add_user(store, "b01app", roles=["branch_app"], org_id="B01")
    client.post("/api/v1/benefits", json=coupon().model_dump(mode="json"), headers=maker)
    aid = _launch(client, maker, checker, _activity({"kind": "coupon_drop", "benefit_id": "c10"}))
    url = f"/api/v1/activities/{aid}/participate"
    lst = {"dimension": "device", "value": "evil", "list": "black"}
    assert client.put("/api/v1/risk/lists", json=lst, headers=checker).status_code == 204
    for cid in (3, 9):  # customer 3 is in branch B01, customer 9 in B02
        r = client.post(url, json={"customer_id": cid, "device_id": "evil"}, headers=backend)
        assert r.json()["outcome"] == "block"
    every = client.get("/api/v1/risk/decisions", headers=checker).json()
    assert sorted(d["customer_id"] for d in every) == [3, 9]
    mine = client.get("/api/v1/risk/decisions", headers=b01).json()
    assert [d["customer_id"] for d in mine] == [3]
    other = next(d["id"] for d in every if d["customer_id"] == 9)
    assert client.post(f"/api/v1/risk/decisions/{other}/release", headers=b01).status_code == 404
    own = next(d["id"] for d in every if d["customer_id"] == 3)
    assert client.post(f"/api/v1/risk/decisions/{own}/release", headers=b01).status_code == 200
    # a branch-scoped caller cannot take part on behalf of another branch's customer
    r = client.post(url, json={"customer_id": 9}, headers=b01_app)
    assert r.status_code == 404 and r.json()["where"] == "customer_id"
    assert client.post(url, json={"customer_id": 4}, headers=b01_app).json()["outcome"] == "issued"
