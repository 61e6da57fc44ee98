"""Signed HTTP webhook: SMS, app push and WeChat template gateways behind one contract.

POST ``url`` with a JSON body (``id``, ``channel``, ``customer_id``, ``campaign``,
``payload``), ``Idempotency-Key: <outbox key>`` and an HMAC-SHA256 signature (see
:mod:`opsloop.reach.signing`). A 2xx may answer ``{"id": …, "cost": …}``; 429/5xx and
timeouts are retried; other 4xx are final. docs/reach.md is the gateway's contract.
"""

from __future__ import annotations

import time

import httpx
import orjson

from opsloop.reach import signing
from opsloop.reach.channels.base import Outbound, SendResult, classify_http
from opsloop.reach.ratelimit import TokenBucket


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

    def send(self, msg: Outbound) -> SendResult:
        if self.bucket is not None:
            self.bucket.acquire()
        body = self.body(msg)
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            signing.IDEMPOTENCY: msg.key,
            signing.TIMESTAMP: str(ts),
            signing.SIGNATURE: signing.sign(self.secret, ts, body),
        }
        try:
            resp = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return SendResult("retry", error=f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return SendResult("retry", error=f"transport: {exc!r}")
        outcome = classify_http(resp.status_code)
        if outcome != "sent":
            return SendResult(
                outcome,
                error=f"HTTP {resp.status_code}: {resp.text[:200]}",
                retry_after=_retry_after(resp.headers.get("retry-after")),
            )
        provider_id, cost = None, self.cost
        try:
            answer = orjson.loads(resp.content) if resp.content else {}
        except orjson.JSONDecodeError:
            answer = {}
        if isinstance(answer, dict):
            pid = answer.get("id")
            provider_id = str(pid) if pid is not None else None
            if isinstance(answer.get("cost"), int | float):
                cost = float(answer["cost"])
        return SendResult("sent", provider_id=provider_id, cost=cost)

    def close(self) -> None:
        self.client.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
