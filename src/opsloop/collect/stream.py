"""Opening the event stream from settings: the one place that chooses between the
embedded log and Redis Streams.

``OPSLOOP_REDIS_URL`` set → :class:`~opsloop.collect.redis_stream.RedisStream` (any
number of processes); otherwise the embedded :class:`~opsloop.collect.log.EventLog` in
``OPSLOOP_HOME/events`` (one writing process; a second opener gets
:class:`~opsloop.collect.log.LogLockedError`, which each caller words for its user).

``OPSLOOP_COLLECT_LOG_RETENTION_DAYS`` (default 30) is how long sealed segments of the
embedded log are kept; they are deleted only after the warehouse flusher and every
other consumer have committed past them (see :mod:`opsloop.collect.log`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from opsloop.collect.log import EventLog, EventStream

DAY_S = 24 * 3600.0


class StreamSettings(BaseSettings):
    """``OPSLOOP_COLLECT_LOG_RETENTION_DAYS``: days a sealed log segment is kept."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_COLLECT_", extra="ignore")

    log_retention_days: float = Field(default=30.0, gt=0)


def open_log(directory: Path, settings: StreamSettings | None = None) -> EventLog:
    """The embedded log in ``directory`` with the configured retention."""
    days = (settings or StreamSettings()).log_retention_days
    return EventLog(directory, retention_s=days * DAY_S)


_shared: dict[Path, tuple[EventLog, int]] = {}
_shared_lock = threading.Lock()


def _shared_log(directory: Path) -> EventLog:
    """The process's one open log of ``directory``: apps in one process share it, while
    the log's file lock refuses a writer in another *process*."""
    key = directory.resolve()
    with _shared_lock:
        log, users = _shared.get(key, (None, 0))
        if log is None:
            log = open_log(directory)
        _shared[key] = (log, users + 1)
        return log


def release(stream: EventStream) -> None:
    """Close a stream from :func:`open_stream` (a shared log when its last user goes)."""
    if not isinstance(stream, EventLog):
        stream.close()
        return
    key = stream.directory.resolve()
    with _shared_lock:
        log, users = _shared.get(key, (None, 0))
        if log is not stream:  # not shared: this caller owns it
            stream.close()
        elif users <= 1:
            _shared.pop(key, None)
            stream.close()
        else:
            _shared[key] = (stream, users - 1)


def open_stream(home: Path, redis_url: str | None, *, shared: bool = False) -> EventStream:
    """The event stream the settings name: Redis when ``redis_url`` is set, else the
    embedded log in ``home/events``.

    Args:
        home: ``OPSLOOP_HOME``.
        redis_url: ``OPSLOOP_REDIS_URL`` (None or empty: the embedded log).
        shared: share one open log among the apps of this process (the server's
            collector); close it with :func:`release`.

    Raises:
        LogLockedError: another process writes the embedded log.
    """
    if redis_url:
        from opsloop.collect.redis_stream import RedisStream

        return RedisStream(redis_url)
    directory = home / "events"
    return _shared_log(directory) if shared else open_log(directory)
