"""Production profile, readiness and metrics, against the real PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from access.fixtures import OPEN_LIMITS, add_user, seed_bank
from opsloop.api.app import create_app
from opsloop.runtime.profile import ProfileError, check_profile, pending_migrations
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.store.db import upgrade


def _prod(home: Path, **kw: str | None) -> Settings:
    base: dict[str, object] = {
        "home": home,
        "profile": "production",
        "database_url": "postgresql://postgres@127.0.0.1:5432/x",
        "warehouse": "postgresql://postgres@127.0.0.1:5432/x",
        "redis_url": "redis://127.0.0.1:6379/15",
        "secret_key": "s" * 40,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"database_url": ""}, "OPSLOOP_DATABASE_URL must be a PostgreSQL URL"),
        ({"warehouse": "/tmp/w.duckdb"}, "OPSLOOP_WAREHOUSE must be a PostgreSQL"),
        ({"redis_url": None}, "OPSLOOP_REDIS_URL is required"),
        ({"secret_key": None}, "OPSLOOP_SECRET_KEY must be set"),
    ],
)
def test_production_refuses_embedded_parts(
    home: Path, override: dict[str, str | None], needle: str
) -> None:
    with pytest.raises(ProfileError) as err:
        check_profile(_prod(home, **override))
    assert needle in err.value.message
    assert err.value.where == "OPSLOOP_PROFILE=production"


def test_embedded_profile_has_no_requirements(home: Path) -> None:
    check_profile(Settings(home=home))  # SQLite + DuckDB file are its whole point


def test_production_needs_explicit_migrations_then_starts(home: Path, pg_url: str) -> None:
    settings = _prod(home, database_url=pg_url, warehouse=pg_url)
    assert pending_migrations(pg_url)  # an empty database is behind every head
    app = create_app(settings, access=OPEN_LIMITS)
    with pytest.raises(ProfileError, match="run `opsloop db upgrade` first"), TestClient(app):
        pass
    store = Store.open(pg_url, migrate=False)  # starting must not have migrated anything
    with store.engine.connect() as conn:
        tables = conn.execute(
            text("select count(*) from information_schema.tables where table_name='users'")
        ).scalar_one()
    store.close()
    assert tables == 0
    upgrade(pg_url)
    assert pending_migrations(pg_url) == []
    with TestClient(create_app(settings, access=OPEN_LIMITS), base_url="https://t") as c:
        body = c.get("/api/v1/ready").json()
    assert body["ready"] is True and body["profile"] == "production"
    assert {ch["name"] for ch in body["checks"]} == {"store", "warehouse", "redis"}


def test_ready_reports_a_dead_dependency_as_503(home: Path, redis_url: str) -> None:
    settings = Settings(home=home, redis_url=redis_url)
    seed_bank(settings)
    app = create_app(settings, access=OPEN_LIMITS)
    with TestClient(app, base_url="https://t") as c:
        assert c.get("/api/v1/ready").status_code == 200
        # Redis goes away after start-up (nothing listens on port 1).
        app.state.settings = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
        resp = c.get("/api/v1/ready")
    assert resp.status_code == 503
    checks = {ch["name"]: ch for ch in resp.json()["checks"]}
    assert checks["store"]["ok"] and checks["warehouse"]["ok"]
    assert not checks["redis"]["ok"] and "Connection" in checks["redis"]["detail"]


def test_metrics_need_the_permission_and_report_routes_and_queues(home: Path) -> None:
    settings = Settings(home=home)
    seed_bank(settings)
    app = create_app(settings, access=OPEN_LIMITS)
    with TestClient(app, base_url="https://t") as c:
        store: Store = app.state.store
        scraper = add_user(store, "prom", roles=["observer"], scopes=["system:metrics"])
        analyst = add_user(store, "ann", roles=["analyst"], scopes=["analysis:read"])
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "insert into reach_outbox (key, channel, customer_id, campaign, payload,"
                    " status, attempts, next_attempt_at, cost, created_at) values"
                    " ('k1','sms',1,'c','{}','pending',0,'2026-01-01','0','2026-01-01'),"
                    " ('k2','sms',2,'c','{}','pending',0,'2026-01-01','0','2026-01-01'),"
                    " ('k3','email',3,'c','{}','sent',1,'2026-01-01','0','2026-01-01')"
                )
            )
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=analyst).status_code == 403
        for _ in range(3):
            c.get("/api/v1/customers/7", headers=scraper)  # 403 for the observer: still timed
        from opsloop.collect import sources
        from opsloop.runtime.metrics import EVENTS_INGESTED

        _, key = sources.create_source(store, name="app")
        before = EVENTS_INGESTED._value.get()
        for i in range(2):
            sent = c.post(
                "/v1/track",
                json={"userId": "1", "event": "login", "messageId": f"m-{i}"},
                auth=(key, ""),
            )
            assert sent.status_code == 200, sent.text
        assert EVENTS_INGESTED._value.get() - before == 2
        resp = c.get("/metrics", headers=scraper)
    assert resp.status_code == 200
    text_ = resp.text
    assert 'opsloop_outbox_messages{channel="sms",status="pending"} 2.0' in text_
    assert 'opsloop_outbox_messages{channel="email",status="sent"} 1.0' in text_
    line = next(
        ln
        for ln in text_.splitlines()
        if ln.startswith("opsloop_http_request_duration_seconds_count")
        and 'route="/api/v1/customers/{customer_id}"' in ln
        and 'status="403"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) >= 3
    assert "customers/7" not in text_  # the template, never the id: bounded cardinality
    assert 'route="/v1/track",status="200"' in text_  # the fast path is timed too


def test_every_scheduler_job_runs_a_pass_on_an_empty_bank(home: Path) -> None:
    """The worker's jobs call the centers' functions with the right arguments: one pass
    over a fresh bank does nothing, and raises nothing."""
    from datetime import UTC, datetime

    from opsloop.runtime.background import EMBEDDED_JOBS, build_worker
    from opsloop.warehouse import Warehouse

    settings = Settings(home=home)
    seed_bank(settings)
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        worker = build_worker(settings, store, wh)
        worker.clock = lambda: datetime(2026, 11, 23, 12, tzinfo=UTC)
        assert worker.run_once() == 0
        states = worker.states
        assert set(states) == set(EMBEDDED_JOBS)
        assert all(s.errors == 0 and s.passes == 1 and s.leading for s in states.values())
        other = build_worker(settings, store, wh)  # a second worker: not the leader
        assert other.run_once() == 0
        assert all(s.passes == 0 and not s.leading for s in other.states.values())
    finally:
        wh.close()
        store.close()
