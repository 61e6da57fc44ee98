"""The demo creates sign-in accounts once, with working random passwords kept 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from opsloop.api.app import create_app
from opsloop.cli.demo_users import ensure_demo_users
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.store.models import OrgUnit


def test_demo_users_are_created_once_and_can_sign_in(home: Path) -> None:
    settings = get_settings()
    settings.ensure_home()
    store = Store.open(settings.database_url)
    with store.session() as s:
        s.add(OrgUnit(org_id="HO", parent_id=None, level="head_office", name="总行", path="/HO/"))
        s.add(OrgUnit(org_id="B01", parent_id="HO", level="branch", name="一分行", path="/HO/B01/"))
    store.close()
    made = ensure_demo_users(settings)
    assert made is not None and [m[0] for m in made] == ["admin", "branch01"]
    assert ensure_demo_users(settings) is None, "second run keeps existing users"
    kept = home / "demo-users.txt"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert kept.read_text().splitlines()[0].split("\t")[2] == made[0][2]
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        for name, _org, password in made:
            ok = client.post("/api/v1/auth/login", json={"username": name, "password": password})
            assert ok.status_code == 200, ok.text
        bad = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
        assert bad.status_code == 401
