"""Generated documents are current."""

from __future__ import annotations

from pathlib import Path

from opsloop.warehouse.docs import render

REPO = Path(__file__).resolve().parents[1]


def test_data_model_doc_is_generated_from_the_schema() -> None:
    committed = (REPO / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m opsloop.warehouse.docs > docs/data-model.md"
