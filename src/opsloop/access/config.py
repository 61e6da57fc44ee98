"""Access settings (``OPSLOOP_*``): sessions, lockout, limits, audit retention, OIDC."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccessSettings(BaseSettings):
    """Security knobs; the defaults are the safe ones."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_", frozen=True, extra="ignore")

    session_minutes: int = Field(default=480, ge=1, description="console session lifetime")
    cookie_secure: bool = Field(default=True, description="session cookie only over HTTPS")
    lockout_failures: int = Field(default=5, ge=1, description="failed sign-ins before lockout")
    lockout_minutes: int = Field(default=15, ge=1, description="lockout duration")
    rate_per_minute: float = Field(default=600, gt=0, description="requests/minute per principal")
    rate_burst: int = Field(default=120, ge=1, description="token bucket capacity")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="request size cap")
    audit_retention_days: int | None = Field(default=None, description="prune older audit rows")
    oidc_issuer: str | None = Field(default=None, description="identity provider issuer URL")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = Field(default=None, description="…/api/v1/auth/oidc/callback")
    oidc_username_claim: str = Field(default="preferred_username", description="maps to a user")

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
