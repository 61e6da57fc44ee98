"""Settings from ``OPSLOOP_*`` environment variables (or CLI flags that set them).

One frozen object, built once per process by :func:`get_settings`; the cores never
read the environment themselves, they receive what they need.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where opsloop keeps its data and how it reaches its servers."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_", frozen=True, extra="ignore")

    home: Path = Field(default=Path(".opsloop"), description="data directory")
    database_url: str = Field(default="", description="operational store (SQLAlchemy URL)")
    warehouse: str = Field(default="", description="DuckDB file, or a postgres:// URL")
    redis_url: str | None = Field(default=None, description="Redis for counters/streams")
    host: str = "127.0.0.1"
    port: int = 8000
    profile: Literal["embedded", "production"] = "embedded"
    secret_key: SecretStr | None = Field(
        default=None, description="signs sessions and derives the PII key; kept in HOME if unset"
    )
    log_level: str = "INFO"
    tag_retention_days: int | None = Field(
        default=None, ge=1, description="drop daily tag values older than this (latest day kept)"
    )

    @model_validator(mode="after")
    def _defaults_under_home(self) -> Settings:
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'opsloop.db'}")
        if not self.warehouse:
            object.__setattr__(self, "warehouse", str(home / "warehouse.duckdb"))
        return self

    @property
    def ground_truth_path(self) -> Path:
        """The synthetic bank's hidden truth: a separate file the platform never reads."""
        return self.home / "ground_truth.duckdb"

    @property
    def server_file(self) -> Path:
        """Written by a running ``opsloop serve`` so the CLI can go through it."""
        return self.home / "server.json"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home

    def resolved_secret_key(self) -> bytes:
        """The configured secret, or one generated once and kept (mode 0600) in HOME."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.ensure_home() / "secret.key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
