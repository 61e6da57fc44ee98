"""The read-only gate refuses every write, file read and multi-statement trick."""

from __future__ import annotations

import pytest

from opsloop.errors import InvalidInputError
from opsloop.warehouse.readonly import check_read_only

TABLES = frozenset({"customers", "events"})


@pytest.mark.parametrize(
    "sql",
    [
        "select 1",
        "select count(*) from customers",
        "with x as (select customer_id from customers) select count(*) from x",
        "select c.customer_id from customers c join events e using (customer_id)",
        "select * from customers union all select * from customers",
        "select 1;",
    ],
)
def test_queries_are_allowed(sql: str) -> None:
    check_read_only(sql, allowed_tables=TABLES)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("insert into customers values (1)", "INSERT"),
        ("update customers set city = 'x'", "UPDATE"),
        ("delete from customers", "DELETE"),
        ("drop table customers", "DROP"),
        ("create table t as select 1", "CREATE"),
        ("copy customers to '/tmp/x.csv'", "COPY"),
        ("attach '/tmp/other.db'", "ATTACH"),
        ("pragma database_list", "PRAGMA"),
        ("set threads = 1", "SET"),
        ("select 1; drop table customers", "one statement"),
        ("select * from read_csv('/etc/passwd')", "read_csv"),
        ("select * from read_parquet('x.parquet')", "read_parquet"),
        ("select * from '/etc/passwd'", "not a table name"),
        ("select getenv('HOME')", "getenv"),
        ("select * from secrets", "unknown table"),
        ("select * from other_db.main.customers", "catalog"),
        ("", "empty"),
        ("selec 1 frm", "parse"),
    ],
)
def test_refused_with_a_reason(sql: str, says: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_read_only(sql, allowed_tables=TABLES)
    assert says.lower() in str(err.value).lower()
    assert err.value.where is not None and err.value.where.startswith("sql")
