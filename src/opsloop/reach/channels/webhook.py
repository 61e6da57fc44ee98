"""Signed HTTP webhook: SMS, app push and WeChat template gateways behind one contract.

POST ``url`` with a JSON body (``id``, ``channel``, ``customer_id``, ``campaign``,
``payload``), ``Idempotency-Key: <outbox key>`` and an HMAC-SHA256 signature (see
:mod:`opsloop.reach.signing`). A 2xx may answer ``{"id": …, "cost": …}``; 429/5xx and
timeouts are retried; other 4xx are final. docs/reach.md is the gateway's contract.

A message whose payload has a ``url`` (a journey's ``webhook`` node: its own endpoint,
rendered per customer, and ``headers``) goes to that URL instead of the channel's,
signed the same way, if the channel's ``allow_hosts`` permit it
(:mod:`opsloop.reach.channels.targets`); otherwise it is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import httpx
import orjson

from opsloop.reach import signing
from opsloop.reach.channels import http1, targets
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
        allow_hosts: Sequence[str] = (),
    ) -> None:
        self.name, self.url, self.secret = name, url, secret
        self.bucket, self.cost = bucket, cost
        self.allow_hosts = tuple(allow_hosts)
        for entry in self.allow_hosts:
            targets.parse_entry(entry)  # a bad entry fails at start, not per message
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        # never follow a redirect: the allow-list checked the URL that is called
        self.client = httpx.Client(timeout=timeout_s, limits=limits, follow_redirects=False)

    def body(self, msg: Outbound) -> bytes:
        payload = msg.payload
        if targets.CALL_KEY in payload:  # the node's target is the request, not its body
            payload = {k: v for k, v in payload.items() if k != targets.CALL_KEY}
        return orjson.dumps(
            {
                "id": msg.key,
                "channel": msg.channel,
                "customer_id": msg.customer_id,
                "campaign": msg.campaign,
                "attempt": msg.attempt,
                "payload": payload,
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

    def target(self, msg: Outbound) -> tuple[str, dict[str, str]] | SendResult:
        """(URL, headers) of the call, or the result that ends the message without one."""
        call = msg.payload.get(targets.CALL_KEY)
        if call is None:
            return self.url, {}
        if not isinstance(call, Mapping) or "url" not in call:
            return SendResult("dead", error=f"payload.{targets.CALL_KEY}: not an object with a url")
        url = call["url"]
        try:
            why = targets.refusal(str(url), self.allow_hosts, resolve=True)
        except OSError as exc:
            return SendResult("retry", error=f"dns: {exc!r}")
        if why is not None:
            return SendResult("dead", error=f"payload.{targets.CALL_KEY}.url: {why}")
        extra = call.get("headers") or {}
        if not isinstance(extra, Mapping):
            return SendResult("dead", error=f"payload.{targets.CALL_KEY}.headers: not an object")
        out = {str(k): str(v) for k, v in extra.items()}
        if any(k.lower() in _FRAMING or "\r" in v or "\n" in v for k, v in out.items()):
            return SendResult(
                "dead",
                error=f"payload.{targets.CALL_KEY}.headers: a channel-set header or a line break",
            )
        return str(url), out

    def send(self, msg: Outbound) -> SendResult:
        target = self.target(msg)
        if isinstance(target, SendResult):
            return target
        url, extra = target
        if self.bucket is not None:
            self.bucket.acquire()
        body = self.body(msg)
        try:
            # the channel's own headers (signature, idempotency key) win over a node's
            resp = self.client.post(url, content=body, headers=extra | self.headers(msg, body))
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
        allow_hosts: Sequence[str] = (),
    ) -> None:
        super().__init__(
            name,
            url=url,
            secret=secret,
            bucket=bucket,
            cost=cost,
            timeout_s=timeout_s,
            connections=connections,
            allow_hosts=allow_hosts,
        )
        self._pool_args = (url, connections, timeout_s)
        self._pool: http1.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacer = TickPacer()

    async def asend(self, msg: Outbound) -> SendResult:
        if targets.CALL_KEY in msg.payload:
            # a node's own URL: any origin, so not this channel's one-origin pool; these
            # calls are few next to the gateway's messages, a thread each is enough
            return await asyncio.to_thread(self.send, msg)
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


# set by the channel itself (framing, signature, idempotency): a node's header may not
_FRAMING = frozenset(
    {
        "host", "content-length", "content-type", "transfer-encoding", "connection", "upgrade",
        "te", signing.IDEMPOTENCY.lower(), signing.TIMESTAMP.lower(), signing.SIGNATURE.lower(),
    }
)  # fmt: skip


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
