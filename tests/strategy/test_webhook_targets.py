"""A webhook node calls its own URL through Reach, only where the channel's allow-list says.

The allow-list is checked at journey validation (error names the node and field) and
again at send time (with DNS: a wildcard must not reach a private address); delivery is
checked end to end against a real local HTTP server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import select
from tests.strategy.helpers import webhook_doc

from opsloop.reach import signing
from opsloop.reach.channels import targets
from opsloop.reach.channels.base import Outbound
from opsloop.reach.channels.webhook import AsyncWebhookChannel, WebhookChannel
from opsloop.reach.config import ReachConfig
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.models import OutboxRow
from opsloop.reach.outbox import journey_key
from opsloop.store import Store
from opsloop.strategy.journey import JourneyValidationError, validate_journey
from opsloop.strategy.ports import StepBatch
from opsloop.strategy.sinks import ReachSink

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
SECRET = b"node-hook-secret-0123456789"


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("https://crm.bank.example/x", ["crm.bank.example"], True),
        ("https://crm.bank.example:8443/x", ["crm.bank.example"], True),
        ("https://crm.bank.example:8443/x", ["crm.bank.example:443"], False),
        ("http://crm.bank.example/x", ["crm.bank.example"], False),  # http needs http://
        ("http://crm.internal:8080/x", ["http://crm.internal:8080"], True),
        ("https://crm.internal:8080/x", ["http://crm.internal:8080"], True),
        ("http://crm.internal:8081/x", ["http://crm.internal:8080"], False),
        ("https://a.partner.example/x", ["*.partner.example"], True),
        ("https://partner.example/x", ["*.partner.example"], False),
        ("https://evilpartner.example/x", ["*.partner.example"], False),
        ("https://10.0.0.1/x", ["*.0.0.1"], False),  # a wildcard never matches an IP
        ("https://user:pw@crm.bank.example/x", ["crm.bank.example"], False),
        ("https://crm.bank.example/x", [], False),
        ("https://crm.bank.example/x", ["https://CRM.bank.example/"], True),
        ("http://crm.bank.example/x", ["https://crm.bank.example"], False),
    ],
)
def test_allow_list_rules(url: str, allow: list[str], ok: bool) -> None:
    assert (targets.refusal(url, allow) is None) is ok


@pytest.mark.parametrize("entry", ["", "http://*.a.example", "a b", "host:99999", "a..b"])
def test_bad_allow_list_entries_fail_the_reach_config(entry: str, tmp_path: Path) -> None:
    path = tmp_path / "reach.json"
    hook = {"kind": "webhook", "url": "https://gw.example/", "secret": "s" * 16}
    path.write_bytes(orjson.dumps({"channels": {"webhook": {**hook, "allow_hosts": [entry]}}}))
    with pytest.raises(Exception, match="allow_hosts"):
        ReachConfig.load(path)


def test_a_wildcard_host_resolving_to_a_private_address_is_refused_at_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the real resolver knows localhost is loopback …
    assert "127.0.0.1" in targets.private_addresses("localhost", 80)

    # … and no test DNS has a wildcard name pointing inside: answer for one name
    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        addr = {"in.partner.example": "10.1.2.3", "out.partner.example": "93.184.216.34"}[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port))]

    monkeypatch.setattr(targets.socket, "getaddrinfo", resolve)
    allow = ["*.partner.example"]
    assert targets.refusal("https://in.partner.example/", allow) is None  # no DNS: validation
    why = targets.refusal("https://in.partner.example/", allow, resolve=True)
    assert why is not None and "10.1.2.3" in why
    assert targets.refusal("https://out.partner.example/", allow, resolve=True) is None
    ch = WebhookChannel("hook", url="https://gw.example/", secret=SECRET, allow_hosts=allow)
    call = {"_call": {"url": "https://in.partner.example/"}}
    got = ch.send(Outbound("j:hooks:1:call:7:1", "hook", 7, "hooks", call))
    assert got.outcome == "dead" and got.error is not None and "payload._call.url" in got.error
    # a template field that happens to be called "url" is body, not a destination
    assert ch.target(Outbound("k", "hook", 7, "c", {"url": "https://in.partner.example/"})) == (
        "https://gw.example/",
        {},
    )
    ch.close()


def test_validation_names_the_node_and_field_of_a_host_not_allowed() -> None:
    hosts = {"webhook": ("crm.bank.example",), "partner": ("*.partner.example",)}
    doc = webhook_doc({"url": "https://crm.bank.example/leads/{{ customer_id }}"})
    assert validate_journey(doc, webhook_hosts=hosts).node("call").config.channel == "webhook"
    with pytest.raises(JourneyValidationError) as bad:
        validate_journey(webhook_doc({"url": "https://evil.example/x"}), webhook_hosts=hosts)
    assert bad.value.where == "nodes[1].config.url"
    assert "'call'" in str(bad.value) and "evil.example" in str(bad.value)
    with pytest.raises(JourneyValidationError) as plain:
        validate_journey(webhook_doc({"url": "http://crm.bank.example/x"}), webhook_hosts=hosts)
    assert plain.value.where == "nodes[1].config.url"
    with pytest.raises(JourneyValidationError) as channel:
        validate_journey(
            webhook_doc({"url": "https://crm.bank.example/x", "channel": "sms"}),
            webhook_hosts=hosts,
        )
    assert channel.value.where == "nodes[1].config.channel"
    assert "partner, webhook" in str(channel.value)
    # without a Reach config only the URL's form is checked (the send checks the host)
    assert validate_journey(webhook_doc({"url": "https://evil.example/x"})).node("call")


@dataclass
class Recorder:
    """A real local HTTP server noting each request's path, headers and body."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    @contextmanager
    def running(self) -> Iterator[Recorder]:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = orjson.dumps({"id": f"crm-{len(rec.seen)}"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _enqueue(store: Store, url: str, channel: str, ids: list[int]) -> None:
    cfg = validate_journey(
        webhook_doc({"url": url, "headers": {"X-Lead-Key": "{{ key }}"}, "channel": channel})
    ).node("call")
    batch = StepBatch("hooks", 2, "call", np.array(ids, np.int64), np.ones(len(ids), np.int64), NOW)
    with store.session() as s:
        ReachSink().record(s, batch, kind="webhook", payload=cfg.config.model_dump(mode="json"))


def test_the_node_url_is_called_signed_and_a_host_not_allowed_is_dead(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    gateway = Recorder()
    with Recorder().running() as crm, gateway.running():
        port = crm.url.rsplit(":", 1)[1]
        template = crm.url + "/leads/{{ customer_id }}?visit={{ visit }}"
        _enqueue(store, template, "crm", [7, 11])
        _enqueue(store, template.replace("127.0.0.1", "localhost"), "other", [5])
        allowed = WebhookChannel(
            "crm", url=gateway.url, secret=SECRET, allow_hosts=[f"http://127.0.0.1:{port}"]
        )
        # a host not listed (localhost: loopback, and not named) goes nowhere
        listed_other = WebhookChannel(
            "other", url=gateway.url, secret=SECRET, allow_hosts=["*.bank.example"]
        )
        d = Dispatcher(store, {"crm": allowed, "other": listed_other}, clock=lambda: NOW)
        assert d.run_once() == 3
        d.close()
    assert gateway.seen == []  # nothing went to the channel's own endpoint
    assert sorted(r["path"] for r in crm.seen) == ["/leads/11?visit=1", "/leads/7?visit=1"]
    for r in crm.seen:
        cid = int(r["path"].split("/")[2].split("?")[0])
        key = journey_key("hooks", 2, "call", cid, 1)
        assert r["headers"]["X-Lead-Key"] == key == r["headers"][signing.IDEMPOTENCY]
        sig, ts = r["headers"][signing.SIGNATURE], r["headers"][signing.TIMESTAMP]
        body = r["body"]
        assert signing.verify(SECRET, timestamp=ts, signature=sig, body=body, now=int(ts)) is None
        sent = orjson.loads(body)
        assert sent["customer_id"] == cid and "_call" not in sent["payload"]
    with store.session() as s:
        rows = {
            r.customer_id: r
            for r in s.execute(
                select(OutboxRow.customer_id, OutboxRow.status, OutboxRow.last_error)
            )
        }
    assert rows[7].status == rows[11].status == "sent"
    assert rows[5].status == "dead" and "allow_hosts" in (rows[5].last_error or "")
    store.close()


def test_the_async_channel_delivers_a_node_url_too() -> None:
    with Recorder().running() as crm:
        port = crm.url.rsplit(":", 1)[1]
        ch = AsyncWebhookChannel(
            "crm",
            url="https://gw.example/",
            secret=SECRET,
            allow_hosts=[f"http://127.0.0.1:{port}"],
        )
        payload = {"_call": {"url": crm.url + "/a?b=1", "headers": {"X-Team": "retail"}}}
        msg = Outbound("j:hooks:1:call:7:1", "crm", 7, "hooks", payload)
        got = asyncio.run(ch.asend(msg))
        ch.close()
    assert got.outcome == "sent" and got.provider_id == "crm-1"
    assert crm.seen[0]["path"] == "/a?b=1" and crm.seen[0]["headers"]["X-Team"] == "retail"
