"""Property-based fuzzing of the whole OpenAPI spec as an admin: no input yields a 5xx.

Runs in-process against the ASGI app (stores opened by the app's own lifespan), on
SQLite and PostgreSQL. The figures (cases run, failures) are printed for the report.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from access.fixtures import add_user

EXAMPLES_PER_OPERATION = int(os.environ.get("OPSLOOP_FUZZ_EXAMPLES", "25"))


def test_no_server_errors_anywhere(client: TestClient) -> None:
    app = client.app
    admin = add_user(app.state.store, "fuzz", roles=["admin"])  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ran: dict[str, int] = {}
    failures: list[str] = []

    def fuzz(operation: Any) -> None:
        label = operation.label

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            ran[label] = ran.get(label, 0) + 1
            try:
                resp = case.call(headers=admin)
            except Exception as exc:  # an unhandled error is a 500 in production
                failures.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
                return
            if resp.status_code >= 500:
                failures.append(f"{label}: {resp.status_code} {resp.text[:200]}")

        run()

    for result in schema.get_all_operations():
        fuzz(result.ok())
    total = sum(ran.values())
    print(f"schemathesis: {len(ran)} operations, {total} cases, {len(failures)} failures")
    assert len(ran) >= 20
    assert failures == []
