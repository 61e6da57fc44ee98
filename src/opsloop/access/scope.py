"""Data scope (辖内) as Ibis filters applied *inside* the query, before it executes.

Every center that reads customers (segments, analyses, journeys, call lists) builds its
expression from :func:`scoped_customers` or :func:`scoped_by_customer`, so rows outside
the caller's subtree are never fetched — not fetched and then dropped.

>>> import ibis
>>> t = ibis.table({"customer_id": "int64", "org_path": "string", "rm_id": "string"}, "c")
>>> p = Principal(id="u", kind="user", org_path="/HO/B07/")
>>> "StartsWith" in repr(scoped_customers(t, p).op())
True
"""

from __future__ import annotations

import ibis

from opsloop.access.principal import Principal
from opsloop.errors import ForbiddenError


def scoped_customers(customers: ibis.Table, principal: Principal) -> ibis.Table:
    """``customers`` restricted to the principal's subtree (and own customers for an RM)."""
    expr = customers
    if principal.org_path != "/HO/" or principal.own_customers_only:
        expr = expr.filter(expr.org_path.startswith(principal.org_path))
    if principal.own_customers_only:
        if principal.rm_id is None:
            return expr.filter(ibis.literal(False))
        expr = expr.filter(expr.rm_id == principal.rm_id)
    return expr


def scoped_by_customer(
    table: ibis.Table,
    customers: ibis.Table,
    principal: Principal,
    *,
    key: str = "customer_id",
) -> ibis.Table:
    """Any customer-keyed table (accounts, events, …) semi-joined through the scope."""
    allowed = scoped_customers(customers, principal).select(key)
    return table.semi_join(allowed, table[key] == allowed[key])


def require_bank_wide(principal: Principal, *, what: str) -> None:
    """Raw SQL and other unscopable reads: refused unless the scope is the whole bank."""
    if not principal.bank_wide:
        raise ForbiddenError(
            f"{what} cannot be limited to a data scope; only bank-wide (/HO/) users may use it",
            where="scope",
        )
