"""One schema per use (XCreate / XUpdate / XPublic), all strict: unknown fields are errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsloop.access.clock import as_utc

_NAME = r"^[A-Za-z0-9_.@-]+$"


class Strict(BaseModel):
    """Unknown fields are errors; NUL characters (which PostgreSQL refuses) too."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in items):
            raise ValueError("must not contain NUL characters")
        return value


class UserCreate(Strict):
    username: str = Field(min_length=2, max_length=64, pattern=_NAME)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=128)
    org_id: str = Field(min_length=1, max_length=32, pattern=_NAME)
    rm_id: str | None = Field(default=None, max_length=32, pattern=_NAME)
    roles: list[str] = Field(default_factory=list, max_length=20)


class UserUpdate(Strict):
    display_name: str | None = Field(default=None, max_length=128)
    org_id: str | None = Field(default=None, min_length=1, max_length=32, pattern=_NAME)
    rm_id: str | None = Field(default=None, max_length=32, pattern=_NAME)
    is_active: bool | None = None
    roles: list[str] | None = Field(default=None, max_length=20)
    password: str | None = Field(default=None, min_length=1, max_length=256)


class UserPublic(Strict):
    id: int
    username: str
    display_name: str | None
    org_id: str
    org_path: str
    rm_id: str | None
    roles: list[str]
    is_active: bool
    locked_until: datetime | None


class RoleCreate(Strict):
    name: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(default="", max_length=255)
    permissions: list[str] = Field(min_length=1, max_length=100)
    own_customers_only: bool = False


class RolePublic(Strict):
    name: str
    description: str
    permissions: list[str]
    own_customers_only: bool
    builtin: bool


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=128)
    username: str | None = Field(
        default=None, max_length=64, pattern=_NAME, description="owner; default the caller"
    )
    scopes: list[str] = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(default=90, ge=1, le=366)


class TokenPublic(Strict):
    id: int
    name: str
    username: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; only its digest is stored")


class AuditPublic(Strict):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
