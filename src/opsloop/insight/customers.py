"""Customers as staff see them: scoped to the caller's subtree, PII masked by default.

Scope is applied inside the Ibis expression (:mod:`opsloop.access.scope`), so counts,
pages and exports are computed over the caller's customers only. A customer outside
scope is "not found" (never "forbidden"), so existence does not leak. Clear PII comes
from ``customer_pii`` (decrypted here) only with ``pii:view``, and every reveal and
every export is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis

from opsloop.access import audit
from opsloop.access.crypto import PII_FIELDS, PiiCipher
from opsloop.access.csvsafe import to_csv
from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer, scoped_customers
from opsloop.errors import ForbiddenError, NotFoundError
from opsloop.store import Store
from opsloop.warehouse import Warehouse

ATTRIBUTES = (
    "customer_id",
    "org_id",
    "org_path",
    "rm_id",
    "gender",
    "birth_date",
    "city",
    "occupation",
    "kyc_risk_level",
    "opened_on",
    "is_active",
    "dnd",
)
COLUMNS = (*ATTRIBUTES, *PII_FIELDS)
EXPORT_LIMIT = 1_000_000


@dataclass(frozen=True)
class CustomerFilter:
    """Narrowing within scope: an org subtree, an RM, a city."""

    org_id: str | None = None
    rm_id: str | None = None
    city: str | None = None


def _scoped(wh: Warehouse, principal: Principal, dataset: str | None) -> ibis.Table:
    return scoped_customers(wh.table("customers", dataset=dataset), principal)


def _filtered(t: ibis.Table, f: CustomerFilter) -> ibis.Table:
    if f.org_id is not None:
        t = t.filter(t.org_path.contains(f"/{f.org_id}/"))
    if f.rm_id is not None:
        t = t.filter(t.rm_id == f.rm_id)
    if f.city is not None:
        t = t.filter(t.city == f.city)
    return t


def _masked(t: ibis.Table) -> ibis.Table:
    return t.select(*ATTRIBUTES, **{f: t[f"{f}_masked"] for f in PII_FIELDS})


def count_customers(
    *, wh: Warehouse, principal: Principal, where: CustomerFilter, dataset: str | None = None
) -> int:
    expr = _filtered(_scoped(wh, principal, dataset), where).count()
    return int(wh.execute(expr.name("n").as_table()).column(0)[0].as_py())


def list_customers(
    *,
    wh: Warehouse,
    principal: Principal,
    where: CustomerFilter,
    offset: int = 0,
    limit: int = 50,
    dataset: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """One page (ordered by customer id) and the total in scope; PII masked."""
    t = _filtered(_scoped(wh, principal, dataset), where)
    total = count_customers(wh=wh, principal=principal, where=where, dataset=dataset)
    page = _masked(t).order_by("customer_id").limit(limit, offset=offset)
    return total, wh.execute(page).to_pylist()


def _reveal(
    wh: Warehouse, principal: Principal, ids: list[int], cipher: PiiCipher, dataset: str | None
) -> dict[int, dict[str, str | None]]:
    pii = scoped_by_customer(
        wh.table("customer_pii", dataset=dataset),
        wh.table("customers", dataset=dataset),
        principal,
    )
    pii = pii.filter(pii.customer_id.isin(ids))
    out: dict[int, dict[str, str | None]] = {}
    for row in wh.execute(pii).to_pylist():
        out[row["customer_id"]] = {f: cipher.decrypt(f, row[f"{f}_enc"]) for f in PII_FIELDS}
    return out


def _check_reveal(principal: Principal, reveal: bool) -> None:
    if reveal and not principal.can("pii:view"):
        raise ForbiddenError("revealing PII needs permission pii:view", where="reveal")


def get_customer(
    *,
    wh: Warehouse,
    store: Store,
    principal: Principal,
    customer_id: int,
    reveal: bool = False,
    cipher: PiiCipher | None = None,
    ip: str | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """One customer in scope (404 outside it); clear PII with ``reveal`` (audited)."""
    _check_reveal(principal, reveal)
    t = _scoped(wh, principal, dataset)
    rows = wh.execute(_masked(t.filter(t.customer_id == customer_id))).to_pylist()
    if not rows:
        raise NotFoundError(f"no customer {customer_id}", where="customer_id")
    row: dict[str, Any] = rows[0]
    if reveal and cipher is not None:
        row |= _reveal(wh, principal, [customer_id], cipher, dataset).get(customer_id, {})
        with store.session() as s:
            audit.record(
                s,
                actor=principal,
                action="pii.view",
                target_type="customer",
                target_id=str(customer_id),
                ip=ip,
                after={"fields": list(PII_FIELDS)},
            )
    return row


def export_customers(
    *,
    wh: Warehouse,
    store: Store,
    principal: Principal,
    where: CustomerFilter,
    reveal: bool = False,
    cipher: PiiCipher | None = None,
    ip: str | None = None,
    dataset: str | None = None,
) -> str:
    """CSV of the customers in scope (formula-safe), masked unless revealed; audited."""
    _check_reveal(principal, reveal)
    t = _masked(_filtered(_scoped(wh, principal, dataset), where)).order_by("customer_id")
    rows = wh.execute(t.limit(EXPORT_LIMIT)).to_pylist()
    if reveal and cipher is not None and rows:
        clear = _reveal(wh, principal, [r["customer_id"] for r in rows], cipher, dataset)
        for r in rows:
            r |= clear.get(r["customer_id"], {})
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="customer.export",
            target_type="customer",
            ip=ip,
            after={
                "rows": len(rows),
                "revealed": reveal,
                "filter": {"org_id": where.org_id, "rm_id": where.rm_id, "city": where.city},
                "dataset": dataset,
            },
        )
    return to_csv(COLUMNS, ([r[c] for c in COLUMNS] for r in rows))


def masked_by_id(
    *, wh: Warehouse, principal: Principal, ids: list[int], dataset: str | None = None
) -> dict[int, dict[str, Any]]:
    """Org, RM and the *masked* name and phone of these customers that are in scope — one
    scoped query for a whole list (never the clear PII of ``customer_pii``)."""
    if not ids:
        return {}
    t = _scoped(wh, principal, dataset)
    t = t.filter(t.customer_id.isin(ids)).select(
        "customer_id", "org_id", "rm_id", name=t.name_masked, phone=t.phone_masked
    )
    return {r.pop("customer_id"): r for r in wh.execute(t).to_pylist()}
