"""Data scope (辖内) for Activity's customer-keyed records.

Participations, risk decisions and units live in the operational store, but who may
see a customer is decided by the customer's org path in the warehouse: one scoped
Ibis query (:func:`opsloop.access.scope.scoped_customers`) per call answers which of
a handful of ids the caller may see. Bank-wide callers (the app backend's token, head
office) skip the query, so the participation hot path never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.errors import NotFoundError
from opsloop.warehouse import Warehouse


def visible(wh: Warehouse, principal: Principal, ids: Iterable[int]) -> set[int]:
    """The ids among ``ids`` whose customers lie in the caller's scope."""
    wanted = sorted(set(ids))
    if principal.bank_wide or not wanted:
        return set(wanted)
    t = scoped_customers(wh.table("customers"), principal)
    t = t.filter(t.customer_id.isin(wanted)).select("customer_id")
    return {int(v) for v in wh.execute(t).column(0).to_pylist()}


def need(wh: Warehouse, principal: Principal, customer_id: int) -> None:
    """404 (not 403: do not confirm the customer exists) outside the caller's scope."""
    if customer_id not in visible(wh, principal, [customer_id]):
        raise NotFoundError(f"no customer {customer_id} in your scope", where="customer_id")
