"""The signed webhook channel against a real local HTTP gateway (http.server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from opsloop.reach import outbox, signing
from opsloop.reach.channels.base import Outbound
from opsloop.reach.channels.webhook import WebhookChannel
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.models import ContactRow, OutboxRow
from opsloop.reach.outbox import Message
from opsloop.reach.ratelimit import TokenBucket
from opsloop.reach.retry import RetryPolicy
from opsloop.store import Store

from .gateway import Gateway, running, sustained_rate

SECRET = b"gateway-secret-0123456789"


def out(key: str) -> Outbound:
    return Outbound(key, "sms", 7, "c1", {"to": "13800000007", "text": "您好"})


def test_signature_is_hmac_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    sig = signing.sign(SECRET, 1700000000, body)
    import hashlib
    import hmac

    want = hmac.new(SECRET, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sig == "v1=" + want
    assert (
        signing.verify(SECRET, timestamp="1700000000", signature=sig, body=body, now=1.7e9) is None
    )
    assert signing.verify(SECRET, timestamp="1700000000", signature=sig, body=b"x", now=1.7e9)
    assert signing.verify(SECRET, timestamp="1700000000", signature=sig, body=body, now=1.8e9)


def test_statuses_map_to_sent_retry_dead() -> None:
    gw = Gateway(SECRET, script={"k429": [429], "k503": [503], "k400": [400], "kslow": ["sleep"]})
    with running(gw):
        ch = WebhookChannel("sms", url=gw.url, secret=SECRET, cost=0.03, timeout_s=0.3)
        ok = ch.send(out("k200"))
        assert ok.outcome == "sent" and ok.provider_id == "gw-k200" and ok.cost == 0.05
        assert ch.send(out("k429")).outcome == "retry"
        assert ch.send(out("k503")).outcome == "retry"
        assert ch.send(out("k400")).outcome == "dead"
        slow = ch.send(out("kslow"))
        assert slow.outcome == "retry" and "timeout" in (slow.error or "")
        bad = WebhookChannel("sms", url=gw.url, secret=b"wrong-secret-000000")
        assert bad.send(out("k1")).outcome == "dead" and gw.bad_signatures == 1
        ch.close()
        bad.close()
    closed = WebhookChannel("sms", url=gw.url, secret=SECRET, timeout_s=0.3)
    assert closed.send(out("k2")).outcome == "retry"  # connection refused
    closed.close()


def test_rate_limit_is_never_exceeded() -> None:
    gw = Gateway(SECRET)
    with running(gw):
        rate = 100.0
        ch = WebhookChannel("sms", url=gw.url, secret=SECRET, bucket=TokenBucket(rate, 1))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: ch.send(out(f"r{i}")), range(250)))
        ch.close()
    observed = sustained_rate(gw.arrivals)
    # Never above the rate, whatever the machine's load (the limiter's promise); below it
    # only by what a loaded machine costs — the accuracy at speed is bench/reach_webhook.py's
    # figure (5,001.6/s at 5,000/s), a timed test on a shared 2-core machine cannot hold 2 %.
    assert observed <= rate * 1.02, observed
    assert observed >= rate * 0.8, observed


def test_dispatch_retries_transient_errors_to_delivery(store: Store) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    gw = Gateway(SECRET, script={"m1": [503, 429, 200], "m2": [400], "m3": [500, 500, 500]})
    with running(gw):
        ch = WebhookChannel("sms", url=gw.url, secret=SECRET)
        policy = RetryPolicy(base_s=1, cap_s=10, max_attempts=3)
        d = Dispatcher(store, {"sms": ch}, policy=policy, clock=lambda: now[0])
        with store.session() as s:
            outbox.enqueue(
                s, [Message(f"m{i}", "sms", i, "c1", {"to": "x"}) for i in (1, 2, 3)], now=now[0]
            )
        for _ in range(4):
            d.run_once()
            now[0] += timedelta(seconds=30)
        d.close()
    with store.session() as s:
        status = dict(s.execute(select(OutboxRow.key, OutboxRow.status)).all())
    assert status == {"m1": "sent", "m2": "dead", "m3": "dead"}
    assert set(gw.delivered) == {"m1"} and gw.calls["m1"] == 3 and gw.calls["m3"] == 3


def _worker(url: str, config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "opsloop.reach.worker", "--db", url, "--config", str(config)],
        env=env,
        stderr=subprocess.PIPE,
    )


def _wait(pred: object, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_kill_9_of_a_worker_loses_nothing_and_sends_nothing_twice(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    n = 300
    with store.session() as s:
        outbox.enqueue(
            s,
            [
                Message(outbox.journey_key("j", 1, "sms1", c, 1), "sms", c, "j", {"to": str(c)})
                for c in range(n)
            ],
            now=datetime.now(UTC),
        )
    gw = Gateway(SECRET, delay_s=0.004)
    with running(gw):
        cfg = {
            "channels": {
                "sms": {
                    "kind": "webhook",
                    "url": gw.url,
                    "secret": SECRET.decode(),
                    "rate_per_s": 500,
                }
            },
            "lease_s": 2,
            "batch": 40,
            "concurrency": 8,
        }
        config = tmp_path / "reach.json"
        config.write_bytes(orjson.dumps(cfg))
        first = _worker(store_url, config)
        _wait(lambda: len(gw.delivered) >= 100, 30)
        first.send_signal(signal.SIGKILL)
        first.wait()
        in_flight = outbox.counts(store).get("sending", 0)
        second = _worker(store_url, config)
        try:
            _wait(lambda: outbox.counts(store) == {"sent": n}, 60)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, second.stderr.read() if second.stderr else ""
    keys = {outbox.journey_key("j", 1, "sms1", c, 1) for c in range(n)}
    assert set(gw.delivered) == keys  # nothing lost; the provider delivered each key once
    repeats = sum(v - 1 for v in gw.calls.values())
    assert repeats <= in_flight  # only messages in flight at the kill were re-sent (same key)
    with store.session() as s:
        assert s.scalar(select(func.count()).where(ContactRow.kind == "sent")) == n
        assert s.scalar(select(func.count(func.distinct(ContactRow.message_key)))) == n


@pytest.mark.parametrize("value", ["", "abc"])
def test_unsigned_or_garbage_timestamps_are_refused(value: str) -> None:
    assert signing.verify(SECRET, timestamp=value, signature="v1=00", body=b"", now=0) is not None
