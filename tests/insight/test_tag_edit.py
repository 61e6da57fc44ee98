"""Tags are edited (a new version, audited), archived (refused while segments or journeys
use them, naming which; audited) and their history is pruned by a retention in days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select

from opsloop.access.models import AuditEntry
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.insight.segments import store as segstore
from opsloop.insight.segments.errors import SegmentValidationError
from opsloop.insight.tags.service import (
    archive_tag,
    create_tag,
    due_tags,
    get_tag,
    list_tags,
    prune_history,
    run_tags,
    tag_references,
    tag_versions,
    update_tag,
)
from opsloop.store import Store
from opsloop.strategy.service import save_journey, transition
from opsloop.warehouse import Warehouse

from .conftest import AS_OF

BASE = {"owner": "ops-team", "category": "客户/风险"}
RISKY = {
    "type": "rule",
    "name": "risky",
    "condition": {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 4},
}


def audits(store: Store, action: str) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def values(wh: Warehouse, tag: str, day: dt.date = AS_OF) -> set[int]:
    q = f"select customer_id from tag_values where tag = '{tag}' and as_of = '{day}' and value_bool"
    return set(wh.sql(q).to_pandas().customer_id)


def risky_oracle(bank: dict[str, pa.Table], level: int) -> set[int]:
    c = bank["customers"].to_pandas()
    return set(c[c.kyc_risk_level.fillna(-1) >= level].customer_id)


@pytest.fixture
def env(bank: dict[str, pa.Table], tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    wh = Warehouse.open(":memory:")
    wh.replace_tables(bank)
    create_tag(store=store, doc={**BASE, **RISKY}, principal=LOCAL_OPERATOR)
    yield store, wh
    wh.close()
    store.close()


def test_edit_makes_a_new_version_and_the_next_run_uses_it(
    env: Any, bank: dict[str, pa.Table]
) -> None:
    store, wh = env
    run_tags(store=store, wh=wh, names=["risky"], as_of=AS_OF, principal=LOCAL_OPERATOR)
    assert values(wh, "risky") == risky_oracle(bank, 4)
    stricter = {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 5}
    info = update_tag(store=store, name="risky", principal=LOCAL_OPERATOR,
                      changes={"condition": stricter, "description": "KYC 5 only",
                               "owner": "risk-team", "schedule": "0 2 * * *"})  # fmt: skip
    assert (info.version, info.owner, info.schedule) == (2, "risk-team", "0 2 * * *")
    assert get_tag(store=store, name="risky").description == "KYC 5 only"
    day2 = AS_OF + dt.timedelta(days=1)
    run_tags(store=store, wh=wh, names=["risky"], as_of=day2, principal=LOCAL_OPERATOR)
    assert values(wh, "risky", day2) == risky_oracle(bank, 5) != risky_oracle(bank, 4)
    assert values(wh, "risky") == risky_oracle(bank, 4)  # yesterday's history unchanged
    versions = tag_versions(store=store, name="risky")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].definition["condition"]["value"] == 4
    assert versions[1].definition["condition"]["value"] == 5
    (entry,) = audits(store, "tag.update")
    assert entry.before["condition"]["value"] == 4 and entry.after["version"] == 2  # type: ignore[index]
    # the same values again change nothing: no version, no audit entry
    same = update_tag(store=store, name="risky", principal=LOCAL_OPERATOR,
                      changes={"owner": "risk-team"})  # fmt: skip
    assert same.version == 2 and len(audits(store, "tag.update")) == 1


def test_bad_edits_name_the_field_and_change_nothing(env: Any) -> None:
    store, _ = env
    bad_value = {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": "high"}
    with pytest.raises(SegmentValidationError) as err:
        update_tag(store=store, name="risky", changes={"condition": bad_value},
                   principal=LOCAL_OPERATOR)  # fmt: skip
    assert "condition.value" in [i.where for i in err.value.issues]
    with pytest.raises(SegmentValidationError) as err:
        update_tag(store=store, name="risky", changes={"schedule": "0 25 * * *"},
                   principal=LOCAL_OPERATOR)  # fmt: skip
    assert "schedule" in [i.where for i in err.value.issues]
    for key, value in (("name", "other"), ("type", "manual"), ("colour", "red")):
        with pytest.raises(InvalidInputError) as bad:
            update_tag(store=store, name="risky", changes={key: value}, principal=LOCAL_OPERATOR)
        assert bad.value.where == key
    with pytest.raises(NotFoundError):
        update_tag(store=store, name="nope", changes={"owner": "x"}, principal=LOCAL_OPERATOR)
    assert get_tag(store=store, name="risky").version == 1
    assert len(tag_versions(store=store, name="risky")) == 1 and not audits(store, "tag.update")


def test_archive_is_refused_while_segments_or_journeys_use_the_tag(env: Any) -> None:
    store, wh = env
    seg = {"id": "risky_sms", "name": "risky, SMS ok",
           "root": {"kind": "and", "children": [
               {"kind": "tag", "tag": "risky", "op": "=", "value": True},
               {"kind": "attribute", "field": "consent_sms", "op": "=",
                "value": True}]}}  # fmt: skip
    segstore.create(store, principal=LOCAL_OPERATOR, doc=seg)
    journey = {"id": "calm", "name": "calm the risky",
               "nodes": [{"id": "entry", "kind": "segment_entry",
                          "config": {"segment_id": "risky_sms"}},
                         {"id": "mark", "kind": "tag",
                          "config": {"op": "add", "tag": "risky"}}],
               "edges": [{"from": "entry", "to": "mark"}]}  # fmt: skip
    with store.session() as s:
        save_journey(session=s, principal=LOCAL_OPERATOR, doc=journey)
    assert tag_references(store=store, name="risky") == ["segment 'risky_sms'", "journey 'calm' v1"]
    with pytest.raises(ConflictError, match="segment 'risky_sms', journey 'calm' v1"):
        archive_tag(store=store, name="risky", principal=LOCAL_OPERATOR)
    assert get_tag(store=store, name="risky").archived_at is None
    segstore.archive(store, principal=LOCAL_OPERATOR, segment_id="risky_sms")
    with store.session() as s:
        transition(session=s, principal=LOCAL_OPERATOR, journey_id="calm", action="archive")
    assert tag_references(store=store, name="risky") == []
    info = archive_tag(store=store, name="risky", principal=LOCAL_OPERATOR)
    assert info.archived_at is not None and len(audits(store, "tag.archive")) == 1
    assert [t.name for t in list_tags(store=store)] == []
    assert [t.name for t in list_tags(store=store, include_archived=True)] == ["risky"]
    with pytest.raises(ConflictError, match="archived"):
        run_tags(store=store, wh=wh, names=["risky"], as_of=AS_OF, principal=LOCAL_OPERATOR)
    with pytest.raises(ConflictError, match="archived"):
        update_tag(store=store, name="risky", changes={"owner": "x"}, principal=LOCAL_OPERATOR)
    assert run_tags(store=store, wh=wh, names=None, as_of=AS_OF, principal=LOCAL_OPERATOR) == []
    update = {"schedule": "0 2 * * *"}
    create_tag(store=store, doc={**BASE, **RISKY, "name": "risky2", **update},
               principal=LOCAL_OPERATOR)  # fmt: skip
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert due_tags(store=store, now=later) == ["risky2"]  # the archived one is never due


def stored(wh: Warehouse) -> pa.Table:
    return wh.sql("select tag, as_of, count(*) n from tag_values group by 1, 2 order by 1, 2")


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_retention_drops_old_days_and_keeps_reports(
    engine: str, bank: dict[str, pa.Table], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if engine == "postgres" else ":memory:"
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    wh = Warehouse.open(url)
    try:
        wh.replace_tables(bank)
        create_tag(store=store, doc={**BASE, **RISKY}, principal=LOCAL_OPERATOR)
        create_tag(store=store, doc={**BASE, **RISKY, "name": "stale"}, principal=LOCAL_OPERATOR)
        days = [AS_OF - dt.timedelta(days=d) for d in (40, 20, 10, 0)]
        for day in days:
            run_tags(store=store, wh=wh, names=["risky"], as_of=day, principal=LOCAL_OPERATOR)
        # a tag last run long ago keeps its latest day, whatever the retention
        run_tags(store=store, wh=wh, names=["stale"], as_of=days[0] - dt.timedelta(days=5),
                 principal=LOCAL_OPERATOR)  # fmt: skip
        run_tags(store=store, wh=wh, names=["stale"], as_of=days[0], principal=LOCAL_OPERATOR)
        per_day = len(risky_oracle(bank, -10))  # every customer has a yes/no value
        before = stored(wh).to_pylist()
        assert len(before) == 6 and all(r["n"] == per_day for r in before)
        n = prune_history(store=store, wh=wh, keep_days=15, today=AS_OF,
                          principal=LOCAL_OPERATOR)  # fmt: skip
        after = [(r["tag"], r["as_of"]) for r in stored(wh).to_pylist()]
        assert after == [("risky", days[2]), ("risky", days[3]), ("stale", days[0])]
        assert n == 3 * per_day
        (entry,) = audits(store, "tag.prune")
        assert entry.after["rows"] == n  # type: ignore[index]
        assert get_tag(store=store, name="risky").last_run is not None
        from opsloop.insight.tags.tables import TagRunRow

        with store.session() as s:  # every run's coverage report is kept
            assert len(list(s.scalars(select(TagRunRow)))) == 6
        # retention applied by the run itself
        run_tags(store=store, wh=wh, names=["risky"], as_of=AS_OF + dt.timedelta(days=5),
                 principal=LOCAL_OPERATOR, retention_days=7)  # fmt: skip
        kept = [(r["tag"], r["as_of"]) for r in stored(wh).to_pylist()]
        assert kept == [("risky", days[3]), ("risky", AS_OF + dt.timedelta(days=5)),
                        ("stale", days[0])]  # fmt: skip
        with pytest.raises(InvalidInputError) as bad:
            prune_history(store=store, wh=wh, keep_days=0, today=AS_OF, principal=LOCAL_OPERATOR)
        assert bad.value.where == "keep_days"
    finally:
        wh.close()
        store.close()
