"""CSV export that a spreadsheet cannot execute (CSV/formula injection).

>>> safe_cell("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> safe_cell(-3)
-3
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Prefix text cells that start a formula with ``'``; numbers are left as they are."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(v) for v in row])
    return buf.getvalue()
