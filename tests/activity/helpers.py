"""Small builders shared by the activity tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opsloop.activity.benefits import BenefitDef

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def coupon(bid: str = "c10", **limits: Any) -> BenefitDef:
    """满100减10, valid 7 days, with the given limits."""
    return BenefitDef.model_validate(
        {
            "id": bid,
            "name": "满100减10",
            "value": {"kind": "coupon_fixed", "amount_cents": 1000, "threshold_cents": 10000},
            "limits": limits,
            "validity": {"days": 7},
        }
    )
