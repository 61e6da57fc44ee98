"""``open_stream``: one place picks the embedded log or Redis from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from opsloop.collect.log import EventLog, LogLockedError
from opsloop.collect.redis_stream import RedisStream
from opsloop.collect.stream import DAY_S, open_stream, release


def test_embedded_log_with_configured_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLOOP_COLLECT_LOG_RETENTION_DAYS", "2.5")
    stream = open_stream(tmp_path, None)
    try:
        assert isinstance(stream, EventLog)
        assert stream.directory == tmp_path / "events"
        assert stream.retention_s == 2.5 * DAY_S
        with pytest.raises(LogLockedError):  # a second writer is refused
            open_stream(tmp_path, "")
    finally:
        release(stream)


def test_shared_log_is_one_per_process_until_the_last_release(tmp_path: Path) -> None:
    a = open_stream(tmp_path, None, shared=True)
    b = open_stream(tmp_path, None, shared=True)
    assert a is b
    release(a)
    assert b.append([("m", b"{}")]).stored == 1  # still open for the other user
    release(b)
    again = open_stream(tmp_path, None)  # the lock was released
    release(again)


def test_a_bad_retention_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLOOP_COLLECT_LOG_RETENTION_DAYS", "-1")
    with pytest.raises(ValidationError, match="log_retention_days"):
        open_stream(tmp_path, None)
    assert not (tmp_path / "events").exists()  # nothing opened or created


def test_redis_when_a_url_is_set(tmp_path: Path, redis_url: str) -> None:
    stream = open_stream(tmp_path, redis_url)
    try:
        assert isinstance(stream, RedisStream)
        assert stream.append([("r1", b"{}")]).stored == 1
    finally:
        release(stream)
    assert not (tmp_path / "events").exists()
