"""Signed HTTP webhook: SMS, app push and WeChat template gateways behind one contract.

POST ``url`` with a JSON body (``id``, ``channel``, ``customer_id``, ``campaign``,
``payload``), ``Idempotency-Key: <outbox key>`` and an HMAC-SHA256 signature (see
:mod:`opsloop.reach.signing`). A 2xx may answer ``{"id": …, "cost": …}``; 429/5xx and
timeouts are retried; other 4xx are final. docs/reach.md is the gateway's contract.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson

from opsloop.reach import signing
from opsloop.reach.channels import http1
from opsloop.reach.channels.base import Outbound, SendResult, classify_http
from opsloop.reach.ratelimit import TickPacer, TokenBucket


class WebhookChannel:
    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: bytes,
        bucket: TokenBucket | None = None,
        cost: float = 0.0,
        timeout_s: float = 5.0,
        connections: int = 32,
    ) -> None:
        self.name, self.url, self.secret = name, url, secret
        self.bucket, self.cost = bucket, cost
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.Client(timeout=timeout_s, limits=limits)

    def body(self, msg: Outbound) -> bytes:
        return orjson.dumps(
            {
                "id": msg.key,
                "channel": msg.channel,
                "customer_id": msg.customer_id,
                "campaign": msg.campaign,
                "attempt": msg.attempt,
                "payload": msg.payload,
            }
        )

    def headers(self, msg: Outbound, body: bytes) -> dict[str, str]:
        """Content type, idempotency key and the HMAC signature over timestamp.body."""
        ts = int(time.time())
        return {
            "Content-Type": "application/json",
            signing.IDEMPOTENCY: msg.key,
            signing.TIMESTAMP: str(ts),
            signing.SIGNATURE: signing.sign(self.secret, ts, body),
        }

    def send(self, msg: Outbound) -> SendResult:
        if self.bucket is not None:
            self.bucket.acquire()
        body = self.body(msg)
        try:
            resp = self.client.post(self.url, content=body, headers=self.headers(msg, body))
        except httpx.TimeoutException as exc:
            return SendResult("retry", error=f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return SendResult("retry", error=f"transport: {exc!r}")
        return interpret(resp.status_code, resp.headers.get("retry-after"), resp.content, self.cost)

    def close(self) -> None:
        self.client.close()


def interpret(status: int, retry_after: str | None, content: bytes, cost: float) -> SendResult:
    """A gateway's answer as a send result (``{"id", "cost"}`` of a 2xx are optional)."""
    outcome = classify_http(status)
    if outcome != "sent":
        return SendResult(
            outcome,
            error=f"HTTP {status}: {content[:200].decode('utf-8', 'replace')}",
            retry_after=_retry_after(retry_after),
        )
    provider_id = None
    try:
        answer = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        answer = {}
    if isinstance(answer, dict):
        pid = answer.get("id")
        provider_id = str(pid) if pid is not None else None
        if isinstance(answer.get("cost"), int | float):
            cost = float(answer["cost"])
    return SendResult("sent", provider_id=provider_id, cost=cost)


class AsyncWebhookChannel(WebhookChannel):
    """The same contract for the asyncio dispatcher, over a lean keep-alive pool.

    ``asend`` waits on the token bucket (GCRA reservation) through a
    :class:`~opsloop.reach.ratelimit.TickPacer`, so thousands of sends can wait at once
    without a thread or a timer each.
    """

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: bytes,
        bucket: TokenBucket | None = None,
        cost: float = 0.0,
        timeout_s: float = 5.0,
        connections: int = 32,
    ) -> None:
        super().__init__(
            name,
            url=url,
            secret=secret,
            bucket=bucket,
            cost=cost,
            timeout_s=timeout_s,
            connections=connections,
        )
        self._pool_args = (url, connections, timeout_s)
        self._pool: http1.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacer = TickPacer()

    async def asend(self, msg: Outbound) -> SendResult:
        if self.bucket is not None:
            wait = self.bucket.reserve()
            if wait > 0:
                await self._pacer.sleep(wait)
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:  # connections belong to one loop
            if self._pool is not None:
                self._pool.close()
            url, size, timeout_s = self._pool_args
            self._pool, self._loop = http1.Pool(url, size=size, timeout_s=timeout_s), loop
        body = self.body(msg)
        try:
            resp = await self._pool.post(body, list(self.headers(msg, body).items()))
        except TimeoutError:
            return SendResult("retry", error="timeout")
        except OSError as exc:  # ConnectionError, refused, reset
            return SendResult("retry", error=f"transport: {exc!r}")
        return interpret(resp.status, resp.headers.get("retry-after"), resp.body, self.cost)

    def release(self) -> None:
        """Close this loop's connections (the dispatcher calls it before its loop ends)."""
        if self._pool is not None:
            self._pool.close()
        self._pool = self._loop = None

    def close(self) -> None:
        super().close()
        self.release()


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
