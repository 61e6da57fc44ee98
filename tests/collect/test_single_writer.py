"""One writer per log directory: a second opener fails clearly, a dead holder frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.collect.log import EventLog, LogLockedError

HOLDER = """
import sys
from pathlib import Path
from opsloop.collect.log import EventLog
log = EventLog(Path(sys.argv[1]))
log.append([("held", b"x")])
print("ready", flush=True)
sys.stdin.read()
"""

OPENER = """
import sys
from pathlib import Path
from opsloop.collect.log import EventLog, LogLockedError
try:
    EventLog(Path(sys.argv[1]))
except LogLockedError as exc:
    print(exc)
    sys.exit(3)
"""


def test_second_open_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.append([("a", b"1")])
        with pytest.raises(LogLockedError, match=f"pid {os.getpid()}"):
            EventLog(tmp_path)
        log.append([("b", b"2")])  # the first writer is unharmed
    with EventLog(tmp_path) as again:  # closed → free
        assert [r.message_id for r in again.read(0)] == ["a", "b"]


def test_another_process_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        other = subprocess.run(
            [sys.executable, "-c", OPENER, str(tmp_path)], capture_output=True, text=True
        )
        assert other.returncode == 3, other.stderr
        assert f"in use by another writer (pid {holder.pid})" in other.stdout
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with EventLog(tmp_path) as log:  # kill -9 leaves no stale lock
        assert [r.message_id for r in log.read(0)] == ["held"]
