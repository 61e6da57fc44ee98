"""Journey documents: valid ones parse, invalid ones name the node and field."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from tests.strategy.helpers import journey_doc

from opsloop.strategy.calendar import BusinessCalendar
from opsloop.strategy.journey import JourneyValidationError, validate_journey


def _issues(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JourneyValidationError) as info:
        validate_journey(doc)
    return {i.where: i.message for i in info.value.issues}


def test_valid_journey_parses() -> None:
    j = validate_journey(journey_doc())
    assert j.next_of("ab") == {"a": "cap", "b": "push"}
    assert j.node("sms").on_blocked.action == "skip"
    assert j.node("push").on_blocked.action == "exit"  # the default


def test_missing_config_field_names_node_and_field() -> None:
    doc = journey_doc()
    doc["nodes"].append(
        {"id": "w", "kind": "wait", "config": {"delay": {"amount": 0, "unit": "days"}}}
    )
    doc["edges"].append({"from": "thanks", "to": "w"})
    assert "nodes[8].config.delay.amount" in _issues(doc)


def test_wait_needs_delay_or_until() -> None:
    doc = journey_doc()
    doc["nodes"][3] = {"id": "cap", "kind": "wait", "config": {}}
    doc["edges"][4] = {"from": "cap", "to": "sms"}
    assert "nodes[3].config" in _issues(doc)


def test_dangling_edge_and_unknown_branch() -> None:
    doc = journey_doc()
    doc["edges"].append({"from": "thanks", "to": "nowhere"})
    doc["edges"].append({"from": "rich", "to": "ab", "branch": "maybe"})
    issues = _issues(doc)
    assert "no node 'nowhere'" in issues["edges[8].to"]
    assert "no branch 'maybe'" in issues["edges[9].branch"]


def test_unreachable_node() -> None:
    doc = journey_doc()
    doc["nodes"].append({"id": "lonely", "kind": "merge", "config": {}})
    assert "cannot be reached" in _issues(doc)["nodes[8]"]


def test_cycle_without_wait_rejected_with_wait_accepted() -> None:
    doc = journey_doc()
    doc["nodes"].append({"id": "m", "kind": "merge", "config": {}})
    doc["edges"] += [{"from": "thanks", "to": "m"}, {"from": "m", "to": "thanks"}]
    assert any("cycle with no wait" in m for m in _issues(doc).values())
    ok = copy.deepcopy(doc)
    ok["nodes"][-1] = {
        "id": "m",
        "kind": "wait",
        "config": {"delay": {"amount": 1, "unit": "days"}},
    }
    validate_journey(ok)  # the loop goes through a wait: fine


def test_on_blocked_wait_needs_deadline() -> None:
    doc = journey_doc()
    doc["nodes"][4]["on_blocked"] = {"action": "wait"}
    assert "nodes[4].on_blocked" in _issues(doc)


def test_unknown_kind_and_extra_field() -> None:
    doc = journey_doc()
    doc["nodes"][1]["colour"] = "red"
    doc["nodes"][2]["config"]["holdout"] = 1.5
    issues = _issues(doc)
    assert "nodes[1].colour" in issues
    assert "nodes[2].config.holdout" in issues


def test_segment_condition_errors_point_inside() -> None:
    doc = journey_doc()
    doc["nodes"][1]["config"]["condition"]["field"] = "shoe_size"
    assert "unknown customer field" in _issues(doc)["nodes[1].config.condition.field"]


def test_business_calendar_with_tiaoxiu() -> None:
    cal = BusinessCalendar(
        holidays=frozenset({dt.date(2026, 10, d) for d in range(1, 9)}),
        working_weekends=frozenset({dt.date(2026, 9, 27), dt.date(2026, 10, 10)}),
    )
    assert cal.is_business_day(dt.date(2026, 9, 27))  # a Sunday made a working day (调休)
    assert not cal.is_business_day(dt.date(2026, 10, 5))  # a Monday in the holiday
    start = dt.datetime(2026, 9, 30, 9, 0)
    assert cal.add_business_days(start, 1).date() == dt.date(2026, 10, 9)
    assert cal.add_business_days(start, 2).date() == dt.date(2026, 10, 10)  # working Saturday
