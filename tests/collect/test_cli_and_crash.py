"""The ``source`` CLI, and the log under kill -9 of a real writer process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from opsloop.cli import collect as collect_cli
from opsloop.cli.main import app as main_app
from opsloop.collect.log import EventLog


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.callback()(main_app.registered_callback.callback)  # type: ignore[union-attr]
    root.add_typer(collect_cli.app, name="source")
    return root


def test_source_create_list_revoke(home: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(_cli(), ["source", "create", "ios-app"])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("olk_")
    r = runner.invoke(_cli(), ["source", "list", "-f", "json"])
    assert r.exit_code == 0 and "ios-app" in r.stdout and key not in r.stdout
    r = runner.invoke(_cli(), ["source", "revoke", "ios-app"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(_cli(), ["source", "list", "-f", "csv"])
    assert "ios-app" in r.stdout and ",None" not in r.stdout.splitlines()[1]


WRITER = """
import sys, threading
from pathlib import Path
from opsloop.collect.log import EventLog
log = EventLog(Path(sys.argv[1]))
out = threading.Lock()
def worker(t):
    i = 0
    while True:
        mid = f"w{t}-{i}"
        log.append([(mid, b"x" * (i % 300))])
        with out:  # printed only after the fsync'd ack
            sys.stdout.write(mid + "\\n")
            sys.stdout.flush()
        i += 1
for t in range(8):
    threading.Thread(target=worker, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    logdir = tmp_path / "events"
    for _round in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(logdir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        acked: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(acked) < 400 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                acked.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        acked.extend(x.strip() for x in proc.stdout.read().splitlines() if x.strip())
        assert len(acked) >= 400
        with EventLog(logdir) as log:
            got = [r.message_id for r in log.read(0, 10**9)]
        assert len(got) == len(set(got))  # nothing twice
        missing = set(acked) - set(got)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
