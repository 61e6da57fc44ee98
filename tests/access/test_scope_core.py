"""The scope filter is part of the compiled query, not applied after fetching."""

from __future__ import annotations

import ibis

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_by_customer, scoped_customers

CUSTOMERS = ibis.table(
    {"customer_id": "int64", "org_path": "string", "rm_id": "string"}, name="customers"
)
ACCOUNTS = ibis.table({"account_id": "int64", "customer_id": "int64"}, name="accounts")


def test_branch_filter_is_in_the_sql() -> None:
    p = Principal(id="u", kind="user", org_path="/HO/B07/")
    sql = ibis.to_sql(scoped_customers(CUSTOMERS, p), dialect="duckdb")
    assert "/HO/B07/" in sql and "STARTS_WITH" in sql.upper()


def test_rm_filter_is_in_the_sql() -> None:
    p = Principal(id="u", kind="user", org_path="/HO/B07/", rm_id="RM9", own_customers_only=True)
    sql = ibis.to_sql(scoped_customers(CUSTOMERS, p), dialect="postgres")
    assert "RM9" in sql and "/HO/B07/" in sql


def test_rm_without_rm_id_sees_nothing() -> None:
    p = Principal(id="u", kind="user", org_path="/HO/", own_customers_only=True)
    sql = ibis.to_sql(scoped_customers(CUSTOMERS, p), dialect="duckdb")
    assert "FALSE" in sql.upper()


def test_bank_wide_is_unfiltered_and_semi_join_scopes_other_tables() -> None:
    assert (
        ibis.to_sql(scoped_customers(CUSTOMERS, Principal(id="a", kind="user"))).count("WHERE") == 0
    )
    p = Principal(id="u", kind="user", org_path="/HO/B01/")
    sql = ibis.to_sql(scoped_by_customer(ACCOUNTS, CUSTOMERS, p), dialect="duckdb")
    assert "SEMI" in sql.upper() or "EXISTS" in sql.upper()
    assert "/HO/B01/" in sql


def test_raw_sql_permission_needs_bank_wide_scope() -> None:
    perms = frozenset({"warehouse:query"})
    assert Principal(id="a", kind="user", permissions=perms).can("warehouse:query")
    branch = Principal(id="b", kind="user", org_path="/HO/B01/", permissions=perms)
    assert not branch.can("warehouse:query")
