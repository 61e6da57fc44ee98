"""The audit chain detects an edited, deleted or truncated row; pruning keeps it verifiable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from opsloop.access import audit
from opsloop.access.clock import utcnow
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.access import audit_app
from opsloop.store import Store


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store.open(store_url)
    yield s  # type: ignore[misc]
    s.close()


def _fill(store: Store, n: int = 5, *, days_ago: int = 0) -> None:
    with store.session() as s:
        for i in range(n):
            audit.record(
                s,
                actor=LOCAL_OPERATOR,
                action="test.write",
                target_type="thing",
                target_id=str(i),
                before={"v": i},
                after={"v": i + 1, "note": "ünïcode ✓"},
                now=utcnow() - timedelta(days=days_ago),
            )


def _verify(store: Store) -> audit.Verification:
    with store.session() as s:
        return audit.verify(s)


def test_intact_chain_verifies(store: Store) -> None:
    _fill(store)
    assert _verify(store) == audit.Verification(True, 5)


def test_an_edited_row_breaks_the_chain_at_that_row(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as con:
        con.execute(text("update audit_log set actor = 'mallory' where id = 3"))
    v = _verify(store)
    assert not v.ok and v.broken_id == 3


def test_a_deleted_row_or_truncated_tail_is_found(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as con:
        con.execute(text("delete from audit_log where id = 2"))
    assert _verify(store).broken_id == 2
    with store.engine.begin() as con:
        con.execute(text("delete from audit_log where id >= 2"))
    v = _verify(store)
    assert not v.ok and v.broken_id == 2


def test_pruning_leaves_an_anchor_and_the_chain_verifies(store: Store) -> None:
    _fill(store, 4, days_ago=400)
    _fill(store, 3)
    with store.session() as s:
        assert audit.prune(s, older_than_days=365) == 4
    assert _verify(store) == audit.Verification(True, 3)
    with store.engine.begin() as con:
        con.execute(text("update audit_log set target_id = 'x' where id = 6"))
    assert _verify(store).broken_id == 6


def test_cli_verify_reports_the_first_broken_row(
    store: Store, store_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloop.settings import get_settings

    monkeypatch.setenv("OPSLOOP_DATABASE_URL", store_url)
    get_settings.cache_clear()
    _fill(store)
    runner = CliRunner()
    ok = runner.invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    with store.engine.begin() as con:
        con.execute(text("update audit_log set after = null where id = 4"))
    bad = runner.invoke(audit_app, ["verify"])
    assert bad.exit_code == 1
    assert "row 4" in bad.output
