"""kill -9 a real executor process mid-run, restart: no lost and no duplicated steps.

The reference is an uninterrupted run of the same journey on a separate store; after
the crash and restart the PostgreSQL store holds exactly the same states, steps and
outbox rows, each once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import REPO
from tests.strategy.workers import run_welcome

from opsloop.store import Store
from opsloop.strategy.models import CustomerState, OutboxRow, StepRow

N, CHUNK = 10_000, 50


def _snapshot(store: Store) -> tuple[set[tuple[object, ...]], ...]:
    with store.session() as s:
        states = {
            tuple(r)
            for r in s.execute(
                select(
                    CustomerState.customer_id,
                    CustomerState.visit,
                    CustomerState.node_id,
                    CustomerState.status,
                )
            )
        }
        steps = {
            tuple(r)
            for r in s.execute(select(StepRow.node_id, StepRow.customer_id, StepRow.outcome))
        }
        out = {
            tuple(r)
            for r in s.execute(select(OutboxRow.node_id, OutboxRow.customer_id, OutboxRow.kind))
        }
    return states, steps, out


@pytest.mark.slow
def test_kill_9_mid_run_then_restart(pg_url: str, tmp_path: Path) -> None:
    ref = Store.open(f"sqlite:///{tmp_path}/ref.db")
    run_welcome(f"sqlite:///{tmp_path}/ref.db", N, 1000)
    store = Store.open(pg_url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.strategy.workers", "welcome", pg_url, str(N), str(CHUNK)],
        cwd=REPO,
        env=env,
    )
    done = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        with store.session() as s:
            done = s.execute(select(func.count()).select_from(CustomerState)).scalar_one()
        if done >= N // 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; raise N"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < done < N
    with store.session() as s:
        partial = s.execute(select(func.count()).select_from(CustomerState)).scalar_one()
    assert partial < N  # killed mid-run: only whole chunks are there
    assert partial % CHUNK == 0
    run_welcome(pg_url, N, CHUNK)  # restart
    got, want = _snapshot(store), _snapshot(ref)
    assert got == want
    with store.session() as s:
        rows = s.execute(select(func.count()).select_from(OutboxRow)).scalar_one()
        steps = s.execute(select(func.count()).select_from(StepRow)).scalar_one()
        states = s.execute(select(func.count()).select_from(CustomerState)).scalar_one()
    assert (rows, steps, states) == (len(want[2]), len(want[1]), N)  # each exactly once
    store.engine.dispose()
