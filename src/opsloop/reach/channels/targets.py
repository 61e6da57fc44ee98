"""Where a journey's own webhook URL may go: the channel's host allow-list, and no
private address unless the bank named that very host.

A journey's ``webhook`` node names its URL; the Reach webhook channel it goes through
lists the hosts it may call (``allow_hosts`` in ``HOME/reach.json``). An entry is

* ``crm.bank.example`` (or ``crm.bank.example:8443``): that host over https, whatever
  address it resolves to — the bank named it, so an internal system is fine;
* ``*.partner.example``: any subdomain over https, **public addresses only** — a
  wildcard must not become a way into the bank's own network (SSRF);
* ``http://crm.internal`` (``http://10.0.0.5:8080``): plain http (or https) to that
  exact host, for internal systems without TLS.

An empty list refuses every node URL. :func:`refusal` is called twice: when a journey is
validated (``resolve=False``: scheme, host, port) and before each call (``resolve=True``:
a wildcard host that now resolves to a private, loopback, link-local or reserved address
is refused). Redirects are never followed by the channel, so the checked URL is the
called one.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

CALL_KEY = "_call"
"""Outbox payload key holding a node's own call (``{"url": …, "headers": {…}}``):
reserved, so a template field named ``url`` is body, never a destination."""

_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9][a-z0-9-]{0,62})*$")
_DEFAULT_PORT = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Rule:
    host: str  # lower case; "*.x" matches any subdomain of x
    port: int | None  # None: any port
    http: bool  # plain http allowed (an ``http://`` entry)

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != "https" and not (scheme == "http" and self.http):
            return False
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith(self.host[1:]) and not _is_ip(host)
        return host == self.host


def parse_entry(entry: str) -> Rule:
    """One allow-list entry, or ValueError saying what is wrong with it."""
    text = entry.strip().lower()
    http = text.startswith("http://")
    text = text.removeprefix("http://").removeprefix("https://").rstrip("/")
    host, port = text, None
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), entry)
    elif text.count(":") == 1:
        host, raw = text.split(":")
        port = _port(raw, entry)
    if not (_is_ip(host) or _HOST.match(host)):
        raise ValueError(f"allow_hosts entry {entry!r}: not a host name, *.domain or IP address")
    if http and host.startswith("*."):
        raise ValueError(f"allow_hosts entry {entry!r}: plain http is allowed to one host only")
    return Rule(host, port, http)


def _port(raw: str, entry: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"allow_hosts entry {entry!r}: bad port {raw!r}")
    return int(raw)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refusal(url: str, allow: Sequence[str], *, resolve: bool = False) -> str | None:
    """Why ``url`` may not be called through a channel allowing ``allow`` (None: it may).

    With ``resolve`` a wildcard match is looked up in DNS; a lookup failure raises
    ``OSError`` (a transient failure, not a verdict).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORT or not host:
        return "must be an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    port = port or _DEFAULT_PORT[parts.scheme]
    rule = next((r for r in map(parse_entry, allow) if r.matches(parts.scheme, host, port)), None)
    if rule is None:
        listed = ", ".join(allow) or "none"
        return f"{parts.scheme}://{host}:{port} is not in the channel's allow_hosts ({listed})"
    if resolve and rule.wildcard:
        bad = private_addresses(host, port)
        if bad:
            return (
                f"host {host} resolves to non-public address {bad[0]}; only a host listed "
                "by name (not a wildcard) may reach one"
            )
    return None


def private_addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host`` that are not globally routable (loopback, private, …)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not addr.is_global:
            out.append(str(addr))
    return out
