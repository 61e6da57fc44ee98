"""Validation: every problem is reported at its exact JSON path; cycles and unknowns too."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pytest

from opsloop.errors import InvalidInputError
from opsloop.insight.segments import (
    SegmentCompiler,
    SegmentCycleError,
    SegmentDefinition,
    SegmentValidationError,
    UnknownSegmentError,
    UnsupportedNodeError,
    compile_segment,
    validate_segment,
)
from opsloop.insight.segments.model import Attribute
from opsloop.warehouse.schema import TABLES_BY_NAME

TABLES = {
    n: ibis.table(ibis.Schema.from_pyarrow(TABLES_BY_NAME[n].schema), name=n)
    for n in ("customers", "transactions", "events")
}
AS_OF = dt.date(2025, 6, 29)


def attr(field: str, op: str, value: Any = None) -> dict[str, Any]:
    node = {"kind": "attribute", "field": field, "op": op}
    return node | ({"value": value} if value is not None else {})


def doc(*children: dict[str, Any]) -> dict[str, Any]:
    return {"name": "t", "root": {"kind": "and", "children": list(children)}}


def issues(document: Any) -> dict[str, str]:
    with pytest.raises(SegmentValidationError) as err:
        validate_segment(document)
    return {i.where: i.message for i in err.value.issues}


OK = attr("kyc_risk_level", ">=", 3)


@pytest.mark.parametrize(
    ("child", "where", "fragment"),
    [
        (attr("nope", "=", 1), "root.children[1].field", "unknown customer field 'nope'"),
        (attr("kyc_risk_level", "=", "high"), "root.children[1].value", "whole-number"),
        (attr("kyc_risk_level", "=", 2.5), "root.children[1].value", "whole-number"),
        (attr("income_monthly", ">", True), "root.children[1].value", "number"),
        (attr("opened_on", ">", "2020-13-01"), "root.children[1].value", "date"),
        (attr("is_active", ">", True), "root.children[1].value", "yes/no"),
        (attr("kyc_risk_level", "between", [4, 2]), "root.children[1].value", "greater than"),
        (attr("kyc_risk_level", "between", [1, 2, 3]), "root.children[1].value", "[low, high]"),
        (attr("city", "in", []), "root.children[1].value", "non-empty list"),
        (attr("city", "is_null", "x"), "root.children[1].value", "takes no value"),
        (attr("kyc_risk_level", "starts_with", 1), "root.children[1].value", "text field"),
        (attr("city", "like", "a%"), "root.children[1].op", "Input should be"),
        ({"kind": "attribute", "field": "city"}, "root.children[1].op", "Field required"),
        ({"kind": "and", "children": []}, "root.children[1].children", "at least 1"),
        ({"kind": "sql", "text": "1=1"}, "root.children[1]", "does not match"),
        (
            {"kind": "txn_aggregate", "agg": "sum", "last_days": 0, "op": ">", "value": 1},
            "root.children[1].last_days",
            "greater than 0",
        ),
        (
            {"kind": "txn_aggregate", "agg": "median", "last_days": 3, "op": ">", "value": 1},
            "root.children[1].agg",
            "Input should be",
        ),
        (
            {"kind": "behaviour", "step": {"event": "x; drop"}, "last_days": 3},
            "root.children[1].step.event",
            "event name",
        ),
        (
            {"kind": "behaviour", "step": {"event": "x", "properties": {"a-b": 1}}, "last_days": 3},
            "root.children[1].step.properties",
            "plain identifier",
        ),
        (
            {"kind": "behaviour", "step": {"event": "x"}, "last_days": 3, "extra": 1},
            "root.children[1].extra",
            "not permitted",
        ),
        ({"kind": "rfm", "recency": [5, 1]}, "root.children[1].recency", "low <= high"),
        ({"kind": "rfm", "last_days": 30}, "root.children[1]", "at least one"),
        ({"kind": "in_segment", "segment_id": "../x"}, "root.children[1].segment_id", "segment id"),
    ],
)
def test_error_points_at_the_node(child: dict[str, Any], where: str, fragment: str) -> None:
    found = issues(doc(OK, child))
    assert where in found, found
    assert fragment in found[where]


def test_every_issue_is_listed_and_the_first_is_where() -> None:
    with pytest.raises(SegmentValidationError) as err:
        validate_segment(doc(attr("x", "=", 1), OK, attr("city", "=", 5)))
    assert [i.where for i in err.value.issues] == [
        "root.children[0].field",
        "root.children[2].value",
    ]
    assert err.value.where == "root.children[0].field"
    assert isinstance(err.value, InvalidInputError)
    assert "(and 1 more)" in err.value.message


def test_not_an_object() -> None:
    assert issues([1, 2]) == {"$": "a segment document is a JSON object"}


def test_values_are_typed_and_round_trip() -> None:
    defn = validate_segment(
        doc(
            attr("opened_on", "between", ["2021-01-01", "2022-01-01"]),
            attr("income_monthly", ">", 5),
        )
    )
    root: Any = defn.root
    assert root.children[0].value == (dt.date(2021, 1, 1), dt.date(2022, 1, 1))
    assert root.children[1].value == 5.0 and isinstance(root.children[1].value, float)
    assert validate_segment(defn.model_dump(mode="json")) == defn


def test_nodes_are_frozen() -> None:
    node = Attribute(field="city", op="=", value="北京")
    with pytest.raises(Exception, match="frozen"):
        node.op = "!="  # type: ignore[misc]


SAVED = {
    "a": {"id": "a", "name": "A", "root": {"kind": "in_segment", "segment_id": "b"}},
    "b": {
        "id": "b",
        "name": "B",
        "root": {"kind": "or", "children": [OK, {"kind": "in_segment", "segment_id": "a"}]},
    },
    "c": {"id": "c", "name": "C", "root": OK},
}


def resolve(segment_id: str) -> SegmentDefinition:
    return validate_segment(SAVED[segment_id])


def test_cycle_is_detected_at_the_referring_node() -> None:
    top = validate_segment(SAVED["a"])
    with pytest.raises(SegmentCycleError) as err:
        compile_segment(top, wh_tables=TABLES, as_of=AS_OF, resolve=resolve)
    assert "a → b → a" in err.value.message
    assert err.value.where == "root/b:root.children[1]"


def test_cycle_without_ids_is_still_detected() -> None:
    top = validate_segment(doc({"kind": "in_segment", "segment_id": "b"}))
    with pytest.raises(SegmentCycleError, match="b → a → b"):
        compile_segment(top, wh_tables=TABLES, as_of=AS_OF, resolve=resolve)


def test_shared_reference_is_not_a_cycle() -> None:
    ref = {"kind": "in_segment", "segment_id": "c"}
    top = validate_segment(doc(ref, {"kind": "not", "child": ref}))
    compile_segment(top, wh_tables=TABLES, as_of=AS_OF, resolve=resolve)


def test_unknown_segment_names_the_node() -> None:
    top = validate_segment(doc(OK, {"kind": "in_segment", "segment_id": "zz"}))
    with pytest.raises(UnknownSegmentError) as err:
        compile_segment(top, wh_tables=TABLES, as_of=AS_OF, resolve=resolve)
    assert err.value.where == "root.children[1]"


def test_unsupported_node_is_a_named_error() -> None:
    compiler = SegmentCompiler(customers=TABLES["customers"], tables=TABLES, as_of=AS_OF)
    with pytest.raises(UnsupportedNodeError, match="no compiler for dict nodes") as err:
        compiler.compile({"kind": "tag"}, "root.children[3]")
    assert err.value.where == "root.children[3]"


@pytest.mark.parametrize("scope", ["HO", "/HO", "/HO/'; drop table x; --/", ""])
def test_scope_prefix_must_be_an_org_path(scope: str) -> None:
    top = validate_segment(doc(OK))
    with pytest.raises(InvalidInputError) as err:
        compile_segment(top, wh_tables=TABLES, as_of=AS_OF, scope_prefix=scope)
    assert err.value.where == "scope_prefix"


def test_examples_in_the_docs_validate() -> None:
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "segments.md").read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    found = 0
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.S):
        pos = 0
        while pos < len(block.rstrip()):
            obj, end = decoder.raw_decode(block, pos)
            pos = end + (len(block[end:]) - len(block[end:].lstrip()))
            document = obj if "root" in obj else {"name": "example", "root": obj}
            validate_segment(document)
            found += 1
    assert found >= 10
