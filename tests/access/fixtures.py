"""A tiny bank for access tests: org tree HO → B01 (S01, S02), B02 (S01), twelve customers.

Counts by scope: HO 12, B01 7, B01S01 4, B02 5; RM1 has customers 1 and 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsloop.access import credentials, users
from opsloop.access.config import AccessSettings
from opsloop.access.crypto import PII_FIELDS, PiiCipher
from opsloop.access.masking import MASKERS
from opsloop.access.permissions import PERMISSIONS
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.access.schemas import TokenCreate, UserCreate
from opsloop.api.app import create_app
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.store.models import OrgUnit
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMER_PII, CUSTOMERS

PASSWORD = "Correct-Horse-42!"
ORGS = [
    ("HO", None, "head_office", "/HO/"),
    ("B01", "HO", "branch", "/HO/B01/"),
    ("B01S01", "B01", "sub_branch", "/HO/B01/B01S01/"),
    ("B01S02", "B01", "sub_branch", "/HO/B01/B01S02/"),
    ("B02", "HO", "branch", "/HO/B02/"),
    ("B02S01", "B02", "sub_branch", "/HO/B02/B02S01/"),
]
# customer_id → (org_id, rm_id)
HOMES: dict[int, tuple[str, str | None]] = {
    1: ("B01S01", "RM1"),
    2: ("B01S01", "RM1"),
    3: ("B01S01", "RM3"),
    4: ("B01S01", None),
    5: ("B01S02", "RM2"),
    6: ("B01S02", "RM2"),
    7: ("B01S02", None),
    8: ("B02S01", "RM4"),
    9: ("B02S01", "RM4"),
    10: ("B02S01", "RM4"),
    11: ("B02S01", None),
    12: ("B02S01", None),
}
PATHS = {o[0]: o[3] for o in ORGS}


def clear_pii(cid: int) -> dict[str, str]:
    return {
        "name": f"张{cid:02d}丰",
        "phone": f"1381234{cid:04d}",
        "email": f"user{cid}@example.com",
        "id_number": f"11010119900307{cid:04d}",
    }


def _default(field: pa.Field) -> Any:
    t = field.type
    if pa.types.is_string(t):
        return "x"
    if pa.types.is_boolean(t):
        return False
    if pa.types.is_date(t):
        return date(2020, 1, 1)
    if pa.types.is_floating(t):
        return 1.0
    if pa.types.is_integer(t):
        return 1
    return None


def customers_table() -> pa.Table:
    rows = []
    for cid, (org, rm) in HOMES.items():
        row = {f.name: _default(f) for f in CUSTOMERS.schema}
        pii = clear_pii(cid)
        row |= {
            "customer_id": cid,
            "org_id": org,
            "org_path": PATHS[org],
            "rm_id": rm,
            "city": "=cmd|' /C calc'!A0" if cid == 1 else "Beijing",
            "source": "test",
        }
        row |= {f"{f}_masked": MASKERS[f](pii[f]) for f in PII_FIELDS}
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=CUSTOMERS.schema)


def pii_table(cipher: PiiCipher) -> pa.Table:
    rows = []
    for cid in HOMES:
        pii = clear_pii(cid)
        rows.append(
            {"customer_id": cid} | {f"{f}_enc": cipher.encrypt(f, pii[f]) for f in PII_FIELDS}
        )
    return pa.Table.from_pylist(rows, schema=CUSTOMER_PII.schema)


def seed_bank(settings: Settings) -> None:
    settings.ensure_home()
    wh = Warehouse.open(settings.warehouse)
    try:
        cipher = PiiCipher.from_secret(settings.resolved_secret_key())
        wh.replace_tables({"customers": customers_table(), "customer_pii": pii_table(cipher)})
    finally:
        wh.close()
    store = Store.open(settings.database_url)
    try:
        with store.session() as s:
            for org_id, parent, level, path in ORGS:
                s.add(OrgUnit(org_id=org_id, parent_id=parent, level=level, name=org_id, path=path))
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{home / 'opsloop.db'}"


@pytest.fixture
def settings(home: Path, store_url: str) -> Settings:
    return Settings(home=home, database_url=store_url)


OPEN_LIMITS = AccessSettings(rate_per_minute=1e7, rate_burst=1_000_000)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    seed_bank(settings)
    return create_app(settings, access=OPEN_LIMITS, local_token="local-test-token")


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def add_user(
    store: Store,
    username: str,
    *,
    roles: list[str],
    org_id: str = "HO",
    rm_id: str | None = None,
    scopes: list[str] | None = None,
) -> dict[str, str]:
    """Create a user (password ``PASSWORD``) and return bearer headers for a token of theirs."""
    with store.session() as s:
        if users.by_username(s, username) is None:
            body = UserCreate(
                username=username, password=PASSWORD, org_id=org_id, rm_id=rm_id, roles=roles
            )
            users.create_user(session=s, actor=LOCAL_OPERATOR, body=body)
        token = credentials.create_token(
            session=s,
            actor=LOCAL_OPERATOR,
            body=TokenCreate(name="t", username=username, scopes=scopes or sorted(PERMISSIONS)),
        )
    return {"Authorization": f"Bearer {token.token}"}
