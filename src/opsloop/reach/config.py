"""Channel configuration (a JSON file the bank writes), validated, and turned into adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opsloop.errors import InvalidInputError
from opsloop.reach.channels import targets
from opsloop.reach.channels.base import Channel
from opsloop.reach.channels.email import SmtpChannel
from opsloop.reach.channels.stored import InboxChannel, TaskChannel
from opsloop.reach.channels.webhook import AsyncWebhookChannel, WebhookChannel
from opsloop.reach.ratelimit import TokenBucket
from opsloop.reach.retry import RetryPolicy
from opsloop.reach.slots import SlotChannel
from opsloop.store import Store


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limited(_Cfg):
    rate_per_s: float | None = Field(default=None, gt=0, description="token-bucket rate")
    burst: int = Field(default=1, ge=1)
    cost: float = Field(default=0.0, ge=0, description="cost per message sent")


class WebhookConfig(Limited):
    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=16)
    timeout_s: float = Field(default=5.0, gt=0)
    connections: int = Field(default=32, ge=1)
    # hosts a journey's webhook node may call through this channel (channels/targets.py)
    allow_hosts: tuple[str, ...] = ()

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            targets.parse_entry(entry)
        return value


class SmtpConfig(Limited):
    kind: Literal["smtp"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    sender: str
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)


class InboxConfig(_Cfg):
    kind: Literal["inbox"]


class TaskConfig(_Cfg):
    kind: Literal["tasks"]
    task_kind: Literal["call", "rm"]


class SlotConfig(_Cfg):
    """App resource slots filled by journeys (opsloop.reach.slots.SlotChannel)."""

    kind: Literal["slot"]


ChannelConfig = Annotated[
    WebhookConfig | SmtpConfig | InboxConfig | TaskConfig | SlotConfig,
    Field(discriminator="kind"),
]


class ReachConfig(_Cfg):
    """Channels by name (``sms``, ``push``, ``wechat``, ``email``, ``inbox``, ``call``, ``rm``,
    ``slot``)."""

    channels: dict[str, ChannelConfig]
    retry: RetryPolicy = RetryPolicy()
    lease_s: float = Field(default=60.0, gt=0)
    batch: int = Field(default=200, ge=1, le=10_000)
    concurrency: int = Field(default=16, ge=1, le=512)
    # Batches in flight per dispatcher: a rate-limited batch lives at least batch/rate
    # seconds plus its recording, so too few in flight leave the limiter's tokens unused.
    inflight: int = Field(default=8, ge=1, le=64)

    def webhook_hosts(self) -> dict[str, tuple[str, ...]]:
        """Each webhook channel's ``allow_hosts`` (what journey validation checks against)."""
        return {n: c.allow_hosts for n, c in self.channels.items() if isinstance(c, WebhookConfig)}

    @classmethod
    def load(cls, path: Path) -> ReachConfig:
        try:
            return cls.model_validate(orjson.loads(path.read_bytes()))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"not valid JSON: {exc}", where=str(path)) from exc
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InvalidInputError(err["msg"], where=f"{path}:{where}") from exc


def _bucket(c: Limited) -> TokenBucket | None:
    return TokenBucket(c.rate_per_s, c.burst) if c.rate_per_s else None


def build_channels(
    config: ReachConfig, store: Store, *, asynchronous: bool = False
) -> dict[str, Channel]:
    """Adapters by channel name; ``asynchronous`` gives webhook channels an ``asend``
    (for :class:`opsloop.reach.aio.AsyncDispatcher`)."""
    out: dict[str, Channel] = {}
    webhook = AsyncWebhookChannel if asynchronous else WebhookChannel
    for name, c in config.channels.items():
        if isinstance(c, WebhookConfig):
            out[name] = webhook(
                name,
                url=c.url,
                secret=c.secret.encode(),
                bucket=_bucket(c),
                cost=c.cost,
                timeout_s=c.timeout_s,
                connections=c.connections,
                allow_hosts=c.allow_hosts,
            )
        elif isinstance(c, SmtpConfig):
            out[name] = SmtpChannel(
                name,
                host=c.host,
                port=c.port,
                sender=c.sender,
                starttls=c.starttls,
                username=c.username,
                password=c.password,
                bucket=_bucket(c),
                cost=c.cost,
                timeout_s=c.timeout_s,
            )
        elif isinstance(c, InboxConfig):
            out[name] = InboxChannel(name, store)
        elif isinstance(c, SlotConfig):
            out[name] = SlotChannel(name, store)
        else:
            out[name] = TaskChannel(name, store, kind=c.task_kind)
    return out
