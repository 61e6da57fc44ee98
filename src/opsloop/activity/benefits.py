"""Benefit (权益) definitions: what a unit is worth, how many exist, who may get one.

Money is integer cents (no float rounding in budgets). Every benefit has a cost per
unit (``unit_cost_cents``) that budgets are charged with when a unit is issued: the
face value for coupons and cash-back, ``points × cents_per_point`` for points, and a
declared estimate for rate coupons, fee waivers and gifts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Cents = Annotated[int, Field(ge=0, le=10**13)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FixedCoupon(Frozen):
    """Fixed amount off; with a threshold it is 满减 (满100减10: 10000 / 1000)."""

    kind: Literal["coupon_fixed"] = "coupon_fixed"
    amount_cents: Annotated[int, Field(ge=1, le=10**10)]
    threshold_cents: Cents = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.amount_cents


class DiscountCoupon(Frozen):
    kind: Literal["coupon_discount"] = "coupon_discount"
    percent_off: Annotated[int, Field(ge=1, le=99)]
    cap_cents: Annotated[int, Field(ge=1, le=10**10)]
    threshold_cents: Cents = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.cap_cents


class Points(Frozen):
    kind: Literal["points"] = "points"
    points: Annotated[int, Field(ge=1, le=10**9)]
    cents_per_point: Annotated[int, Field(ge=0, le=10**4)] = 1
    threshold_cents: Literal[0] = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.points * self.cents_per_point


class Cashback(Frozen):
    kind: Literal["cashback"] = "cashback"
    amount_cents: Annotated[int, Field(ge=1, le=10**10)]
    threshold_cents: Cents = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.amount_cents


class RateCoupon(Frozen):
    """加息券: extra basis points on a deposit/wealth product, cost declared up front."""

    kind: Literal["rate_coupon"] = "rate_coupon"
    extra_rate_bp: Annotated[int, Field(ge=1, le=1000)]
    max_days: Annotated[int, Field(ge=1, le=3660)]
    cost_cents: Cents
    threshold_cents: Cents = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.cost_cents


class FeeWaiver(Frozen):
    kind: Literal["fee_waiver"] = "fee_waiver"
    fee_type: Annotated[str, Field(min_length=1, max_length=64)]
    cost_cents: Cents
    threshold_cents: Literal[0] = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.cost_cents


class Gift(Frozen):
    kind: Literal["gift"] = "gift"
    sku: Annotated[str, Field(min_length=1, max_length=64)]
    cost_cents: Cents
    threshold_cents: Literal[0] = 0

    @property
    def unit_cost_cents(self) -> int:
        return self.cost_cents


Value = Annotated[
    FixedCoupon | DiscountCoupon | Points | Cashback | RateCoupon | FeeWaiver | Gift,
    Field(discriminator="kind"),
]
PositiveCap = Annotated[int, Field(ge=1, le=10**12)]


class Limits(Frozen):
    """Stock and per-customer caps and the money budget; ``None`` means uncapped."""

    total_stock: PositiveCap | None = None
    daily_stock: PositiveCap | None = None
    per_customer_day: PositiveCap | None = None
    per_customer_activity: PositiveCap | None = None
    per_customer_lifetime: PositiveCap | None = None
    budget_cents: Annotated[int, Field(ge=0, le=10**14)] | None = None


class Validity(Frozen):
    """Absolute (``ends_at``) or relative (``days`` after issue) expiry."""

    ends_at: datetime | None = None
    days: Annotated[int, Field(ge=1, le=3660)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Validity:
        if (self.ends_at is None) == (self.days is None):
            raise ValueError("give exactly one of ends_at or days")
        if self.ends_at is not None and self.ends_at.tzinfo is None:
            raise ValueError("ends_at needs a time zone")
        return self

    def expires_at(self, issued_at: datetime) -> datetime:
        if self.ends_at is not None:
            return self.ends_at.astimezone(UTC)
        return issued_at + timedelta(days=self.days or 0)


class Eligibility(Frozen):
    """Who may receive it: empty tuples mean everyone."""

    segment_ids: tuple[Slug, ...] = ()
    kyc_risk_levels: tuple[Annotated[int, Field(ge=1, le=5)], ...] = ()
    channels: tuple[Annotated[str, Field(min_length=1, max_length=32)], ...] = ()


class BenefitDef(Frozen):
    """One benefit an activity hands out."""

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    value: Value
    limits: Limits = Limits()
    validity: Validity
    eligibility: Eligibility = Eligibility()

    @property
    def unit_cost_cents(self) -> int:
        return self.value.unit_cost_cents

    @property
    def threshold_cents(self) -> int:
        return self.value.threshold_cents
