"""Strategy API: maker-checker over HTTP, launch in the caller's scope, dry run, stats."""
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from access.fixtures import HOMES, add_user, app, client, settings, store_url  # noqa: F401
from opsloop.strategy.policy import unit_hash

ALL = {"kind": "attribute", "field": "org_path", "op": "starts_with", "value": "/HO/"}


def _doc() -> dict[str, Any]:
    return {
        "id": "j1",
        "name": "Hello",
        "nodes": [
            {
                "id": "e",
                "kind": "segment_entry",
                "config": {"segment": {"name": "all", "root": ALL}},
            },
            {"id": "tag", "kind": "tag", "config": {"op": "add", "tag": "hello"}},
        ],
        "edges": [{"from": "e", "to": "tag"}],
    }


def test_journey_flow_over_http(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    maker = add_user(store, "maker", roles=["branch_operator"], org_id="B01")
    checker = add_user(store, "checker", roles=["approver"])
    api = "/api/v1/journeys"
    bad = {**_doc(), "edges": [{"from": "e", "to": "nowhere"}]}
    r = client.post(f"{api}/validate", json={"journey": bad}, headers=maker)
    assert r.status_code == 400 and "edges[0].to" in r.text
    assert (
        client.post(f"{api}/validate", json={"journey": _doc()}, headers=checker).status_code == 403
    )
    assert client.post(api, json={"journey": _doc()}, headers=maker).json()["status"] == "draft"
    assert client.post(f"{api}/j1/submit", headers=maker).json()["status"] == "submitted"
    assert client.post(f"{api}/j1/approve", headers=maker).status_code == 403  # no journey:approve
    assert client.post(f"{api}/j1/approve", headers=checker).json()["approved_by"] == "checker"
    forecast = client.post(f"{api}/dry-run", json={"journey": _doc()}, headers=maker).json()
    r = client.post(f"{api}/j1/launch", headers=maker)
    assert r.status_code == 200, r.text
    entry = r.json()["entry"]
    in_b01 = np.array([c for c, (org, _) in HOMES.items() if org.startswith("B01")], dtype=np.int64)
    control = unit_hash(in_b01, "opsloop-global-control") < 0.05
    assert entry["candidates"] == len(in_b01) == forecast["candidates"]
    assert entry["entered"] == (~control).sum() == forecast["entered"]
    stats = client.get(f"{api}/j1/stats", headers=maker).json()
    assert stats["1"]["nodes"]["tag"]["done"] == (~control).sum()
    assert client.post(f"{api}/j1/pause", headers=maker).json()["status"] == "paused"
    assert client.post(f"{api}/j1/pause", headers=maker).status_code == 409
    assert client.get(f"{api}/j1/stats").status_code == 401


def test_webhook_hosts_are_checked_against_reach_json_over_http(client: TestClient) -> None:
    from opsloop.reach.config import ReachConfig

    store = client.app.state.store  # type: ignore[attr-defined]
    maker = add_user(store, "maker", roles=["branch_operator"], org_id="B01")
    hook = {"kind": "webhook", "url": "https://gw.example/", "secret": "s" * 16}
    client.app.state.reach_config = ReachConfig.model_validate(  # type: ignore[attr-defined]
        {"channels": {"webhook": {**hook, "allow_hosts": ["crm.bank.example"]}}}
    )
    doc = _doc()
    call = {"id": "tag", "kind": "webhook", "config": {"url": "https://evil.example/x"}}
    doc["nodes"] = [doc["nodes"][0], call]
    api = "/api/v1/journeys"
    for path in (f"{api}/validate", api):
        r = client.post(path, json={"journey": doc}, headers=maker)
        assert r.status_code == 400 and "nodes[1].config.url" in r.text, r.text
        assert "evil.example" in r.text
    call["config"]["url"] = "https://crm.bank.example/leads/{{ customer_id }}"
    assert client.post(api, json={"journey": doc}, headers=maker).json()["status"] == "draft"
