"""Analysis documents: bad input is refused with an error that names the field."""

from __future__ import annotations

from typing import Any

import pytest

from opsloop.errors import InvalidInputError
from opsloop.monitor.analyses import validate_analysis

R = {"start": "2024-01-01", "end": "2024-01-31"}


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"kind": "funnel", "steps": [{"event": "a"}, {"event": "b c"}], **R},
         "analysis.steps[1].event"),
        ({"kind": "funnel", "steps": [{"event": "a"}], **R}, "analysis.steps"),
        ({"kind": "event", "event": {"event": "a", "properties": {"x;drop": 1}}, **R},
         "analysis.event.properties"),
        ({"kind": "event", "event": {"event": "a"}, "measure": "sum", **R}, "analysis.property"),
        ({"kind": "event", "event": {"event": "a"}, "sql": "select 1", **R}, "analysis.sql"),
        ({"kind": "event", "event": {"event": "a"}, "start": "2024-02-01", "end": "2024-01-01"},
         "analysis.end"),
        ({"kind": "distribution", "event": {"event": "a"}, "edges": [5, 1], **R}, "analysis.edges"),
        ({"kind": "attribution", "conversion": {"event": "a"}, "touches": ["'; --"], **R},
         "analysis.touches"),
        ({"kind": "kpi", "metric": "nps", "event": {"event": "s"}, **R}, "analysis.score_property"),
        ({"kind": "nope", **R}, "analysis"),
    ],
)  # fmt: skip
def test_errors_name_the_field(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_analysis({"analysis": doc})
    assert err.value.where == where


def test_bare_document_is_accepted_and_frozen() -> None:
    doc = validate_analysis({"kind": "retention", "initial": {"event": "a"},
                             "returning": {"event": "a"}, **R})  # fmt: skip
    assert doc.analysis.kind == "retention"
    with pytest.raises(ValueError):
        doc.analysis.unit = "week"  # type: ignore[misc]
