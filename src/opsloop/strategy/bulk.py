"""Bulk writes of whole columns into the operational store, through the driver directly.

SQLAlchemy prepares parameters row by row (≈ 10 µs a row), which dominated a
million-customer pass. These helpers hand the driver plain tuples built from numpy
columns (``tolist`` and vectorised timestamp formatting) in the driver's own paramstyle,
inside the caller's session and transaction. Only fixed, internal table and column
names are interpolated; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

_ROWS_PER_STATEMENT = 500


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def timestamps(session: Session, values: npt.NDArray[Any]) -> list[str | None]:
    """UTC ``datetime64`` values as text each backend stores for a timezone-aware column."""
    text = np.datetime_as_string(values.astype("datetime64[us]"), unit="us")
    suffix = "+00:00" if _pg(session) else ""
    return [None if t == "NaT" else t.replace("T", " ") + suffix for t in text.tolist()]


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
        out += [r[0] for r in session.connection().exec_driver_sql(sql, tuple(params))]
    return out
