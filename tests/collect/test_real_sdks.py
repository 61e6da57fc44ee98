"""The real Segment and Sensors Analytics SDKs (from PyPI) against a running ``opsloop serve``.

The server is a real subprocess on an isolated home; the source is created with the CLI;
the count is read with ``opsloop query``, which goes through the running server. A proxy
in front of the server loses the first acknowledgement, so the Segment SDK retries the
same batch by itself: the events must still be stored once.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import orjson
import pytest
import sensorsanalytics
from segment.analytics.client import Client

pytestmark = pytest.mark.timeout(120)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "opsloop.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout if proc.returncode == 0 else ""

    def count(self, where: str = "true") -> int:
        out = self.cli("query", f"select count(*) as n from events where {where}", "-f", "json")
        return int(orjson.loads(out)["rows"][0]["n"])

    def wait_count(self, expected: int, timeout: float = 20) -> int:
        """The flusher moves events into the warehouse within a second or so."""
        deadline = time.monotonic() + timeout
        n = -1
        while time.monotonic() < deadline:
            out = self.cli("query", "select count(*) as n from events", "-f", "json", check=False)
            n = int(orjson.loads(out)["rows"][0]["n"]) if out else -1  # no table before a flush
            if n >= expected:
                time.sleep(1.5)  # a late duplicate would show up now
                return self.count()
            time.sleep(0.3)
        return n


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    env = {**os.environ, "OPSLOOP_HOME": str(home)}
    env.pop("OPSLOOP_REDIS_URL", None)
    port = _port()
    srv = Server(f"http://127.0.0.1:{port}", env)
    srv.cli("db", "upgrade")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "server.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield srv
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class _LoseFirstAck(http.server.BaseHTTPRequestHandler):
    """Forwards to the server; answers the first ``lose`` requests with 503 after the
    server has stored them (an acknowledgement lost on the way back)."""

    target: ClassVar[str] = ""
    lose: ClassVar[int] = 0
    seen: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        r = httpx.post(self.target + self.path, content=body, headers=headers)
        type(self).seen.append(r.status_code)
        lost = len(type(self).seen) <= type(self).lose
        self.send_response(503 if lost else r.status_code)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"success": false}' if lost else r.content)

    def log_message(self, *_args: object) -> None:
        pass


def test_segment_sdk_events_stored_exactly_once_across_retries(server: Server) -> None:
    key = server.cli("source", "create", "py-backend").strip().splitlines()[-1]
    _LoseFirstAck.target, _LoseFirstAck.lose, _LoseFirstAck.seen = server.url, 1, []
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LoseFirstAck)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    errors: list[object] = []
    client = Client(
        key,
        host=f"http://127.0.0.1:{proxy.server_address[1]}",
        gzip=True,
        upload_size=50,
        on_error=lambda e, batch: errors.append(e),
    )
    try:
        for i in range(120):
            client.track(
                user_id=str(1000 + i % 7),
                event="fund_detail_view",
                properties={"fund": f"F{i:04d}"},
                message_id=f"sdk-{i}",
            )
        client.identify(user_id="1001", traits={"tier": "gold"}, anonymous_id="dev-1")
        client.page(anonymous_id="dev-1", name="home", message_id="sdk-page")
        client.flush()
        client.join()
    finally:
        proxy.shutdown()
    assert not errors
    assert _LoseFirstAck.seen[0] == 200 and len(_LoseFirstAck.seen) >= 2  # a retry happened
    # The same message ids once more, straight from a second client: still stored once.
    again = Client(key, host=server.url, sync_mode=True)
    again.track(user_id="1000", event="fund_detail_view", message_id="sdk-0")
    n = server.wait_count(122)
    assert n == 122
    assert server.count("event = 'fund_detail_view'") == 120
    assert server.count("event = '$pageview' and customer_id = 1001") == 1  # identity merge


def test_sensors_sdk_events_stored(server: Server) -> None:
    server.cli("source", "create", "bank_app", "--kind", "sensors")
    url = f"{server.url}/sa?project=bank_app"
    batch = sensorsanalytics.SensorsAnalytics(
        sensorsanalytics.BatchConsumer(url, max_size=20), project_name="bank_app"
    )
    for i in range(45):
        batch.track(str(2000 + i % 5), "loan_quota_view", {"amount": i}, is_login_id=True)
    batch.track_signup("2001", "device-9", {"channel": "app"})
    batch.profile_set("2002", {"city": "Hangzhou"}, is_login_id=True)
    batch.close()
    single = sensorsanalytics.SensorsAnalytics(
        sensorsanalytics.DefaultConsumer(url), project_name="bank_app"
    )
    single.track("device-7", "app_open", {"$app_version": "8.1"})
    n = server.wait_count(48)
    assert n == 48
    assert server.count("event = 'loan_quota_view' and customer_id between 2000 and 2004") == 45
    assert server.count("event = '$SignUp' and customer_id = 2001") == 1
    assert server.count("event = 'app_open' and anonymous_id = 'device-7'") == 1
