"""Segments over HTTP: a branch sees only its own customers in a segment head office shares.

The access fixture bank: HO 12 customers, B01 7 (ids 1–7), B02 5 (ids 8–12); customer 1's
city is a CSV formula, every other customer lives in Beijing.
"""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import select

from access.fixtures import HOMES, add_user
from opsloop.access.models import AuditEntry

BEIJING = {
    "id": "beijing",
    "name": "Beijing customers",
    "root": {"kind": "attribute", "field": "city", "op": "=", "value": "Beijing"},
}
SEG = ["segment:read", "segment:write", "segment:export", "customer:read"]


def _audit(client: TestClient, action: str) -> list[AuditEntry]:
    store = client.app.state.store  # type: ignore[attr-defined]
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_segment_lifecycle_sharing_scope_and_export(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    head = add_user(store, "head", roles=["admin"])
    b01 = add_user(store, "b01", roles=["operator"], org_id="B01", scopes=SEG)
    b02 = add_user(store, "b02", roles=["operator"], org_id="B02", scopes=SEG)
    api = "/api/v1/segments"

    bad = BEIJING | {"root": {"kind": "attribute", "field": "city", "op": ">", "value": 3}}
    checked = client.post(f"{api}/validate", json={"definition": bad}, headers=head).json()
    assert checked["valid"] is False and checked["issues"][0]["where"] == "root.value"
    resp = client.post(api, json={"definition": bad}, headers=head)
    assert resp.status_code == 400 and resp.json()["where"] == "root.value"

    made = client.post(api, json={"definition": BEIJING}, headers=head)
    assert made.status_code == 201 and made.json()["version"] == 1
    pv = client.post(f"{api}/preview", json={"definition": BEIJING, "sample": 3}, headers=b01)
    assert pv.status_code == 200 and pv.json()["count"] == 6  # B01 ids 2..7
    assert client.get(f"{api}/beijing", headers=b01).status_code == 404  # not shared yet
    shared = client.put(f"{api}/beijing/share", json={"org_paths": ["/HO/B01/"]}, headers=head)
    assert shared.json()["shared_with"] == ["/HO/B01/"]
    assert client.get(f"{api}/beijing", headers=b01).status_code == 200
    assert client.get(f"{api}/beijing", headers=b02).status_code == 404
    assert "beijing" in {s["segment_id"] for s in client.get(api, headers=b01).json()["items"]}

    snap = client.post(f"{api}/beijing/materialise", json={}, headers=head)
    assert snap.status_code == 200 and snap.json()["size"] == 11
    assert client.post(f"{api}/beijing/materialise", headers=b01).status_code == 403
    out = client.get(f"{api}/beijing/export", headers=b01)
    assert out.status_code == 200, out.text
    rows = list(csv.DictReader(io.StringIO(out.text)))
    assert {int(r["customer_id"]) for r in rows} == {2, 3, 4, 5, 6, 7}
    assert all("****" in r["phone"] and "丰" not in r["name"] for r in rows)
    assert client.get(f"{api}/beijing/export?reveal=true", headers=b01).status_code == 403
    assert client.get(f"{api}/beijing/history", headers=b01).json()["items"][0]["size"] == 6
    assert client.get(f"{api}/beijing/history", headers=head).json()["items"][0]["size"] == 11
    exports = _audit(client, "segment.export")
    assert [e.actor.split("#")[0] for e in exports] == ["b01"]
    assert exports[0].after is not None and exports[0].after["rows"] == 6

    v2 = BEIJING | {"name": "renamed"}
    assert client.put(f"{api}/beijing", json={"definition": v2}, headers=b01).status_code == 403
    assert (
        client.put(f"{api}/beijing", json={"definition": v2}, headers=head).json()["version"] == 2
    )

    ids = "customer_id\n2\n3\n9\n"
    files = {"file": ("ids.csv", ids, "text/csv")}
    form = {"segment_id": "mine", "name": "my list"}
    refused = client.post(f"{api}/upload", files=files, data=form, headers=b01)
    assert refused.status_code == 400 and "9" in refused.json()["detail"]
    files = {"file": ("ids.csv", "2\n3\n", "text/csv")}
    ok = client.post(f"{api}/upload", files=files, data=form, headers=b01)
    assert ok.status_code == 201 and ok.json()["size"] == 2
    assert client.delete(f"{api}/mine", headers=b01).json()["status"] == "archived"
    assert set(HOMES) >= {2, 3}
