"""Request bodies of the Activity API that both the route and the lean path validate."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

CustomerId = Annotated[int, Field(ge=1, le=2**62)]
Short = Annotated[str, Field(min_length=1, max_length=128)]
ACTIVITY_ID_PATTERN = r"^[a-z0-9]{1,64}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParticipateBody(Body):
    """One customer action. Eligibility (segments, KYC level) is read from Insight and
    the warehouse, never from the caller, so the body carries neither."""

    customer_id: CustomerId
    action: Annotated[str, Field(max_length=32)] | None = None
    device_id: Short | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    channel: Annotated[str, Field(max_length=32)] | None = None
    phone_prefix: Annotated[str, Field(pattern=r"^[0-9]{3,7}$")] | None = None
    invite_code: Annotated[str, Field(max_length=64)] | None = None
    request_id: Short | None = None
    opened_on: date | None = None
    last_active_on: date | None = None
    challenge_passed: bool = False
