"""A worker process for the leadership tests: a singleton job that records its pid."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import psycopg

from opsloop.runtime.singleton import leadership
from opsloop.runtime.worker import Job, Worker


def main() -> None:
    url, home = sys.argv[1], Path(sys.argv[2])

    def tick(_now: datetime) -> int:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("insert into ticks (pid) values (%s)", (os.getpid(),))
        return 0

    worker = Worker(
        [Job("scheduler", tick, every=0.1, singleton=True)],
        make_leadership=lambda name: leadership(url, home, name),
        idle_sleep=0.05,
    )
    worker.install_signal_handlers()
    print("ready", flush=True)
    worker.run(max_seconds=60)


if __name__ == "__main__":
    main()
