"""A template sent to a segment: scoped, rendered per customer, suppressions with reasons,
idempotent on rerun — checked against a brute-force computation over the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import select

from access.fixtures import PATHS, customers_table, seed_bank
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.insight.segments.service import validate_segment
from opsloop.reach import audience, consent, service
from opsloop.reach.models import ContactRow, OutboxRow, ShortLinkRow
from opsloop.reach.templates import TemplateDef
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEGMENT = validate_segment(
    {
        "id": "beijing",
        "name": "北京客户",
        "root": {"kind": "attribute", "field": "city", "op": "=", "value": "Beijing"},
    }
)
CONSENT_SMS = {2, 3, 5, 6, 7, 8, 9, 10, 11}  # 1 is not in Beijing; 4 and 12 no consent
DND = {6}
UNSUBSCRIBED = {7}


@pytest.fixture
def bank(home: Path) -> Iterator[tuple[Store, Warehouse, list[dict[str, object]]]]:
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'opsloop.db'}")
    seed_bank(settings)
    t = customers_table()
    ids = t.column("customer_id").to_pylist()
    t = t.set_column(
        t.schema.get_field_index("consent_sms"),
        "consent_sms",
        pa.array([i in CONSENT_SMS for i in ids]),
    )
    t = t.set_column(t.schema.get_field_index("dnd"), "dnd", pa.array([i in DND for i in ids]))
    wh = Warehouse.open(settings.warehouse)
    wh.replace_tables({"customers": t})
    store = Store.open(settings.database_url)
    yield store, wh, t.filter(pc.equal(t["city"], "Beijing")).to_pylist()
    store.close()
    wh.close()


def _expected(rows: list[dict[str, object]], scope: str) -> tuple[set[int], dict[int, str]]:
    """Brute force: who gets the message, and why each other one does not."""
    send: set[int] = set()
    why: dict[int, str] = {}
    for r in rows:
        cid = int(r["customer_id"])  # type: ignore[call-overload]
        if not str(r["org_path"]).startswith(scope):
            continue
        if not r["consent_sms"]:
            why[cid] = "no_consent"
        elif r["dnd"]:
            why[cid] = "dnd"
        elif cid in UNSUBSCRIBED:
            why[cid] = "unsubscribed"
        else:
            send.add(cid)
    return send, why


@pytest.mark.parametrize("scope", ["/HO/", PATHS["B01"]])
def test_segment_send_is_scoped_rendered_suppressed_and_idempotent(
    bank: tuple[Store, Warehouse, list[dict[str, object]]], scope: str
) -> None:
    store, wh, rows = bank
    principal = (
        LOCAL_OPERATOR
        if scope == "/HO/"
        else Principal(id="b01", kind="user", org_path=scope, permissions=frozenset({"*"}))
    )
    t = TemplateDef(
        template_id="renew",
        channel="sms",
        body="尊敬的{{ customer.name }}，您的存款即将到期 {{ short('https://bank.example/p/9') }}",
    )
    service.save_template(store, principal=LOCAL_OPERATOR, definition=t, now=NOW)
    with store.session() as s:
        for cid in UNSUBSCRIBED:
            consent.set_consent(
                s, customer_id=cid, channel="sms", allowed=False, source="t", now=NOW
            )
    run = audience.send_to_segment(
        store,
        wh,
        principal=principal,
        template_id="renew",
        segment=SEGMENT,
        campaign="renew-03",
        now=NOW,
    )
    send, why = _expected(rows, scope)
    assert run.matched == len(send) + len(why)
    assert run.enqueued == len(send) and run.already == 0
    assert run.suppressed == {r: list(why.values()).count(r) for r in set(why.values())}
    with store.session() as s:
        out = {r.customer_id: r for r in s.scalars(select(OutboxRow))}
        supp = {
            r.customer_id: r.reason
            for r in s.scalars(select(ContactRow).where(ContactRow.kind == "suppressed"))
        }
        links = {r.token: r for r in s.scalars(select(ShortLinkRow))}
    assert set(out) == send and supp == why
    for cid, row in out.items():
        masked = next(r["name_masked"] for r in rows if r["customer_id"] == cid)
        text = str(row.payload["text"])
        assert text.startswith(f"尊敬的{masked}，") and row.key == f"c:renew-03:sms:{cid}"
        token = text.rsplit("/r/", 1)[1]
        assert links[token].customer_id == cid and links[token].message_key == row.key
    # a rerun enqueues nobody twice and records no suppression twice
    again = audience.send_to_segment(
        store,
        wh,
        principal=principal,
        template_id="renew",
        segment=SEGMENT,
        campaign="renew-03",
        now=NOW,
    )
    assert again.enqueued == 0 and again.already == len(send)
    with store.session() as s:
        assert len(s.scalars(select(OutboxRow)).all()) == len(send)
        n_supp = len(s.scalars(select(ContactRow).where(ContactRow.kind == "suppressed")).all())
        assert n_supp == len(why)
        assert len(s.scalars(select(ShortLinkRow)).all()) == len(send)
