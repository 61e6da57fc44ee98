"""The file-upload entry: parsing, validation, the upload route (SQLite and PostgreSQL)
within the caller's scope, all-or-nothing refusals, retries, the CLI and the dry run."""
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.strategy.helpers import customers

from access.fixtures import add_user, app, client, settings, store_url  # noqa: F401
from opsloop.access.models import AuditEntry
from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError
from opsloop.store import Store
from opsloop.strategy import fileentry, service
from opsloop.strategy.journey import JourneyValidationError, validate_journey
from opsloop.strategy.models import CustomerState
from opsloop.warehouse import Warehouse

API = "/api/v1/journeys"


def _doc(jid: str = "fj", **config: Any) -> dict[str, Any]:
    return {
        "id": jid,
        "name": "From a file",
        "nodes": [
            {"id": "upload", "kind": "file_entry", "config": config},
            {"id": "tag", "kind": "tag", "config": {"op": "add", "tag": "listed"}},
        ],
        "edges": [{"from": "upload", "to": "tag"}],
    }


# ---- the document and the parser (pure) ---------------------------------------------


def test_file_entry_config_is_validated_at_its_path() -> None:
    node = validate_journey(_doc(id_column="客户号", max_rows=10)).node("upload")
    assert (node.config.id_column, node.config.max_rows) == ("客户号", 10)
    assert validate_journey(_doc()).node("upload").config.id_column == "customer_id"
    for bad, where in (({"max_rows": 0}, "max_rows"), ({"id_column": "a,b"}, "id_column")):
        with pytest.raises(JourneyValidationError) as exc:
            validate_journey(_doc(**bad))
        assert exc.value.where == f"nodes[0].config.{where}"
    with pytest.raises(JourneyValidationError, match="incoming"):
        validate_journey({**_doc(), "edges": [{"from": "tag", "to": "upload"}]})


def test_parse_reads_a_header_or_one_id_per_line() -> None:
    got = fileentry.parse(b'\xef\xbb\xbfname,Customer_ID\r\na,3\r\n\r\nb,"1"\nc,3\n')
    assert got.ids.tolist() == [1, 3] and got.rows == 3 and got.lines == {3: 2, 1: 4}
    assert fileentry.parse(b"7\n5\n7").ids.tolist() == [5, 7]
    assert fileentry.parse(b"no,id\nx,9\n", id_column="ID").ids.tolist() == [9]


@pytest.mark.parametrize(
    ("data", "kw", "message", "where"),
    [
        (b"", {}, "empty", "file"),
        (b" \n\n", {}, "empty", "file"),
        (b"customer_id\n", {}, "no customer ids", "file"),
        (b"customer_id\n1\n\xff\xfe\n", {}, "not UTF-8", "file line 3"),
        (b"name,cid\nx,1\n", {}, "no column 'customer_id'", "file line 1"),
        (
            b"customer_id\n1\n2x\n",
            {},
            "'2x' is not a customer id",
            "file line 3, column customer_id",
        ),
        (b"1\n\xef\xbc\x94\n", {}, "is not a customer id", "file line 2, column 1"),
        (b"customer_id,n\n1,a\n,b\n", {}, "no value", "file line 3, column customer_id"),
        (b"customer_id\n=cmd|' /C calc'!A0\n", {}, "spreadsheet formula", "file line 2"),
        (b"customer_id\n-5\n", {}, "spreadsheet formula", "file line 2"),
        (b"1\n2\n3\n", {"max_rows": 2}, "more than 2 ids", "file line 3"),
        (b"1\n2\x00\n", {}, "NUL", "file line 2"),
        (b"customer_id\n1234567890123456789\n", {}, "not a customer id", "file line 2"),
    ],
)
def test_parse_refuses_bad_input_naming_the_line(
    data: bytes, kw: dict[str, Any], message: str, where: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as exc:
        fileentry.parse(data, **kw)
    assert exc.value.where is not None and exc.value.where.startswith(where)


def test_entry_key_depends_on_the_list_not_the_bytes() -> None:
    a = fileentry.parse(b"customer_id\r\n2\r\n1\r\n").ids
    b = fileentry.parse(b"1\n2\n2\n").ids
    key = fileentry.entry_key("upload", a)
    assert key == fileentry.entry_key("upload", b) and key.startswith("file:") and len(key) <= 64
    assert key != fileentry.entry_key("other", a)
    assert key != fileentry.entry_key("upload", a[:1])


# ---- the upload route ---------------------------------------------------------------


def _launch(client: TestClient, maker: dict[str, str], checker: dict[str, str]) -> None:
    assert client.post(API, json={"journey": _doc()}, headers=maker).status_code == 200
    assert client.post(f"{API}/fj/submit", headers=maker).status_code == 200
    assert client.post(f"{API}/fj/approve", headers=checker).status_code == 200
    r = client.post(f"{API}/fj/launch", headers=maker)
    assert r.status_code == 200 and r.json()["entry"] is None, r.text  # a file entry waits


def _post(
    client: TestClient, headers: dict[str, str], data: bytes, node: str | None = "upload"
) -> Any:
    params = {} if node is None else {"node": node}
    files = {"file": ("ids.csv", data, "text/csv")}
    return client.post(f"{API}/fj/upload", params=params, files=files, headers=headers)


def _entered(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(CustomerState)) or 0)


def test_upload_enters_all_or_nobody_within_the_scope(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    maker = add_user(store, "maker", roles=["branch_operator"], org_id="B01")  # customers 1–7
    checker = add_user(store, "checker", roles=["approver"])
    assert _post(client, maker, b"1\n").status_code == 409  # no such journey running yet
    _launch(client, maker, checker)
    bad = {
        "not UTF-8": b"customer_id\n1\n\xff\n",
        "no such column": b"cid\n1\n",
        "not an id on line 3": b"customer_id\n1\nabc\n",
        "empty": b"",
        "formula": b"customer_id\n1\n@SUM(A1)\n",
        "outside the scope": b"customer_id\n1\n8\n99\n",
    }
    for what, data in bad.items():
        r = _post(client, maker, data)
        assert r.status_code == 400, (what, r.text)
        assert r.json()["where"].startswith("file"), what
        assert _entered(store) == 0, what
    r = _post(client, maker, bad["outside the scope"])
    assert "8 (line 3), 99 (line 4)" in r.json()["detail"] and r.json()["where"] == "file line 3"
    too_big = b"1\n" * (6 * 1024 * 1024)  # over the server's body cap (10 MiB by default)
    assert _post(client, maker, too_big).status_code == 413
    assert _post(client, maker, b"1\n", node="tag").json()["where"] == "node"
    assert _post(client, maker, b"1\n", node="nope").status_code == 400
    assert _entered(store) == 0
    r = _post(client, maker, b"customer_id,note\n3,x\n1,y\n2,z\n3,again\n", node=None)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["rows"], got["unique_ids"], got["skipped_reentry"]) == (4, 3, 0)
    assert got["entered"] + got["control"] == 3 and got["entry_key"].startswith("file:")
    assert got["stats"]["tag"]["done"] == got["entered"]
    assert _entered(store) == 3
    again = _post(client, maker, b"2\r\n1\r\n3\r\n").json()  # the same list, saved otherwise
    assert (again["entered"], again["control"], again["skipped_reentry"]) == (0, 0, 3)
    assert again["entry_key"] == got["entry_key"] and _entered(store) == 3
    with store.session() as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == "journey.upload")).all()
    assert [a.after["entered"] for a in audits] == [got["entered"], 0]  # type: ignore[index]
    assert audits[0].target_id == "fj@v1/upload" and audits[0].actor.startswith("maker")
    viewer = add_user(store, "viewer", roles=["approver"])
    assert _post(client, viewer, b"1\n").status_code == 403  # /enter's permission
    assert client.post(f"{API}/fj/pause", headers=maker).status_code == 200
    assert _post(client, maker, b"4\n").status_code == 409  # only while running
    assert _entered(store) == 3


def test_enter_api_enters_only_the_scope_and_is_audited(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    maker = add_user(store, "maker", roles=["branch_operator"], org_id="B01")
    _launch(client, maker, add_user(store, "checker", roles=["approver"]))
    body = {"customer_ids": [1, 8, 99], "entry_key": "crm-1"}  # 8: B02, 99: nobody
    got = client.post(f"{API}/fj/enter", json=body, headers=maker).json()
    assert got["candidates"] == 1 and got["entered"] + got["control"] == 1
    with store.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "journey.enter")).one()
    assert entry.after == {  # type: ignore[comparison-overlap]
        "entry_key": "crm-1",
        "requested": 3,
        "in_scope": 1,
        "entered": got["entered"],
        "control": got["control"],
        "skipped_reentry": 0,
    }
    for node in ("tag", "nope"):  # only at an entry node
        r = client.post(f"{API}/fj/enter", json={**body, "entry_node": node}, headers=maker)
        assert r.status_code == 400 and r.json()["where"] == "entry_node", r.text


# ---- CLI and dry run ----------------------------------------------------------------


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSLOOP_HOME": str(home), "OPSLOOP_SECRET_KEY": "t" * 40}
    for var in ("OPSLOOP_DATABASE_URL", "OPSLOOP_WAREHOUSE", "OPSLOOP_REDIS_URL"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "opsloop.cli.main", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cli_upload_and_dry_run_from_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    wh = Warehouse.open(str(home / "warehouse.duckdb"))
    wh.replace_tables({"customers": customers(50)})
    wh.close()
    doc = tmp_path / "fj.json"
    doc.write_text(json.dumps(_doc()))
    ids = tmp_path / "ids.csv"
    ids.write_text("customer_id\n1\n2\n3\n")
    r = _run(home, "journey", "dry-run", str(doc), "--format", "json")
    assert r.returncode != 0 and "--entry-file" in r.stderr
    r = _run(home, "journey", "dry-run", str(doc), "--entry-file", str(ids), "-f", "json")
    assert r.returncode == 0, r.stderr
    forecast = json.loads(r.stdout)
    assert forecast["candidates"] == 3 and forecast["nodes"]["tag"]["done"] == forecast["entered"]
    store = Store.open(f"sqlite:///{home / 'opsloop.db'}")
    try:
        maker = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
        checker = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
        with store.session() as s:
            service.save_journey(session=s, principal=maker, doc=_doc())
            for who, action in ((maker, "submit"), (checker, "approve"), (maker, "launch")):
                service.transition(session=s, principal=who, journey_id="fj", action=action)
        bad = tmp_path / "bad.csv"
        bad.write_text("customer_id\n1\n51\n")  # 51 is no customer
        r = _run(home, "journey", "upload", "fj", str(bad))
        assert r.returncode != 0 and "file line 3" in r.stderr and _entered(store) == 0
        r = _run(home, "journey", "upload", "fj", str(ids), "--node", "upload", "-f", "json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["entered"] + out["control"] == 3 and _entered(store) == 3
        r = _run(home, "journey", "upload", "fj", str(ids))
        said = " ".join(r.stderr.split())  # Rich wraps at the terminal's width
        assert r.returncode == 0 and "entered 0" in said and "skipped (re-entry) 3" in said
        assert _entered(store) == 3
    finally:
        store.close()
