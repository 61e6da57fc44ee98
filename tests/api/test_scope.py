"""Data scope (辖内): a branch user cannot see, count, export or open another branch's
customers through any endpoint; an RM sees only their own."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from access.fixtures import HOMES, PATHS, add_user

# user → (roles, org, rm_id, customer ids they may see)
USERS = {
    "head": (["admin"], "HO", None, set(HOMES)),
    "b01": (["branch_operator"], "B01", None, {c for c, (o, _) in HOMES.items() if "B01" in o}),
    "b02": (["branch_operator"], "B02", None, {c for c, (o, _) in HOMES.items() if "B02" in o}),
    "s01": (["branch_operator"], "B01S01", None, {1, 2, 3, 4}),
    "rm1": (["rm"], "B01S01", "RM1", {1, 2}),
}


def _headers(client: TestClient, name: str) -> dict[str, str]:
    roles, org, rm, _ = USERS[name]
    scopes = None if name == "head" else ["customer:read", "customer:export", "segment:read"]
    return add_user(client.app.state.store, name, roles=roles, org_id=org, rm_id=rm, scopes=scopes)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(USERS))
def test_count_list_export_and_open_follow_scope(client: TestClient, name: str) -> None:
    h = _headers(client, name)
    visible = USERS[name][3]
    assert client.get("/api/v1/customers/count", headers=h).json() == {"count": len(visible)}
    page = client.get("/api/v1/customers?limit=100", headers=h).json()
    assert page["total"] == len(visible)
    assert {c["customer_id"] for c in page["items"]} == visible
    for cid in HOMES:
        resp = client.get(f"/api/v1/customers/{cid}", headers=h)
        assert resp.status_code == (200 if cid in visible else 404), (name, cid)
    if name != "rm1":  # the rm role has no export permission
        resp = client.get("/api/v1/customers/export", headers=h)
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert {int(r["customer_id"]) for r in rows} == visible


def test_filtering_by_another_branch_finds_nothing(client: TestClient) -> None:
    h = _headers(client, "b01")
    assert client.get("/api/v1/customers/count?org_id=B02", headers=h).json()["count"] == 0
    assert client.get("/api/v1/customers/count?org_id=B01S02", headers=h).json()["count"] == 3
    head = _headers(client, "head")
    assert client.get("/api/v1/customers/count?org_id=B02", headers=head).json()["count"] == 5
    export = client.get("/api/v1/customers/export?org_id=B02", headers=h)
    assert export.text.strip().count("\n") == 0  # header only


def test_outside_scope_is_404_not_403(client: TestClient) -> None:
    resp = client.get("/api/v1/customers/8", headers=_headers(client, "b01"))
    assert resp.status_code == 404


def test_raw_sql_only_for_bank_wide_users(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    admin = add_user(store, "root", roles=["admin"])
    body = {"sql": "select count(*) as n from customers"}
    assert client.post("/api/v1/warehouse/query", json=body, headers=admin).status_code == 200
    # A custom role carrying warehouse:query cannot be granted below the head office …
    role = {"name": "sql_fan", "permissions": ["warehouse:query", "customer:read"]}
    assert client.post("/api/v1/roles", json=role, headers=admin).status_code == 201
    user = {"username": "b01sql", "org_id": "B01", "roles": ["sql_fan"]}
    resp = client.post("/api/v1/users", json=user, headers=admin)
    assert resp.status_code == 400 and "HO" in resp.json()["detail"]
    # … and an RM at head office (own customers only) is not bank-wide either.
    h = add_user(store, "horm", roles=["rm", "sql_fan"], org_id="HO", rm_id="RM1")
    assert client.post("/api/v1/warehouse/query", json=body, headers=h).status_code == 403


def test_scope_paths_match_the_fixture() -> None:
    assert PATHS["B01S01"].startswith(PATHS["B01"])
