"""Cron schedules: parsing, matching, and recurring segment entries that enter once per firing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from tests.strategy.helpers import NOW, make_warehouse
from tests.strategy.test_service import MAKER, _launch

from opsloop.store import Store
from opsloop.strategy import service
from opsloop.strategy.cron import last_fire, parse
from opsloop.strategy.journey import JourneyValidationError, validate_journey
from opsloop.strategy.policy import ContactPolicy, GlobalControl

SH = ZoneInfo("Asia/Shanghai")


def test_parse_and_match() -> None:
    c = parse("*/15 9-17 * * 1-5")
    assert c.matches(dt.datetime(2026, 11, 23, 9, 45)) and not c.matches(
        dt.datetime(2026, 11, 23, 9, 50)
    )
    assert not c.matches(dt.datetime(2026, 11, 22, 9, 45))  # Sunday
    either = parse("0 8 1 * 0")  # the 1st of the month or a Sunday, as cron does
    assert either.matches(dt.datetime(2026, 11, 1, 8, 0)) and either.matches(
        dt.datetime(2026, 11, 22, 8, 0)
    )
    assert parse("0 8 * * 7").matches(dt.datetime(2026, 11, 22, 8, 0))  # 7 is Sunday too
    with pytest.raises(ValueError, match="hour"):
        parse("0 25 * * *")
    with pytest.raises(ValueError, match="5 fields"):
        parse("0 9 * *")


def test_last_fire_in_bank_zone() -> None:
    got = last_fire("0 9 * * 1", NOW, SH)  # NOW is Monday 10:00 in Shanghai
    assert got == dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
    assert last_fire("0 9 29 2 *", NOW, SH) is None  # not within the lookback


def test_bad_schedule_names_the_field() -> None:
    doc = {
        "id": "c",
        "name": "c",
        "nodes": [
            {
                "id": "e",
                "kind": "segment_entry",
                "config": {"segment_id": "s", "schedule": "61 * * * *"},
            }
        ],
    }
    with pytest.raises(JourneyValidationError) as info:
        validate_journey(doc)
    assert info.value.where == "nodes[0].config.schedule" and "minute" in info.value.message


def test_recurring_entry_enters_once_per_firing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    wh = make_warehouse(tmp_path / "wh.duckdb", 40)
    seg = {
        "name": "all",
        "root": {"kind": "attribute", "field": "org_path", "op": "starts_with", "value": "/HO/"},
    }
    doc = {
        "id": "weekly",
        "name": "weekly",
        "reentry": {"mode": "always"},
        "nodes": [
            {
                "id": "e",
                "kind": "segment_entry",
                "config": {"segment": seg, "schedule": "0 9 * * 1"},
            },
            {"id": "t", "kind": "tag", "config": {"op": "add", "tag": "weekly"}},
        ],
        "edges": [{"from": "e", "to": "t"}],
    }
    _launch(store, doc)
    policy = ContactPolicy(global_control=GlobalControl(share=0.0))
    kw = {"store": store, "wh": wh, "principal": MAKER, "journey_id": "weekly", "policy": policy}
    first = service.tick_journey(now=NOW, **kw)  # type: ignore[arg-type]
    again = service.tick_journey(now=NOW + dt.timedelta(minutes=30), **kw)  # type: ignore[arg-type]
    week = service.tick_journey(now=NOW + dt.timedelta(days=7), **kw)  # type: ignore[arg-type]
    assert first["v1/e"]["entered"] == 40
    assert again["v1/e"]["entered"] == 0  # same firing: nobody twice
    assert week["v1/e"]["entered"] == 40  # next Monday, re-entry "always"
