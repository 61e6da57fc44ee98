"""A real `opsloop serve` on a small generated bank, shared by the console tests.

Generated once per session (2,000 customers, 3 months) into a temporary home with the
CLI, with a head-office admin and a branch operator created by the CLI too — the same
steps a user takes — then served on a free port. The server owns the DuckDB file, so the
tests read the warehouse through the server (`POST /api/v1/warehouse/query`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from opsloop.synth.exposure import write_exposure_table
from opsloop.warehouse import Warehouse

OPSLOOP = [sys.executable, "-m", "opsloop.cli.main"]
PASSWORD = "Console-Test-42!"
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("/tmp/console-shots")
SMS_SECRET = "console-test-sms-secret-0123456789"
REACH: dict[str, dict[str, dict[str, Any]]] = {
    "channels": {
        "sms": {
            "kind": "webhook",
            "url": "http://127.0.0.1:9/sms/send",
            "secret": SMS_SECRET,
            "rate_per_s": 50,
            "burst": 10,
            "cost": 0.04,
        },
        "email": {"kind": "smtp", "host": "127.0.0.1", "port": 2525, "sender": "ops@bank.example"},
        "inbox": {"kind": "inbox"},
    }
}


@dataclass(frozen=True)
class Bank:
    url: str
    home: Path
    admin: str
    branch_user: str
    branch: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [*OPSLOOP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"opsloop {' '.join(args)}: {out.stderr[-2000:]}"
    return out.stdout


@pytest.fixture(scope="session")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    running = os.environ.get("OPSLOOP_CONSOLE_TEST_URL")
    if running:  # developing the tests: a server already set up the same way
        yield Bank(url=running, home=Path(), admin="ops", branch_user="b01ops", branch="B01")
        return
    home = tmp_path_factory.mktemp("console") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLOOP_")}
    env |= {
        "OPSLOOP_HOME": str(home),
        "OPSLOOP_SECRET_KEY": "console-test-secret-key-0123456789abcdef",
        "OPSLOOP_LOG_LEVEL": "WARNING",
    }
    _cli(env, "generate", "--customers", "2000", "--months", "3", "--workers", "1")
    for task in ("churn", "propensity"):  # the churn / high-potential lists read the scores
        _cli(env, "model", "train", task)
    _exposure_table(home / "warehouse.duckdb")
    (home / "reach.json").write_text(json.dumps(REACH))  # the channels a bank configures
    _cli(env, "user", "create", "ops", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    port = _free_port()
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*OPSLOOP, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "opsloop serve did not become healthy in 120 s"
            time.sleep(0.3)
        bank = Bank(url=url, home=home, admin="ops", branch_user="b01ops", branch="B01")
        with signed_in(bank, "ops") as admin:  # a branch operator, made as an admin would
            user = {"username": "b01ops", "password": PASSWORD, "org_id": "B01"}
            resp = admin.post("/api/v1/users", json=user | {"roles": ["operator", "analyst"]})
            assert resp.status_code == 201, resp.text
        yield bank
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _exposure_table(path: Path) -> None:
    """The campaign exposure table the experiment and ROI pages read, written by the same
    code as `opsloop demo` (:func:`opsloop.synth.exposure.write_exposure_table`)."""
    wh = Warehouse.open(str(path))
    try:
        assert write_exposure_table(wh) > 0
    finally:
        wh.close()


@contextmanager
def signed_in(bank: Bank, username: str) -> Iterator[httpx.Client]:
    """An API client with a session cookie and the CSRF header, as the console has."""
    with httpx.Client(base_url=bank.url, timeout=60) as client:
        body = {"username": username, "password": PASSWORD}
        resp = client.post("/api/v1/auth/login", json=body)
        assert resp.status_code == 200, resp.text
        client.headers["x-csrf-token"] = resp.json()["csrf_token"]
        # The session cookie is Secure; httpx keeps Secure cookies off plain http (browsers
        # treat 127.0.0.1 as a secure context and send it), so send it by hand.
        client.headers["cookie"] = f"opsloop_session={resp.cookies['opsloop_session']}"
        yield client


def chromium_path() -> str:
    """The Debian Chromium (never a downloaded browser); skip without it, fail under CI."""
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} not installed (apt-get install -y chromium; `make test` does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM
