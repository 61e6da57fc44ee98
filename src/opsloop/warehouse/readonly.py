"""Decide whether a user's SQL is a single read-only query (pure; no engine involved).

We parse with SQLGlot rather than look for keywords: a statement is allowed only when
its parse tree is one query and contains no write, DDL, pragma, file-reading table
function or attachment anywhere inside it.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from opsloop.errors import InvalidInputError

_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.Values)
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Copy,
    exp.Pragma,
    exp.Set,
    exp.Attach,
    exp.Detach,
    exp.Into,
    exp.LoadData,
    exp.Use,
    exp.TruncateTable,
)
# Table functions that read files or other databases: a query could exfiltrate the host.
_FORBIDDEN_FUNCTION_PREFIXES = (
    "read_",
    "parquet_",
    "glob",
    "sqlite_",
    "postgres_",
    "iceberg_",
    "delta_",
    "httpfs",
    "query_table",
    "query",
    "getenv",
)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_read_only(
    sql: str, *, dialect: str = "duckdb", allowed_tables: frozenset[str] | None = None
) -> exp.Expression:
    """Return the parsed statement, or raise :class:`InvalidInputError` saying why it is refused.

    Args:
        sql: the user's statement.
        dialect: SQLGlot dialect to parse with.
        allowed_tables: when given, every table referenced (other than CTEs) must be one of
            these names: DuckDB would otherwise read a quoted path such as '/etc/passwd'.

    >>> check_read_only("select 1 as x").sql()
    'SELECT 1 AS x'
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise InvalidInputError("the query is empty", where="sql")
    try:
        statements = sqlglot.parse(text, read=dialect)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        where = f"sql:line {err.get('line', '?')}:col {err.get('col', '?')}"
        msg = f"cannot parse the query: {err.get('description', exc)}"
        raise InvalidInputError(msg, where=where) from None
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise InvalidInputError(f"one statement expected, got {len(found)}", where="sql")
    tree = found[0]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    if not isinstance(tree, _QUERY_ROOTS):
        kind = type(tree).__name__.upper()
        raise InvalidInputError(
            f"only read-only queries are allowed; this is a {kind}", where="sql"
        )
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            kind = type(node).__name__.upper()
            raise InvalidInputError(
                f"only read-only queries are allowed; found {kind}", where="sql"
            )
        if isinstance(node, exp.Func):
            name = node.sql(dialect=dialect).split("(", 1)[0].strip().lower()
            if name.startswith(_FORBIDDEN_FUNCTION_PREFIXES):
                raise InvalidInputError(f"function {name}() is not allowed in queries", where="sql")
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Func):
            _check_table(node, ctes, allowed_tables)
    return tree


def _check_table(node: exp.Table, ctes: set[str], allowed: frozenset[str] | None) -> None:
    name = node.name
    if not _NAME.match(name):
        raise InvalidInputError(
            f"{name!r} is not a table name; reading files is not allowed", where="sql"
        )
    if node.catalog:
        raise InvalidInputError(f"catalog {node.catalog!r} is not allowed", where="sql")
    if node.db and not _NAME.match(node.db):
        raise InvalidInputError(f"{node.db!r} is not a dataset name", where="sql")
    if allowed is not None and name not in ctes and name not in allowed:
        known = ", ".join(sorted(allowed))
        raise InvalidInputError(f"unknown table {name!r}; tables: {known}", where="sql")
