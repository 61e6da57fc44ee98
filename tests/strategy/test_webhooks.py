"""Per-node webhook URLs and headers: validated with the field named, rendered per customer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import select
from tests.strategy.helpers import webhook_doc

from opsloop.reach.models import OutboxRow
from opsloop.reach.outbox import journey_key
from opsloop.store import Store
from opsloop.strategy.journey import JourneyValidationError, validate_journey
from opsloop.strategy.ports import StepBatch
from opsloop.strategy.sinks import ReachSink

NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def test_a_valid_node_keeps_its_url_headers_and_channel() -> None:
    cfg = {
        "url": "https://crm.bank.example/leads/{{ customer_id }}?src={{ journey_id }}",
        "headers": {"X-Lead-Key": "{{ key }}", "Authorization": "Bearer static-token"},
        "channel": "crm_hook",
    }
    node = validate_journey(webhook_doc(cfg)).node("call")
    assert node.config.url == cfg["url"]
    assert node.config.headers == cfg["headers"]
    assert node.config.channel == "crm_hook"
    assert validate_journey(webhook_doc({"url": "https://a.example/x"})).node(
        "call"
    ).config.channel == ("webhook")


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"url": "ftp://a.example/x"}, "url", "https"),
        ({"url": "https://{{ customer_id }}.example/x"}, "url", "host must be literal"),
        ({"url": "https://a.example/{{ phone }}"}, "url", "unknown variable(s) phone"),
        ({"url": "https://a.example/{{ customer_id"}, "url", "template error"),
        ({"url": "https://a.example/x", "headers": {"Host": "b.example"}}, "headers", "channel"),
        (
            {"url": "https://a.example/x", "headers": {"X-Opsloop-Signature": "forged"}},
            "headers",
            "set by the webhook channel",
        ),
        ({"url": "https://a.example/x", "headers": {"Bad Name": "v"}}, "headers", "header name"),
        ({"url": "https://a.example/x", "headers": {"X-A": "a\r\nX-B: b"}}, "headers", "line"),
        ({"url": "https://a.example/x", "headers": {"X-A": "{{ secret }}"}}, "headers", "secret"),
        ({"url": "https://a.example/x", "channel": "no spaces"}, "channel", "pattern"),
    ],
)
def test_bad_configs_are_refused_naming_node_and_field(
    config: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(JourneyValidationError) as err:
        validate_journey(webhook_doc(config))
    issues = err.value.issues
    assert any(
        i.where.startswith("nodes[1]") and field in i.where and words in i.message for i in issues
    ), issues


def test_reach_sink_renders_each_customers_call_once(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    cfg = (
        validate_journey(
            webhook_doc(
                {
                    "url": "https://crm.bank.example/leads/{{ customer_id }}?v={{ visit }}",
                    "headers": {"X-Lead-Key": "{{ key }}", "X-Team": "retail"},
                    "channel": "crm_hook",
                }
            )
        )
        .node("call")
        .config
    )
    ids = np.array([7, 3, 11], dtype=np.int64)
    visits = np.array([1, 2, 1], dtype=np.int64)
    batch = StepBatch("hooks", 4, "call", ids, visits, NOW)
    sink = ReachSink()
    for _ in range(2):  # a replayed step enqueues nothing more
        with store.session() as s:
            sink.record(s, batch, kind="webhook", payload=cfg.model_dump(mode="json"))
    with store.session() as s:
        rows = s.execute(
            select(OutboxRow.key, OutboxRow.channel, OutboxRow.customer_id, OutboxRow.payload)
        ).all()
    assert len(rows) == 3
    by_customer = {r.customer_id: r for r in rows}
    for cid, visit in zip(ids.tolist(), visits.tolist(), strict=True):
        row = by_customer[cid]
        key = journey_key("hooks", 4, "call", cid, visit)
        payload = row.payload if isinstance(row.payload, dict) else orjson.loads(row.payload)
        assert row.key == key
        assert row.channel == "crm_hook"
        assert payload["_call"]["url"] == f"https://crm.bank.example/leads/{cid}?v={visit}"
        assert payload["_call"]["headers"] == {"X-Lead-Key": key, "X-Team": "retail"}
        assert (payload["journey_id"], payload["version"], payload["node_id"]) == (
            "hooks",
            4,
            "call",
        )
    store.close()
