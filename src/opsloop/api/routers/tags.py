"""Tags (标签): catalogue, runs and customers' values — thin routes over the tag services.

Reading a customer's tags goes through the caller's data scope (辖内); creating,
editing (a new version) and archiving tags, importing manual id lists, running tags and
pruning their history are audited by the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.principal import Principal
from opsloop.api.deps import SettingsDep, StoreDep, WarehouseDep, require
from opsloop.insight.segments.service import data_as_of
from opsloop.insight.tags import service
from opsloop.insight.tags.service import RunSummary, TagInfo, TagVersion

router = APIRouter(prefix="/tags", tags=["tags"])
Reader = Annotated[Principal, require("tag:read")]
Writer = Annotated[Principal, require("tag:write")]
Runner = Annotated[Principal, require("tag:run")]
_NAME = r"^[a-z][a-z0-9_.-]{0,127}$"
TagName = Annotated[str, Path(max_length=128, pattern=_NAME)]
Day = Annotated[
    dt.date | None, Field(default=None, ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))
]
Dataset = Annotated[str | None, Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any] = Field(description="a tag definition (docs/tags.md)")


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any] = Field(
        description="the fields to change: title, owner, category, description, schedule, "
        "value_type, condition, measure, bands, model, output"
    )


class PruneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_days: int = Field(ge=1, le=36600, description="keep this many days of daily values")
    today: Day = None
    dataset: Dataset = None


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[Annotated[str, Field(max_length=128, pattern=_NAME)]] | None = Field(
        default=None, max_length=1000, description="tags to run; all when omitted"
    )
    as_of: Day = None
    dataset: Dataset = None


class RunOneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: Day = None
    dataset: Dataset = None


class IdsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_ids: list[Annotated[int, Field(ge=0, le=2**62)]] = Field(max_length=1_000_000)


class TagValuePublic(BaseModel):
    tag: str
    value: bool | float | str
    as_of: dt.date


@router.get("")
def list_tags(
    store: StoreDep,
    principal: Reader,
    category: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    include_archived: bool = False,
) -> list[TagInfo]:
    return service.list_tags(store=store, category=category, include_archived=include_archived)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_tag(body: CreateBody, store: StoreDep, principal: Writer) -> TagInfo:
    return service.create_tag(store=store, doc=body.definition, principal=principal)


@router.post("/run")
def run_tags(
    body: RunBody, store: StoreDep, wh: WarehouseDep, settings: SettingsDep, principal: Runner
) -> list[RunSummary]:
    as_of = body.as_of or data_as_of(wh=wh, dataset=body.dataset)
    return service.run_tags(
        store=store, wh=wh, names=body.names, as_of=as_of, principal=principal,
        dataset=body.dataset, retention_days=settings.tag_retention_days,
    )  # fmt: skip


@router.post("/prune")
def prune_history(
    body: PruneBody, store: StoreDep, wh: WarehouseDep, principal: Runner
) -> dict[str, int]:
    """Drop daily values older than ``keep_days`` (each tag's latest day and every run's
    coverage report are kept)."""
    today = body.today or data_as_of(wh=wh, dataset=body.dataset)
    n = service.prune_history(
        store=store, wh=wh, keep_days=body.keep_days, today=today, principal=principal,
        dataset=body.dataset,
    )  # fmt: skip
    return {"rows_dropped": n}


@router.get("/customers/{customer_id}")
def customer_tags(
    customer_id: Annotated[int, Path(ge=0, le=2**62)],
    wh: WarehouseDep,
    principal: Reader,
    as_of: Annotated[
        dt.date | None, Query(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))
    ] = None,
    dataset: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> list[TagValuePublic]:
    """The customer's tag values as of a day (latest runs when omitted), if in scope."""
    values = service.customer_tags(
        wh=wh, principal=principal, customer_id=customer_id, as_of=as_of, dataset=dataset
    )
    return [TagValuePublic(tag=v.tag, value=v.value, as_of=v.as_of) for v in values]


@router.get("/{name}")
def get_tag(name: TagName, store: StoreDep, principal: Reader) -> TagInfo:
    """The definition and its latest run's coverage and distribution."""
    return service.get_tag(store=store, name=name)


@router.patch("/{name}")
def update_tag(name: TagName, body: UpdateBody, store: StoreDep, principal: Writer) -> TagInfo:
    """Change fields of the definition: a new version (audited); name and type stay."""
    return service.update_tag(store=store, name=name, changes=body.changes, principal=principal)


@router.delete("/{name}")
def archive_tag(name: TagName, store: StoreDep, principal: Writer) -> TagInfo:
    """Archive the tag (no longer listed or run; history kept). 409 naming the segments
    and journeys that still use it."""
    return service.archive_tag(store=store, name=name, principal=principal)


@router.get("/{name}/versions")
def tag_versions(name: TagName, store: StoreDep, principal: Reader) -> list[TagVersion]:
    """Every definition the tag has had, oldest first."""
    return service.tag_versions(store=store, name=name)


@router.post("/{name}/run")
def run_tag(
    name: TagName,
    body: RunOneBody,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Runner,
) -> RunSummary:
    as_of = body.as_of or data_as_of(wh=wh, dataset=body.dataset)
    runs = service.run_tags(
        store=store, wh=wh, names=[name], as_of=as_of, principal=principal,
        dataset=body.dataset, retention_days=settings.tag_retention_days,
    )  # fmt: skip
    return runs[0]


@router.put("/{name}/ids")
def import_ids(name: TagName, body: IdsBody, store: StoreDep, principal: Writer) -> dict[str, int]:
    """Replace a manual tag's customer list (values change at its next run)."""
    n = service.import_ids(store=store, name=name, ids=body.customer_ids, principal=principal)
    return {"customer_ids": n}
