"""A dispatch worker process: ``python -m opsloop.reach.worker --db URL --config FILE``.

Runs until SIGTERM/SIGINT (finishing its batch); ``opsloop reach dispatch`` is the same
loop from the CLI. Several may run at once against one store.
"""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import timedelta
from pathlib import Path

from opsloop.reach.config import ReachConfig, build_channels
from opsloop.reach.dispatch import Dispatcher
from opsloop.store import Store


def run(db: str, config: ReachConfig, stop: threading.Event, *, migrate: bool = False) -> int:
    store = Store.open(db, migrate=migrate)
    d = Dispatcher(
        store,
        build_channels(config, store),
        policy=config.retry,
        lease=timedelta(seconds=config.lease_s),
        batch=config.batch,
        concurrency=config.concurrency,
    )
    try:
        return d.run(stop)
    finally:
        d.close()
        store.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="opsloop.reach.worker")
    ap.add_argument("--db", required=True)
    ap.add_argument("--config", required=True, type=Path)
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(args.db, ReachConfig.load(args.config), stop)


if __name__ == "__main__":
    main()
