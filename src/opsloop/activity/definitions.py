"""Activity definitions: a validated JSON document built from one of six templates.

Benefits are referenced by id from the catalogue (so stock and budget are shared by
every activity that hands them out); the activity adds its own window, audience,
budget, landing content and risk policy. Lucky-draw prizes carry probabilities that
must sum to at most 1 (the rest is "no prize").
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from opsloop.activity.benefits import Eligibility, Frozen, Slug
from opsloop.errors import InvalidInputError

Prob = Annotated[float, Field(gt=0, le=1)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class CouponDrop(Frozen):
    """领券: one click, one coupon."""

    kind: Literal["coupon_drop"] = "coupon_drop"
    benefit_id: Slug


class StreakReward(Frozen):
    day: Annotated[int, Field(ge=1, le=366)]
    benefit_id: Slug


class SignIn(Frozen):
    """签到: a check-in a day; the streak's n-th day pays ``rewards[day == n]``."""

    kind: Literal["sign_in"] = "sign_in"
    rewards: Annotated[tuple[StreakReward, ...], Field(min_length=1, max_length=31)]
    cycle_days: Annotated[int, Field(ge=1, le=366)] = 7

    @model_validator(mode="after")
    def _days(self) -> SignIn:
        days = [r.day for r in self.rewards]
        if len(set(days)) != len(days) or max(days) > self.cycle_days:
            raise ValueError("reward days must be distinct and within cycle_days")
        return self


class Prize(Frozen):
    benefit_id: Slug
    probability: Prob


class LuckyDraw(Frozen):
    """抽奖: each draw wins at most one prize; prize stock is the benefit's stock."""

    kind: Literal["lucky_draw"] = "lucky_draw"
    prizes: Annotated[tuple[Prize, ...], Field(min_length=1, max_length=20)]
    draws_per_day: Annotated[int, Field(ge=1, le=100)] = 1

    @model_validator(mode="after")
    def _sum(self) -> LuckyDraw:
        if sum(p.probability for p in self.prizes) > 1 + 1e-9:
            raise ValueError("prize probabilities must sum to at most 1")
        return self


class Referral(Frozen):
    """老带新 (MGM): both sides rewarded once, on the invitee's first qualifying action."""

    kind: Literal["referral"] = "referral"
    inviter_benefit_id: Slug
    invitee_benefit_id: Slug
    qualifying_action: Literal["kyc", "bind_card", "first_purchase"] = "first_purchase"
    max_invites: Annotated[int, Field(ge=1, le=1000)] = 20


class TaskReward(Frozen):
    action: Literal["kyc", "bind_card", "first_purchase"]
    benefit_id: Slug


class Task(Frozen):
    """任务: complete KYC / bind a card / first purchase → reward, once each."""

    kind: Literal["task"] = "task"
    tasks: Annotated[tuple[TaskReward, ...], Field(min_length=1, max_length=10)]


class QuotaTest(Frozen):
    """额度测算: test one's loan quota, get a coupon for drawing the loan."""

    kind: Literal["quota_test"] = "quota_test"
    benefit_id: Slug


Template = Annotated[
    CouponDrop | SignIn | LuckyDraw | Referral | Task | QuotaTest, Field(discriminator="kind")
]


class Landing(Frozen):
    title: Text
    body: Annotated[str, Field(max_length=5000)] = ""
    image_url: Annotated[str, Field(max_length=500, pattern=r"^https://")] | None = None


class RiskPolicy(Frozen):
    """Thresholds of the participation risk score (see :mod:`opsloop.activity.risk`)."""

    challenge_at: Annotated[int, Field(ge=1, le=1000)] = 40
    block_at: Annotated[int, Field(ge=1, le=1000)] = 80
    per_device_per_hour: Annotated[int, Field(ge=1)] = 20
    per_ip_per_minute: Annotated[int, Field(ge=1)] = 60
    per_customer_per_minute: Annotated[int, Field(ge=1)] = 10
    accounts_per_device: Annotated[int, Field(ge=1)] = 3
    new_account_days: Annotated[int, Field(ge=0)] = 7
    ring_size: Annotated[int, Field(ge=2)] = 10

    @model_validator(mode="after")
    def _order(self) -> RiskPolicy:
        if self.challenge_at > self.block_at:
            raise ValueError("challenge_at must not exceed block_at")
        return self


class ActivityDefinition(Frozen):
    name: Text
    template: Template
    starts_at: datetime
    ends_at: datetime
    eligibility: Eligibility = Eligibility()
    budget_cents: Annotated[int, Field(ge=0, le=10**14)] | None = None
    landing: Landing
    risk: RiskPolicy = RiskPolicy()

    @model_validator(mode="after")
    def _window(self) -> ActivityDefinition:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def benefit_ids(self) -> list[str]:
        t = self.template
        if isinstance(t, CouponDrop | QuotaTest):
            return [t.benefit_id]
        if isinstance(t, SignIn):
            return [r.benefit_id for r in t.rewards]
        if isinstance(t, LuckyDraw):
            return [p.benefit_id for p in t.prizes]
        if isinstance(t, Referral):
            return [t.inviter_benefit_id, t.invitee_benefit_id]
        return [r.benefit_id for r in t.tasks]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_definition(doc: Any) -> ActivityDefinition:
    """Validate a document; the error names the first field that is wrong."""
    try:
        return ActivityDefinition.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        raise InvalidInputError(first["msg"], where=_where(first["loc"]) or "activity") from e
