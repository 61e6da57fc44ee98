"""docs/security.md is generated from the code and must be current."""

from __future__ import annotations

from opsloop.api.security_doc import DOC, render


def test_committed_security_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/security.md is stale: run python -m opsloop.api.security_doc"
    )


def test_doc_lists_every_protected_route_with_its_permission() -> None:
    text = render()
    assert "| GET | `/api/v1/customers/export` | permission | customer:export |" in text
    assert "UNPROTECTED" not in text
