"""A lean asyncio HTTP/1.1 client: a pool of keep-alive connections to one gateway.

Why not httpx/aiohttp: at thousands of webhook calls per second the per-request cost
of a general client (its request/response objects, middleware, header models) is what
bounds dispatch on a 2-core machine. A gateway call is always the same shape — one POST
to one origin, JSON answer — so a protocol that writes pre-built bytes and parses the
answer with httptools (the C parser uvicorn uses) is enough, and several times cheaper.

One request at a time per connection (no pipelining); ``size`` connections at most.
A connection the server closes, or one that timed out, is dropped and reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _Conn(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends bytes and awaits the parsed answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionError("connection closed by the server"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        resp = Response(self.parser.get_status_code(), self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.close()
        self._headers, self._body = {}, []
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result(resp)

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(exc)

    async def request(self, data: bytes) -> Response:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                self.transport.close()


class Pool:
    """Up to ``size`` keep-alive connections to the origin of ``url``."""

    def __init__(self, url: str, *, size: int = 32, timeout_s: float = 5.0) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if u.scheme == "https" else None
        self.path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        default = (u.scheme == "https" and self.port == 443) or self.port == 80
        self.authority = self.host if default else f"{self.host}:{self.port}"
        self.timeout_s = timeout_s
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        sni = self.host if self.ssl else None
        _, conn = await loop.create_connection(
            _Conn, self.host, self.port, ssl=self.ssl, server_hostname=sni
        )
        return conn

    def encode(self, body: bytes, headers: list[tuple[str, str]]) -> bytes:
        """The request bytes of a POST of ``body`` (JSON) with extra ``headers``."""
        head = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.authority}",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def post(self, body: bytes, headers: list[tuple[str, str]]) -> Response:
        """POST and wait for the answer; raises TimeoutError or ConnectionError."""
        data = self.encode(body, headers)
        async with self._slots:
            conn = None
            while self._idle:
                c = self._idle.pop()
                if not c.closed:
                    conn = c
                    break
            try:
                async with asyncio.timeout(self.timeout_s):
                    if conn is None:
                        conn = await self._connect()
                    resp = await conn.request(data)
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if not conn.closed:
                self._idle.append(conn)
            return resp

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for c in idle:
            c.close()
