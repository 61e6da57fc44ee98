"""Several real processes against the real PostgreSQL: one scheduler at a time, takeover on
death, and ``serve --workers 2`` in the production profile."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from opsloop.runtime.singleton import FileLeadership, PostgresLeadership
from opsloop.store.db import upgrade

HERE = Path(__file__).parent
REPO = HERE.parents[1]


def _pids(url: str) -> list[int]:
    with psycopg.connect(url) as con:
        return [r[0] for r in con.execute("select pid from ticks order by id")]


@pytest.fixture
def ticks(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("create table ticks (id bigserial primary key, pid int not null)")
    return pg_url


def _start(url: str, home: Path) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "lead_worker.py"), url, str(home)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _wait_for(cond: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.postgres
def test_two_schedulers_started_at_once_only_one_runs_then_the_other_takes_over(
    ticks: str, tmp_path: Path
) -> None:
    a, b = _start(ticks, tmp_path), _start(ticks, tmp_path)
    try:
        _wait_for(lambda: len(_pids(ticks)) >= 10)
        time.sleep(1.0)
        first = set(_pids(ticks))
        assert len(first) == 1, f"two schedulers ran at once: {first}"
        (leader_pid,) = first
        leader, standby = (a, b) if a.pid == leader_pid else (b, a)
        os.kill(leader.pid, signal.SIGKILL)  # no goodbye: PostgreSQL must drop the lock
        leader.wait()
        seen = len(_pids(ticks))
        _wait_for(lambda: standby.pid in _pids(ticks)[seen:])
        after = set(_pids(ticks)[seen:])
        assert after == {standby.pid}
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)


@pytest.mark.postgres
def test_advisory_lock_is_exclusive_and_released(pg_url: str) -> None:
    one, two = PostgresLeadership(pg_url, "x"), PostgresLeadership(pg_url, "x")
    other = PostgresLeadership(pg_url, "y")
    assert one.try_acquire() and one.try_acquire()  # re-entrant for its holder
    assert not two.try_acquire()
    assert other.try_acquire()  # another name is another lock
    one.release()
    assert two.try_acquire()
    two.release()
    other.release()


def test_file_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    one, two = FileLeadership(tmp_path, "s"), FileLeadership(tmp_path, "s")
    assert one.try_acquire()
    assert not two.try_acquire()
    one.release()
    assert two.try_acquire()
    two.release()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def production_env(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    upgrade(pg_url)
    yield os.environ | {
        "OPSLOOP_PROFILE": "production",
        "OPSLOOP_HOME": str(tmp_path / "home"),
        "OPSLOOP_DATABASE_URL": pg_url,
        "OPSLOOP_WAREHOUSE": pg_url,
        "OPSLOOP_REDIS_URL": redis_url,
        "OPSLOOP_SECRET_KEY": "k" * 48,
    }


@pytest.mark.postgres
@pytest.mark.redis
def test_serve_with_two_workers_in_production(production_env: dict[str, str]) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop.cli.main", "serve", "--workers", "2", "--port", str(port)],
        env=production_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the workers die with the group, whatever happens
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # each worker imports the whole stack
        ready = None
        while time.monotonic() < deadline and ready is None:
            try:
                resp = httpx.get(f"{base}/api/v1/ready", timeout=2)
                if resp.status_code == 200:
                    ready = resp.json()
            except httpx.HTTPError:
                time.sleep(0.3)
        if ready is None:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            pytest.fail(f"the workers never became ready:\n{out[-3000:]}")
        assert ready["profile"] == "production"
        # Many requests over fresh connections reach both processes; none fails.
        statuses = [httpx.get(f"{base}/api/v1/health").status_code for _ in range(40)]
        assert statuses == [200] * 40
        home = Path(production_env["OPSLOOP_HOME"])
        samples = list((home / "metrics").glob("*.db"))
        assert len({p.name.rsplit("_", 1)[-1] for p in samples}) >= 2, samples
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]


def test_embedded_refuses_several_workers(tmp_path: Path) -> None:
    env = os.environ | {"OPSLOOP_HOME": str(tmp_path)}
    env.pop("OPSLOOP_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "opsloop.cli.main", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "OPSLOOP_PROFILE=production" in done.stdout + done.stderr
