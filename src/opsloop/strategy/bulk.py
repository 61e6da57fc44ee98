"""Bulk writes of whole columns into the operational store, through the driver directly.

SQLAlchemy prepares parameters row by row (≈ 10 µs a row), which dominated a
million-customer pass. These helpers hand the driver plain tuples built from numpy
columns (``tolist`` and vectorised timestamp formatting) in the driver's own paramstyle,
inside the caller's session and transaction. Only fixed, internal table and column
names are interpolated; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
from sqlalchemy.orm import Session

_ROWS_PER_STATEMENT = 500
# PostgreSQL receives each column as one array and unnests it: a handful of parameters
# per statement however many rows (large %s queries are slow to prepare client-side).
_PG_TYPES = {
    "journey_id": "text", "version": "int", "node_id": "text", "customer_id": "bigint",
    "visit": "int", "outcome": "text", "reason": "text", "at": "timestamptz", "key": "text",
    "used": "int", "entry_key": "text", "status": "text", "arm": "text",
    "since": "timestamptz", "entered_at": "timestamptz", "due_at": "timestamptz",
    "deadline_at": "timestamptz", "kind": "text", "channel": "text", "payload": "json",
    "campaign": "text", "attempts": "int", "next_attempt_at": "timestamptz",
    "cost": "float8", "created_at": "timestamptz", "message_key": "text", "tag": "text",
}  # fmt: skip
_PG_CHUNK = 50_000


def _pg_insert(table: str, columns: Sequence[str]) -> str:
    arrays = ", ".join(
        "%s::text[]" if _PG_TYPES[c] == "json" else f"%s::{_PG_TYPES[c]}[]" for c in columns
    )
    picks = ", ".join(f"{c}::json" if _PG_TYPES[c] == "json" else c for c in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {picks} FROM unnest({arrays}) AS t({', '.join(columns)})"
    )


def _pg_run(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    tail: str,
    tail_params: Sequence[Any],
) -> list[Any]:
    out: list[Any] = []
    sql = _pg_insert(table, columns) + " " + tail.replace("?", "%s")
    for start in range(0, len(rows), _PG_CHUNK):
        cols = [list(c) for c in zip(*rows[start : start + _PG_CHUNK], strict=True)]
        out += first_column(session, sql, (*cols, *tail_params))
    return out


def first_column(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run ``sql`` on the session's connection (its transaction) and return the first
    column of every row it returns, straight from the driver's cursor.

    SQLAlchemy's result wraps each row in a ``Row`` (≈ 3 µs a row: 2.6 s of a
    million-customer pass went there); ``RETURNING`` of a whole cohort needs only the ids.
    """
    cur = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, params)
        return [r[0] for r in cur.fetchall()] if cur.description else []
    finally:
        cur.close()


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def timestamps(session: Session, values: npt.NDArray[Any]) -> list[str | None]:
    """UTC ``datetime64`` values as text each backend stores for a timezone-aware column."""
    # A cohort's times repeat (everyone arrives at a node at the same ``now``): format
    # each distinct value once and index (formatting 1M values one by one cost ~1 s).
    uniq, inverse = np.unique(values.astype("datetime64[us]"), return_inverse=True)
    text = np.datetime_as_string(uniq, unit="us")
    suffix = "+00:00" if _pg(session) else ""
    table = [None if t == "NaT" else t.replace("T", " ") + suffix for t in text.tolist()]
    return [table[i] for i in inverse.tolist()]


def _mark(session: Session) -> str:
    return "%s" if _pg(session) else "?"


def insert_many(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    on_conflict: str = "",
) -> None:
    """``INSERT … VALUES`` for many rows with the driver's ``executemany``."""
    if not rows:
        return
    if _pg(session):
        _pg_run(session, table, columns, rows, on_conflict, ())
        return
    marks = ", ".join([_mark(session)] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {on_conflict}"
    session.connection().exec_driver_sql(sql, list(rows))


def insert_returning(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    tail: str,
    tail_params: Sequence[Any] = (),
) -> list[Any]:
    """Multi-row ``INSERT … VALUES (…), (…) <tail> RETURNING``; the first returned column."""
    if _pg(session):
        return _pg_run(session, table, columns, rows, tail, tail_params)
    out: list[Any] = []
    one = "(" + ", ".join([_mark(session)] * len(columns)) + ")"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        part = rows[start : start + _ROWS_PER_STATEMENT]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ", ".join([one] * len(part))
            + " "
            + tail.replace("?", _mark(session))
        )
        params = [v for row in part for v in row] + list(tail_params)
        out += first_column(session, sql, tuple(params))
    return out


def insert_columns(
    session: Session,
    table: str,
    *,
    consts: Mapping[str, Any],
    columns: Mapping[str, Sequence[Any]],
    on_conflict: str = "",
) -> None:
    """One ``INSERT … SELECT`` for a whole batch: constants bound once, columns as one value.

    SQLite reads the rows from one JSON parameter (``json_each``); PostgreSQL unnests one
    array per column. Either way the batch is a single statement — no per-row binding in
    the driver — in the caller's transaction.
    """
    cols = list(columns)
    n = len(columns[cols[0]]) if cols else 0
    if not n:
        return
    names = ", ".join([*consts, *cols])
    if _pg(session):
        head = [f"%s::{_PG_TYPES[c]}" if _PG_TYPES[c] != "json" else "%s::json" for c in consts]
        picks = [f"{c}::json" if _PG_TYPES[c] == "json" else c for c in cols]
        arrays = ", ".join(
            "%s::text[]" if _PG_TYPES[c] == "json" else f"%s::{_PG_TYPES[c]}[]" for c in cols
        )
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {', '.join([*head, *picks])} "
            f"FROM unnest({arrays}) AS t({', '.join(cols)}) {on_conflict}"
        )
        for start in range(0, n, _PG_CHUNK):
            part = [list(columns[c][start : start + _PG_CHUNK]) for c in cols]
            session.connection().exec_driver_sql(sql, (*consts.values(), *part))
        return
    if len(cols) == 1:  # a flat array: no per-row extraction
        picks, rows = ["?"] * len(consts) + ["value"], orjson.dumps(list(columns[cols[0]]))
    else:
        picks = ["?"] * len(consts) + [f"value ->> {i}" for i in range(len(cols))]
        rows = orjson.dumps(list(zip(*(columns[c] for c in cols), strict=True)))
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(picks)} FROM json_each(?) "
        f"WHERE true {on_conflict}"
    )
    session.connection().exec_driver_sql(sql, (*consts.values(), rows.decode()))


def insert_grouped(
    session: Session,
    table: str,
    *,
    consts: Mapping[str, Any],
    columns: Mapping[str, Sequence[Any]],
    key: str,
    on_conflict: str = "",
    max_groups: int = 256,
    min_rows: int = 2_000,
) -> None:
    """:func:`insert_columns` with the rows grouped by every column but ``key``: each
    group's shared values bound once, only ``key`` passed per row.

    Why: SQLite extracts every column of every row from the JSON parameter
    (``value ->> i``) — 60 % of inserting a first pass's states, measured. In a pass most
    columns take a handful of values (node, status, arm, since, due), so a few
    statements over a flat id array do the same inserts at about half the CPU. Rows too
    varied (more than ``max_groups`` groups), or fewer than ``min_rows`` (a real-time
    micro-batch: grouping costs ~0.5 ms, more than it saves), go in one statement.
    """
    others = [c for c in columns if c != key]
    n = len(columns[key])
    if n < min_rows:
        if n:
            insert_columns(session, table, consts=consts, columns=columns, on_conflict=on_conflict)
        return
    codes = np.zeros(n, dtype=np.int64)
    for c in others:  # one code per distinct combination so far (re-factorised: no overflow)
        col, _ = pd.factorize(pd.Series(columns[c], dtype=object), use_na_sentinel=False)
        codes, _ = pd.factorize(codes * (int(col.max()) + 1) + col)
    if int(codes.max()) >= max_groups:
        insert_columns(session, table, consts=consts, columns=columns, on_conflict=on_conflict)
        return
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    keys = np.asarray(columns[key])
    for part in np.split(order, bounds):
        first = int(part[0])
        shared = {c: columns[c][first] for c in others}
        insert_columns(
            session,
            table,
            consts={**consts, **shared},
            columns={key: keys[part].tolist()},
            on_conflict=on_conflict,
        )


def id_param(session: Session, ids: npt.NDArray[np.int64]) -> tuple[str, Any]:
    """A whole id column as one bound parameter: (SQL set expression, value).

    ``customer_id IN <expr>`` on SQLite (``json_each``), ``= ANY(<expr>)`` on PostgreSQL.
    """
    if _pg(session):
        return "%s::bigint[]", ids.tolist()
    return "(SELECT value FROM json_each(?))", orjson.dumps(
        ids, option=orjson.OPT_SERIALIZE_NUMPY
    ).decode()
