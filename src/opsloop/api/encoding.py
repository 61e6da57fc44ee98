"""Turn engine values into what JSON can carry without loss or crash."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_INT64 = 2**63


def jsonable(value: Any) -> Any:
    """bytes → hex, integers beyond 64 bits and decimals → strings; the rest as is."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT64:
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
