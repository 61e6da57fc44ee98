"""The routes the console's journey list, canvas and template editor need, over HTTP.

Journeys: list (status filter, pages, last change), versions, open a version; an edit of a
submitted journey becomes a new version and the old one stays as it was. Templates: the
catalogue (latest version of each), one template to edit, and the live preview of an
unsaved draft for a real customer in the caller's scope.
"""
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from access.fixtures import HOMES, add_user, app, client, settings, store_url  # noqa: F401

API = "/api/v1/journeys"
ALL = {"kind": "attribute", "field": "org_path", "op": "starts_with", "value": "/HO/"}


def _doc(jid: str, tag: str = "hello") -> dict[str, Any]:
    return {
        "id": jid,
        "name": f"Journey {jid}",
        "nodes": [
            {
                "id": "e",
                "kind": "segment_entry",
                "config": {"segment": {"name": "all", "root": ALL}},
            },
            {"id": "t", "kind": "tag", "config": {"op": "add", "tag": tag}},
        ],
        "edges": [{"from": "e", "to": "t"}],
    }


def test_list_filter_page_versions_and_open_a_version(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    maker = add_user(store, "maker", roles=["operator"])
    checker = add_user(store, "checker", roles=["approver"])
    analyst = add_user(store, "analyst", roles=["observer"])  # no analysis:read
    for jid in ("a1", "a2", "a3"):
        assert client.post(API, json={"journey": _doc(jid)}, headers=maker).status_code == 200
    assert client.post(f"{API}/a2/submit", headers=maker).status_code == 200
    # An edit of the submitted a2 is a new draft version; v1 keeps its document and status.
    r = client.post(API, json={"journey": _doc("a2", tag="v2")}, headers=maker)
    assert r.json()["version"] == 2 and r.json()["status"] == "draft"

    page = client.get(API, headers=checker).json()  # the checker finds what to approve
    assert page["total"] == 3
    got = {i["journey_id"]: i for i in page["items"]}
    assert got["a2"]["version"] == 2 and got["a2"]["status"] == "draft"
    assert got["a1"]["owner"] == "maker" and got["a1"]["running_version"] is None
    assert got["a2"]["updated_at"] >= got["a2"]["created_at"]

    drafts = client.get(API, params={"status": "draft"}, headers=maker).json()
    assert sorted(i["journey_id"] for i in drafts["items"]) == ["a1", "a2", "a3"]
    assert client.get(API, params={"status": "submitted"}, headers=maker).json()["total"] == 0
    one = client.get(API, params={"limit": 2, "offset": 2}, headers=maker).json()
    two = client.get(API, params={"limit": 2}, headers=maker).json()
    assert one["total"] == 3 and len(one["items"]) == 1 and len(two["items"]) == 2
    seen = {i["journey_id"] for i in one["items"] + two["items"]}
    assert seen == {"a1", "a2", "a3"}  # the pages partition the list

    versions = client.get(f"{API}/a2/versions", headers=maker).json()
    assert [(v["version"], v["status"]) for v in versions] == [(2, "draft"), (1, "submitted")]
    assert versions[1]["submitted_by"] == "maker" and versions[0]["nodes"] == 2
    v1 = client.get(f"{API}/a2", params={"version": 1}, headers=checker).json()
    assert v1["definition"]["nodes"][1]["config"]["tag"] == "hello"
    latest = client.get(f"{API}/a2", headers=checker).json()
    assert latest["version"] == 2 and latest["definition"]["nodes"][1]["config"]["tag"] == "v2"

    assert client.get(API, params={"status": "bogus"}, headers=maker).status_code == 422
    assert client.get(f"{API}/a2", params={"version": 9}, headers=maker).status_code == 404
    assert client.get(f"{API}/nope/versions", headers=maker).status_code == 404
    assert client.get(API, headers=analyst).status_code == 403
    assert client.get(API).status_code == 401


def test_template_catalogue_edit_and_live_draft_preview(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    ops = add_user(store, "ops", roles=["operator"])
    b01 = add_user(store, "b01", roles=["operator"], org_id="B01")
    for body in ("v1 {{ customer.city }}", "v2 {{ customer.city }}"):
        t = {"template_id": "hello", "channel": "sms", "body": body}
        assert client.post("/api/v1/reach/templates", json=t, headers=ops).status_code == 201
    mail = {
        "template_id": "mail",
        "channel": "email",
        "subject": "Hi",
        "body": "x {{ unsubscribe_url }}",
    }
    assert client.post("/api/v1/reach/templates", json=mail, headers=ops).status_code == 201

    listed = client.get("/api/v1/reach/templates", headers=ops).json()
    assert [(t["template_id"], t["version"], t["channel"]) for t in listed] == [
        ("hello", 2, "sms"),
        ("mail", 1, "email"),
    ]
    sms = client.get("/api/v1/reach/templates", params={"channel": "sms"}, headers=ops).json()
    assert [t["template_id"] for t in sms] == ["hello"]
    got = client.get("/api/v1/reach/templates/hello", headers=ops).json()
    assert got["body"] == "v2 {{ customer.city }}" and got["channel"] == "sms"
    assert client.get("/api/v1/reach/templates/nope", headers=ops).status_code == 404

    cid = next(c for c, (org, _) in HOMES.items() if org.startswith("B01"))
    other = next(c for c, (org, _) in HOMES.items() if not org.startswith("B01"))
    draft = {"template_id": "hello", "channel": "sms", "body": "草稿 {{ customer.customer_id }}"}
    r = client.post(
        "/api/v1/reach/templates/preview",
        json={"definition": draft, "customer_id": cid},
        headers=b01,
    )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == f"草稿 {cid}" and r.json()["sms"]["segments"] == 1
    # nothing was saved: the stored latest is still v2
    assert client.get("/api/v1/reach/templates/hello", headers=ops).json()["body"].startswith("v2")
    out_of_scope = client.post(
        "/api/v1/reach/templates/preview",
        json={"definition": draft, "customer_id": other},
        headers=b01,
    )
    assert out_of_scope.status_code == 404
    typo = dict(draft, body="{{ customer.nmae }}")
    bad = client.post(
        "/api/v1/reach/templates/preview",
        json={"definition": typo, "customer_id": cid},
        headers=ops,
    )
    assert bad.status_code == 400 and bad.json()["where"] == "body"
