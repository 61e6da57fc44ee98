"""The 360° customer profile (客户画像): one customer, every center's view, in scope.

The attributes come from :func:`opsloop.insight.customers.get_customer`, which applies
the caller's data scope (a customer outside it is "not found") and masks PII unless
revealed with ``pii:view`` (audited). Only once that has passed are the other sections
read — each a small query keyed on the one customer id: current tags, holdings, the AUM
trend, recent events and transactions, segments (latest snapshots), lifecycle stage,
model scores, and contact history (Reach's own, read-only, and the ``contacts`` table of
past campaigns loaded into the warehouse; both only with ``contact:read``).
A section whose table is absent from the dataset is empty, not an error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import ibis

from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.insight import customers
from opsloop.insight.lifecycle import stages
from opsloop.insight.segments.materialise import segments_of
from opsloop.store import Store
from opsloop.warehouse import Warehouse


def profile(
    *,
    wh: Warehouse,
    store: Store,
    principal: Principal,
    customer_id: int,
    reveal: bool = False,
    cipher: PiiCipher | None = None,
    ip: str | None = None,
    dataset: str | None = None,
    months: int = 12,
    recent: int = 20,
) -> dict[str, Any]:
    """Everything staff may see about one customer; raises NotFoundError outside scope."""
    row = customers.get_customer(
        wh=wh,
        store=store,
        principal=principal,
        customer_id=customer_id,
        reveal=reveal,
        cipher=cipher,
        ip=ip,
        dataset=dataset,
    )
    have = set(wh.tables(dataset))
    cid = ibis.literal(customer_id, "int64")

    def rows(name: str, build: Any) -> list[dict[str, Any]]:
        if name not in have:
            return []
        t = wh.table(name, dataset=dataset)
        return wh.execute(build(t.filter(t.customer_id == cid))).to_pylist()  # type: ignore[no-any-return]

    aum = rows("aum_monthly", lambda t: t.order_by(ibis.desc("month")).limit(months))
    aum.reverse()
    row |= {
        "tags": _tags(wh, customer_id, dataset),
        "holdings": _holdings(wh, customer_id, dataset, have),
        "aum_trend": [
            {k: r[k] for k in ("month", "aum", "deposit_balance", "wealth_balance", "loan_balance")}
            for r in aum
        ],
        "recent_events": rows(
            "events",
            lambda t: (
                t.select("ts", "event", "platform", "properties")
                .order_by(ibis.desc("ts"))
                .limit(recent)
            ),
        ),
        "recent_transactions": rows(
            "transactions",
            lambda t: (
                t.select("ts", "amount", "direction", "kind", "channel")
                .order_by(ibis.desc("ts"))
                .limit(recent)
            ),
        ),
        "segments": segments_of(
            store, wh, principal=principal, customer_id=customer_id, dataset=dataset
        ),
        "lifecycle": _lifecycle(wh, aum, customer_id, dataset, have),
        "model_scores": rows(
            "model_scores",
            lambda t: t.select("model", "score", "band", "scored_at", "reasons").order_by("model"),
        ),
        "contacts": _contacts(store, wh, principal, customer_id, recent),
        # contact history brought in from outside (past campaigns), beside Reach's own
        "past_contacts": rows(
            "contacts",
            lambda t: (
                t.select("ts", "campaign_id", "channel", "attempt", "outcome")
                .order_by(ibis.desc("ts"))
                .limit(recent)
            ),
        )
        if principal.can("contact:read")
        else None,
    }
    return row


def _tags(wh: Warehouse, customer_id: int, dataset: str | None) -> list[dict[str, Any]]:
    from opsloop.insight.tags import current_tags

    return [dataclasses.asdict(t) for t in current_tags(wh, customer_id, dataset=dataset)]


def _holdings(
    wh: Warehouse, customer_id: int, dataset: str | None, have: set[str]
) -> list[dict[str, Any]]:
    """Open accounts with their product's name and category (when products are loaded)."""
    if "accounts" not in have:
        return []
    a = wh.table("accounts", dataset=dataset)
    a = a.filter(a.customer_id == customer_id, a.closed_on.isnull())
    cols = ["account_id", "product_id", "opened_on", "status", "principal"]
    if "products" in have:
        p = wh.table("products", dataset=dataset).select(
            pid="product_id", product_name="name", category="category"
        )
        expr = a.left_join(p, a.product_id == p.pid).select(*cols, "product_name", "category")
    else:
        expr = a.select(*cols)
    return wh.execute(expr.order_by("account_id")).to_pylist()  # type: ignore[no-any-return]


def _lifecycle(
    wh: Warehouse,
    aum: list[dict[str, Any]],
    customer_id: int,
    dataset: str | None,
    have: set[str],
) -> dict[str, Any] | None:
    """Stage and AUM tier in the customer's latest month with a balance (分层)."""
    if not aum or not {"events", "transactions", "customers"} <= have:
        return None
    month: dt.date = aum[-1]["month"]
    t = stages(wh=wh, month=month, dataset=dataset)
    got = wh.execute(t.filter(t.customer_id == customer_id).select("stage", "tier")).to_pylist()
    return {"month": month, **got[0]} if got else None


def _contacts(
    store: Store, wh: Warehouse, principal: Principal, customer_id: int, limit: int
) -> list[dict[str, Any]] | None:
    """Reach's contact history (attempts, suppressions, receipts); None without contact:read."""
    if not principal.can("contact:read"):
        return None
    from opsloop.reach.service import contacts

    return contacts(store, wh, principal=principal, customer_id=customer_id, limit=limit)
