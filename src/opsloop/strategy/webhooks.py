"""Per-node webhook calls: a URL and headers templated per customer, checked up front.

A ``webhook`` action node names its own endpoint (``url``) and request headers; both
may use the step's variables — ``customer_id``, ``journey_id``, ``version``,
``node_id``, ``visit`` and ``key`` (the step's idempotency key) — through the sandboxed
Jinja2 environment Reach's templates use. :func:`check_url` and :func:`check_headers`
reject at validation time what could not be sent: a host that is templated (the
customer must not choose where the bank calls), a scheme other than http(s), unknown
variables, header names that are not HTTP tokens, headers the channel sets itself
(signature, idempotency key, framing), and line breaks (header injection).
:func:`target_issues` checks each node's URL against its Reach channel's host allow-list
(``allow_hosts``; plain http only where an entry says ``http://``) when the Reach config
is known. :func:`render` fills them in for a whole cohort at once; Reach's webhook
channel calls each row's ``url`` (``reach_outbox`` payload ``url`` and ``headers``),
checking the allow-list again with DNS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from opsloop.insight.segments.errors import Issue
from opsloop.reach.channels import targets

ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
VARIABLES = ("customer_id", "journey_id", "version", "node_id", "visit", "key")
# set by the channel (signature, idempotency, framing): a node may not override them
RESERVED = frozenset(
    {
        "host", "content-length", "content-type", "transfer-encoding", "connection",
        "idempotency-key", "x-opsloop-timestamp", "x-opsloop-signature", "te", "upgrade",
    }
)  # fmt: skip
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_SAMPLE = {
    "customer_id": 1, "journey_id": "j", "version": 1, "node_id": "n", "visit": 1,
    "key": "j:j:1:n:1:1",
}  # fmt: skip


def _compile(text: str, what: str) -> jinja2.Template:
    try:
        ast = ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{what}: template error on line {exc.lineno}: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(ast) - set(VARIABLES))
    if unknown:
        raise ValueError(
            f"{what}: unknown variable(s) {', '.join(unknown)}; one of {', '.join(VARIABLES)}"
        )
    return ENV.from_string(text)


def check_url(url: str) -> str:
    """The URL template of a node, or ValueError saying what is wrong with it."""
    origin = url.split("/", 3)[:3]
    if any(mark in part for part in origin for mark in ("{{", "{%", "{#")):
        raise ValueError("the scheme and host must be literal (only the path and query vary)")
    sample = _compile(url, "url").render(_SAMPLE)
    parts = urlsplit(sample)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an https:// URL with a host (http:// only if allow-listed)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@)")
    if any(c in sample for c in "\r\n \t"):
        raise ValueError("must not contain whitespace or line breaks")
    return url


def target_issues(nodes: Iterable[Any], hosts: Mapping[str, Sequence[str]]) -> list[Issue]:
    """Webhook nodes whose channel is not a Reach webhook channel, or whose URL's host
    that channel's ``allow_hosts`` do not permit (``hosts``: channel → allow-list)."""
    issues: list[Issue] = []
    for i, node in enumerate(nodes):
        if node.kind != "webhook":
            continue
        ch = node.config.channel
        if ch not in hosts:
            have = ", ".join(sorted(hosts)) or "none"
            where, why = "channel", f"no Reach webhook channel {ch!r} (webhook channels: {have})"
        else:
            sample = ENV.from_string(node.config.url).render(_SAMPLE)
            where, why = "url", targets.refusal(sample, hosts[ch]) or ""
        if why:
            issues.append(Issue(f"nodes[{i}].config.{where}", f"webhook node {node.id!r}: {why}"))
    return issues


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The header templates of a node, or ValueError naming the bad header."""
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise ValueError(f"header {name!r}: not a valid HTTP header name")
        if name.lower() in RESERVED:
            raise ValueError(f"header {name!r}: set by the webhook channel itself")
        if len(value) > 1000:
            raise ValueError(f"header {name!r}: longer than 1000 characters")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r}: line breaks are not allowed")
        _compile(value, f"header {name!r}")
    return dict(headers)


def render(
    url: str,
    headers: Mapping[str, str],
    *,
    journey_id: str,
    version: int,
    node_id: str,
    customer_ids: Sequence[int],
    visits: Sequence[int],
    keys: Sequence[str],
) -> list[tuple[str, dict[str, str]]]:
    """(URL, headers) per customer; a text without a placeholder is rendered once."""
    fixed = {"journey_id": journey_id, "version": version, "node_id": node_id}
    texts = {"": url, **{f"h:{k}": v for k, v in headers.items()}}
    static = {k: v for k, v in texts.items() if "{" not in v}
    live = {k: ENV.from_string(v) for k, v in texts.items() if k not in static}
    out: list[tuple[str, dict[str, str]]] = []
    for cid, visit, key in zip(customer_ids, visits, keys, strict=True):
        ctx: dict[str, Any] = {**fixed, "customer_id": cid, "visit": visit, "key": key}
        got = {**static, **{k: t.render(ctx) for k, t in live.items()}}
        hdrs = {k[2:]: v for k, v in got.items() if k}
        bad = [k for k, v in hdrs.items() if "\r" in v or "\n" in v]
        if bad or any(c in got[""] for c in "\r\n"):
            raise ValueError(f"customer {cid}: a rendered header or URL has a line break")
        out.append((got[""], hdrs))
    return out
