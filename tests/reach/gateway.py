"""A real local HTTP gateway for the webhook tests: verifies signatures, records keys.

It behaves like an idempotent provider: the first request with an ``Idempotency-Key``
is "delivered" (recorded in ``delivered``), a repeat is answered 200 but not delivered
again. ``script`` maps a key to the statuses of its successive calls (e.g.
``[503, 200]``); ``"sleep"`` makes that call outlast the client's timeout.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import orjson

from opsloop.reach import signing


@dataclass
class Gateway:
    secret: bytes
    delay_s: float = 0.0
    script: dict[str, list[int | str]] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, key: str, ok_sig: bool) -> tuple[int | str, bytes]:
        with self.lock:
            self.arrivals.append(time.monotonic())
            if not ok_sig:
                self.bad_signatures += 1
                return 401, b'{"error":"bad signature"}'
            n = self.calls[key]
            self.calls[key] += 1
            steps = self.script.get(key, [])
            status = steps[n] if n < len(steps) else 200
            if status == 200 and key not in self.delivered:
                self.delivered[key] = time.monotonic()
        return status, orjson.dumps({"id": f"gw-{key}", "cost": 0.05})


def _handler(gw: Gateway) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            why = signing.verify(
                gw.secret,
                timestamp=self.headers.get(signing.TIMESTAMP),
                signature=self.headers.get(signing.SIGNATURE),
                body=body,
                now=time.time(),
            )
            key = self.headers.get(signing.IDEMPOTENCY, "")
            status, answer = gw.handle(key, why is None)
            if gw.delay_s:
                time.sleep(gw.delay_s)
            if status == "sleep":
                time.sleep(1.0)
                status = 200
            code = int(status)
            try:
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the client timed out and left
                self.close_connection = True

    return H


@contextmanager
def running(gw: Gateway) -> Iterator[Gateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gw))
    server.daemon_threads = True
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()


def sustained_rate(arrivals: list[float]) -> float:
    """Messages per second as the least-squares slope of arrival index over time.

    Using every arrival, not just the first and last, so one request delayed by a
    busy machine at either end does not decide the figure.
    """
    t = np.sort(np.asarray(arrivals, dtype=float))
    slope = np.polyfit(t - t[0], np.arange(len(t), dtype=float), 1)[0]
    return float(slope)
