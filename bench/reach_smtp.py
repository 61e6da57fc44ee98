"""Benchmark: e-mail dispatch from the outbox over real SMTP to aiosmtpd in another process.

The server (aiosmtpd, no TLS) accepts every message and counts distinct ``Message-ID``s
(the outbox key's digest) and repeats; it writes its counts to a JSON file the bench
reads. The dispatcher is :class:`opsloop.reach.dispatch.Dispatcher` with the SMTP
channel: one connection per sending thread, reused across messages (``reuse``).
Baseline in the same run: a channel that opens and closes a connection for every
message (``per_message``) — what a naive ``smtplib.sendmail`` loop costs.

    .venv/bin/python bench/reach_smtp.py [--messages 5000] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsloop.reach import outbox
from opsloop.reach.channels.base import Outbound, SendResult
from opsloop.reach.channels.email import SmtpChannel
from opsloop.reach.dispatch import Dispatcher
from opsloop.store import Store

SMALL = ["--messages", "300", "--threads", "4"]


def serve(port: int, stats_path: Path) -> None:
    """aiosmtpd on ``port``; counts written to ``stats_path`` every 0.1 s."""
    import asyncio

    from aiosmtpd.controller import Controller

    state: dict[str, Any] = {"ids": set(), "repeats": 0, "bytes": 0}

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            data: bytes = envelope.content
            mid = b""
            for line in data.split(b"\r\n", 40):
                if line.lower().startswith(b"message-id:"):
                    mid = line[11:].strip()
                    break
            if mid in state["ids"]:
                state["repeats"] += 1
            else:
                state["ids"].add(mid)
            state["bytes"] += len(data)
            return "250 OK"

    c = Controller(Handler(), hostname="127.0.0.1", port=port)
    c.start()
    try:
        while True:
            stats_path.write_text(
                json.dumps(
                    {
                        "delivered": len(state["ids"]),
                        "repeats": state["repeats"],
                        "bytes": state["bytes"],
                        "cpu_s": time.process_time(),
                    }
                )
            )
            time.sleep(0.1)
    finally:
        c.stop()
        asyncio.set_event_loop(None)


class PerMessage(SmtpChannel):
    """The baseline: a fresh SMTP connection for every message."""

    def send(self, msg: Outbound) -> SendResult:
        try:
            return super().send(msg)
        finally:
            self._drop()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(path: Path) -> dict[str, Any]:
    for _ in range(1200):  # up to 60 s: a busy machine starts Python slowly
        try:
            out: dict[str, Any] = json.loads(path.read_text())
            return out
        except (OSError, ValueError):
            time.sleep(0.05)
    raise RuntimeError("no stats from the SMTP server")


def run(kind: str, port: int, stats_path: Path, tmp: Path, n: int, threads: int) -> dict[str, Any]:
    store = Store.open(f"sqlite:///{tmp / f'{kind}.db'}", migrate=True)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.session() as s:
        outbox.enqueue(
            s,
            [
                outbox.Message(
                    f"mail:{kind}:{i}",
                    "email",
                    i,
                    "bench",
                    {
                        "to": f"c{i}@example.com",
                        "subject": "您的理财产品到期提醒",
                        "text": "尊敬的客户，您的理财产品将于本周到期。" * 5,
                        "unsubscribe_url": f"https://bank.example/r/u{i}",
                    },
                )
                for i in range(n)
            ],
            now=now,
        )
    cls = PerMessage if kind == "per_message" else SmtpChannel
    ch = cls("email", host="127.0.0.1", port=port, sender="ops@bank.example", starttls=False)
    d = Dispatcher(store, {"email": ch}, batch=200, concurrency=threads)
    before = _stats(stats_path)
    t0, c0 = time.perf_counter(), time.process_time()
    handled = 0
    while (k := d.run_once()) > 0:
        handled += k
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    d.close()
    time.sleep(0.3)
    after = _stats(stats_path)
    counts = outbox.counts(store)
    store.close()
    return {
        "messages": n,
        "handled": handled,
        "wall_s": round(wall, 3),
        "msgs_per_s": round(n / wall, 1),
        "delivered": after["delivered"] - before["delivered"],
        "repeats": after["repeats"] - before["repeats"],
        "outbox": counts,
        "dispatcher_cpu_us_per_msg": round(1e6 * cpu / n, 1),
        "server_cpu_us_per_msg": round(1e6 * (after["cpu_s"] - before["cpu_s"]) / n, 1),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--stats", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.stats)
        return
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        port, stats_path = _port(), tmp / "smtp.json"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--stats", str(stats_path)]
        )
        try:
            _stats(stats_path)
            out: dict[str, Any] = {"bench": "reach_smtp", "cores": os.cpu_count()}
            out["reuse"] = run("reuse", port, stats_path, tmp, args.messages, args.threads)
            # Same size as the reused run: with a fifth of it (one claim of 200 messages
            # over 8 threads) start-up and the last straggler made the ratio flip.
            out["per_message"] = run(
                "per_message", port, stats_path, tmp, args.messages, args.threads
            )
            out["reuse_vs_per_message"] = round(
                out["reuse"]["msgs_per_s"] / out["per_message"]["msgs_per_s"], 2
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
