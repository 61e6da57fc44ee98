"""The one protocol every channel adapter implements, and what a send can come to.

A channel turns one :class:`Outbound` message into one :class:`SendResult`; it never
touches the outbox. Transient failures (HTTP 429/5xx, timeouts, a dropped connection,
SMTP 4xx) come back as ``retry``; permanent ones (other 4xx, SMTP 5xx) as ``dead``.
The dispatcher decides when to retry; the adapter only says whether it makes sense.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["sent", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message as a channel sees it; ``key`` is the provider's idempotency key."""

    key: str
    channel: str
    customer_id: int
    campaign: str
    payload: Mapping[str, object]
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    cost: float = 0.0
    error: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait


class Channel(Protocol):
    """A delivery adapter (webhook gateway, SMTP, inbox, task list, …)."""

    name: str

    def send(self, msg: Outbound) -> SendResult: ...

    def close(self) -> None: ...


def classify_http(status: int) -> Outcome:
    """2xx sent; 408, 425, 429 and 5xx are worth retrying; any other status is final."""
    if 200 <= status < 300:
        return "sent"
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "dead"


def text(payload: Mapping[str, object], name: str, default: str = "") -> str:
    value = payload.get(name, default)
    return value if isinstance(value, str) else str(value)
