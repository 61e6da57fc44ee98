"""Tags over HTTP: permissions, validation errors naming the field, runs, scoped values, audit.

The access fixture bank: HO 12 customers, B01 7 (ids 1–7), B02 5 (ids 8–12); customer 1's
city is a CSV formula, every other customer lives in Beijing.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from access import fixtures
from access.fixtures import add_user
from opsloop.access.models import AuditEntry

# The access fixtures (seeded bank, app, client on SQLite and PostgreSQL), registered here.
app, client, settings, store_url = (
    fixtures.app,
    fixtures.client,
    fixtures.settings,
    fixtures.store_url,
)

BEIJING = {
    "type": "rule",
    "name": "lives_in_beijing",
    "title": "北京客户",
    "category": "属性/地域",
    "condition": {"kind": "attribute", "field": "city", "op": "=", "value": "Beijing"},
}
LISTED = {"type": "manual", "name": "vip_list", "category": "名单"}


def _actions(client: TestClient) -> list[str]:
    store = client.app.state.store  # type: ignore[attr-defined]
    with store.session() as s:
        return [e.action for e in s.scalars(select(AuditEntry)) if e.action.startswith("tag.")]


def test_tag_catalogue_run_and_scoped_values(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    head = add_user(store, "head", roles=["admin"])
    b01 = add_user(store, "b01", roles=["analyst"], org_id="B01")
    api = "/api/v1/tags"

    bad = BEIJING | {"value_type": "number"}
    resp = client.post(api, json={"definition": bad}, headers=head)
    assert resp.status_code == 400 and resp.json()["where"] == "value_type"
    assert client.post(api, json={"definition": BEIJING}, headers=b01).status_code == 403
    made = client.post(api, json={"definition": BEIJING}, headers=head)
    assert made.status_code == 201 and made.json()["owner"].startswith("head")
    assert client.post(api, json={"definition": BEIJING}, headers=head).status_code == 409
    assert client.post(api, json={"definition": LISTED}, headers=head).status_code == 201
    put = client.put(f"{api}/vip_list/ids", json={"customer_ids": [2, 9, 9]}, headers=head)
    assert put.json() == {"customer_ids": 2}

    assert client.post(f"{api}/run", json={"as_of": "2025-06-29"}, headers=b01).status_code == 403
    runs = client.post(f"{api}/run", json={"as_of": "2025-06-29"}, headers=head)
    assert runs.status_code == 200, runs.text
    by_tag = {r["tag"]: r for r in runs.json()}
    assert by_tag["lives_in_beijing"]["distribution"] == {"true": 11, "false": 1}
    assert by_tag["vip_list"]["distribution"] == {"true": 2, "false": 10}
    got = client.get(f"{api}/lives_in_beijing", headers=b01).json()
    assert got["last_run"]["coverage"] == 1.0 and got["category"] == "属性/地域"
    assert [t["name"] for t in client.get(f"{api}?category=属性", headers=b01).json()] == [
        "lives_in_beijing"
    ]

    mine = client.get(f"{api}/customers/2", headers=b01)
    assert mine.status_code == 200
    assert {t["tag"]: t["value"] for t in mine.json()} == {
        "lives_in_beijing": True,
        "vip_list": True,
    }
    assert client.get(f"{api}/customers/9", headers=b01).status_code == 404  # B02: out of scope
    assert client.get(f"{api}/customers/9", headers=head).status_code == 200
    early = client.get(f"{api}/customers/2?as_of=2025-06-28", headers=b01).json()
    assert early == []
    one = client.post(f"{api}/vip_list/run", json={"as_of": "2025-06-29"}, headers=head)
    assert one.status_code == 200 and one.json()["with_value"] == 12
    assert client.get(f"{api}/nope", headers=head).status_code == 404
    assert _actions(client) == ["tag.create", "tag.create", "tag.import_ids", "tag.run", "tag.run"]


def test_edit_archive_versions_and_prune_over_http(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    head = add_user(store, "head2", roles=["admin"])
    b01 = add_user(store, "b01x", roles=["analyst"], org_id="B01")
    api = "/api/v1/tags"
    assert client.post(api, json={"definition": BEIJING}, headers=head).status_code == 201
    change = {"changes": {"description": "北京", "owner": "geo-team"}}
    assert client.patch(f"{api}/lives_in_beijing", json=change, headers=b01).status_code == 403
    edited = client.patch(f"{api}/lives_in_beijing", json=change, headers=head)
    assert edited.status_code == 200 and edited.json()["version"] == 2
    bad = {"changes": {"condition": {"kind": "attribute", "field": "nope", "op": "=",
                                     "value": 1}}}  # fmt: skip
    resp = client.patch(f"{api}/lives_in_beijing", json=bad, headers=head)
    assert resp.status_code == 400 and resp.json()["where"] == "condition.field"
    resp = client.patch(f"{api}/lives_in_beijing", json={"changes": {"name": "x"}}, headers=head)
    assert resp.status_code == 400 and resp.json()["where"] == "name"
    versions = client.get(f"{api}/lives_in_beijing/versions", headers=b01).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["definition"]["owner"] == "geo-team"

    for day in ("2025-06-01", "2025-06-20", "2025-06-29"):
        assert client.post(f"{api}/run", json={"as_of": day}, headers=head).status_code == 200
    pruned = client.post(f"{api}/prune", json={"keep_days": 15, "today": "2025-06-29"},
                         headers=head)  # fmt: skip
    assert pruned.status_code == 200 and pruned.json() == {"rows_dropped": 12}
    assert client.post(f"{api}/prune", json={"keep_days": 0}, headers=head).status_code == 422

    seg = {"id": "bj", "name": "bj", "root": {"kind": "tag", "tag": "lives_in_beijing"}}
    assert client.post("/api/v1/segments", json={"definition": seg}, headers=head).status_code in (
        200, 201)  # fmt: skip
    refused = client.delete(f"{api}/lives_in_beijing", headers=head)
    assert refused.status_code == 409 and "segment 'bj'" in refused.json()["detail"]
    assert client.delete("/api/v1/segments/bj", headers=head).status_code in (200, 204)
    assert client.delete(f"{api}/lives_in_beijing", headers=b01).status_code == 403
    gone = client.delete(f"{api}/lives_in_beijing", headers=head)
    assert gone.status_code == 200 and gone.json()["archived_at"] is not None
    assert "lives_in_beijing" not in [t["name"] for t in client.get(api, headers=head).json()]
    everything = client.get(f"{api}?include_archived=true", headers=head).json()
    assert "lives_in_beijing" in [t["name"] for t in everything]
    actions = _actions(client)
    assert actions.count("tag.update") == 1 and actions.count("tag.archive") == 1
    assert actions.count("tag.prune") == 1
