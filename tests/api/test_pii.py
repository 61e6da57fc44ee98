"""PII is masked by default; reveal needs pii:view and is audited; exports are safe."""

from __future__ import annotations

from fastapi.testclient import TestClient

from access.fixtures import add_user


def _audit(client: TestClient, action: str) -> list[dict[str, object]]:
    admin = add_user(client.app.state.store, "auditor1", roles=["auditor"])  # type: ignore[attr-defined]
    resp = client.get(f"/api/v1/audit?action={action}", headers=admin)
    assert resp.status_code == 200
    rows: list[dict[str, object]] = resp.json()
    return rows


def test_masked_by_default_and_revealed_with_pii_view(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    plain = add_user(store, "op", roles=["operator"], scopes=["customer:read"])
    got = client.get("/api/v1/customers/1", headers=plain).json()
    assert got["phone"] == "138****0001" and got["id_number"] == "110***********0001"
    assert got["name"] == "张***" and got["email"] == "u***@example.com"
    assert client.get("/api/v1/customers/1?reveal=true", headers=plain).status_code == 403
    boss = add_user(store, "boss", roles=["admin"])
    clear = client.get("/api/v1/customers/1?reveal=true", headers=boss).json()
    assert clear["phone"] == "13812340001" and clear["name"] == "张01丰"
    views = _audit(client, "pii.view")
    assert [(v["actor"], v["target_id"]) for v in views] == [("boss#token2", "1")]


def test_export_is_masked_formula_safe_and_audited(client: TestClient) -> None:
    h = add_user(client.app.state.store, "br", roles=["branch_operator"], org_id="B01")  # type: ignore[attr-defined]
    resp = client.get("/api/v1/customers/export", headers=h)
    assert resp.headers["content-type"].startswith("text/csv")
    assert "13812340001" not in resp.text and "138****0001" in resp.text
    assert "'=cmd|" in resp.text and ",=cmd" not in resp.text
    assert client.get("/api/v1/customers/export?reveal=true", headers=h).status_code == 403
    (entry,) = _audit(client, "customer.export")
    assert entry["actor"] == "br#token1" and entry["after"]["rows"] == 7  # type: ignore[index]
