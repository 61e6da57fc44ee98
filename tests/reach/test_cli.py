"""`opsloop reach ...`: a real dispatch worker process (SIGTERM = finish and exit),
templates, and contact history from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from access.fixtures import seed_bank
from opsloop.cli.main import app
from opsloop.errors import OpsloopError
from opsloop.reach import outbox
from opsloop.reach.models import ContactRow, OutboxRow
from opsloop.reach.outbox import Message
from opsloop.settings import Settings
from opsloop.store import Store

from .gateway import Gateway, running

SECRET = b"gateway-secret-0123456789"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_dispatch_worker_sends_everything_then_stops_on_sigterm(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{home / 'opsloop.db'}"
    store = Store.open(db, migrate=True)
    with store.session() as s:
        outbox.enqueue(
            s, [Message(f"k{i}", "sms", i, "c", {"text": "您好"}) for i in range(60)], now=NOW
        )
    gw = Gateway(SECRET)
    with running(gw):
        cfg = {"channels": {"sms": {"kind": "webhook", "url": gw.url, "secret": SECRET.decode()}}}
        (home / "reach.json").write_bytes(orjson.dumps(cfg))
        env = os.environ | {"OPSLOOP_HOME": str(home), "OPSLOOP_DATABASE_URL": db}
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsloop.cli.main", "reach", "dispatch"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while len(gw.delivered) < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None  # still serving: it runs until told to stop
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"dispatched 60 messages" in err
    assert set(gw.delivered) == {f"k{i}" for i in range(60)} and max(gw.calls.values()) == 1
    with store.session() as s:
        assert set(s.scalars(select(OutboxRow.status))) == {"sent"}
    store.close()


def test_template_create_preview_and_history(home: Path, tmp_path: Path) -> None:
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'opsloop.db'}")
    seed_bank(settings)
    runner = CliRunner()
    g = ["--home", str(home), "--database-url", settings.database_url]
    doc = tmp_path / "t.json"
    doc.write_bytes(
        orjson.dumps({"template_id": "hi", "channel": "sms", "body": "{{ customer.name }}好"})
    )
    r = runner.invoke(app, [*g, "reach", "template", "create", str(doc), "-f", "json"])
    assert r.exit_code == 0, r.output
    saved = orjson.loads(r.output)
    assert saved["version"] == 1 and saved["sms"]["segments"] == 1
    r = runner.invoke(app, [*g, "reach", "template", "preview", "hi", "--customer", "3"])
    assert r.exit_code == 0 and "张*" in r.output and "张03丰" not in r.output
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"template_id": "x", "channel": "sms", "body": "{{ nope }}"}))
    r = runner.invoke(app, [*g, "reach", "template", "create", str(bad)])
    assert r.exit_code != 0
    store = Store.open(settings.database_url)
    with store.session() as s:
        s.add(ContactRow(customer_id=3, campaign="c9", channel="sms", kind="sent", at=NOW))
        s.add(ContactRow(customer_id=4, campaign="c9", channel="sms", kind="clicked", at=NOW))
    store.close()
    r = runner.invoke(app, [*g, "reach", "history", "--customer", "3", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert [(c["customer_id"], c["kind"]) for c in orjson.loads(r.output)] == [(3, "sent")]
    r = runner.invoke(app, [*g, "reach", "history", "--campaign", "c9", "-f", "json"])
    assert sorted(c["customer_id"] for c in orjson.loads(r.output)) == [3, 4]


def test_slot_add_and_show(home: Path, tmp_path: Path) -> None:
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'opsloop.db'}")
    seed_bank(settings)
    runner = CliRunner()
    g = ["--home", str(home), "--database-url", settings.database_url]
    window = {
        "starts_at": (NOW - timedelta(days=1)).isoformat(),
        "ends_at": (NOW + timedelta(days=3650)).isoformat(),
    }
    doc = tmp_path / "s.json"
    doc.write_bytes(orjson.dumps({"slot": "home", "title": "通用", "priority": 1} | window))
    r = runner.invoke(app, [*g, "reach", "slot", "add", str(doc), "-f", "json"])
    assert r.exit_code == 0, r.output
    vip = tmp_path / "vip.json"
    body = {"slot": "home", "title": "VIP", "priority": 5, "customer_ids": [3]} | window
    vip.write_bytes(orjson.dumps(body))
    assert runner.invoke(app, [*g, "reach", "slot", "add", str(vip)]).exit_code == 0
    shown = {}
    for c in (3, 4):
        r = runner.invoke(
            app, [*g, "reach", "slot", "show", "home", "--customer", str(c), "-f", "json"]
        )
        assert r.exit_code == 0, r.output
        shown[c] = orjson.loads(r.output)["content"]["title"]
    assert shown == {3: "VIP", 4: "通用"}
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"slot": "home", "title": "x", "activity_id": "nope"} | window))
    r = runner.invoke(app, [*g, "reach", "slot", "add", str(bad)])
    assert r.exit_code != 0
    assert isinstance(r.exception, OpsloopError) and r.exception.where == "activity_id"
