"""Segments (客群): validate, preview, save, share, materialise, export, upload — thin routes.

Every route calls :mod:`opsloop.insight.segments` services with the caller as
``principal``; member queries run through the caller's data scope (辖内), and every
change and export is audited by the service.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.access.uploads import check_upload
from opsloop.api.deps import ClientIp, StoreDep, WarehouseDep, require
from opsloop.errors import InvalidInputError
from opsloop.insight.segments import materialise as mat
from opsloop.insight.segments import store as segstore
from opsloop.insight.segments.errors import SegmentValidationError
from opsloop.insight.segments.service import data_as_of, preview, validate_segment

router = APIRouter(prefix="/segments", tags=["segments"])
Reader = Annotated[Principal, require("segment:read")]
Writer = Annotated[Principal, require("segment:write")]
Exporter = Annotated[Principal, require("segment:export")]
_SID = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
SegmentId = Annotated[str, Path(max_length=128, pattern=_SID)]
Dataset = Annotated[str | None, Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Cron = Annotated[str | None, Field(default=None, max_length=64, pattern=r"^[0-9*,/ -]+$")]
Document = Annotated[dict[str, Any], Field(description="a segment document (docs/segments.md)")]


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: Document


class PreviewBody(ValidateBody):
    as_of: dt.date | None = Field(default=None, ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))
    scope: str | None = Field(default=None, max_length=512, description="narrow to an org path")
    sample: int = Field(default=20, ge=0, le=1000)
    dataset: Dataset = None


class SaveBody(ValidateBody):
    refresh_cron: Cron = None
    dataset: Dataset = None


class UpdateBody(ValidateBody):
    refresh_cron: Cron = None


class ShareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_paths: list[Annotated[str, Field(max_length=512)]] = Field(max_length=1000)


class MaterialiseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: dt.date | None = Field(default=None, ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))


def _cipher(request: Request) -> PiiCipher:
    return PiiCipher.from_secret(request.app.state.settings.resolved_secret_key())


@router.post("/validate")
def validate(body: ValidateBody, principal: Reader) -> dict[str, Any]:
    """Every problem with its JSON path (200 either way: validity is the answer)."""
    try:
        defn = validate_segment(body.definition)
    except SegmentValidationError as exc:
        issues = [{"where": i.where, "message": i.message} for i in exc.issues]
        return {"valid": False, "issues": issues}
    return {"valid": True, "id": defn.id, "name": defn.name, "issues": []}


@router.post("/preview")
def preview_segment(
    body: PreviewBody, wh: WarehouseDep, store: StoreDep, principal: Reader
) -> dict[str, Any]:
    """Count, sample (masked) and breakdown by branch, in the caller's scope."""
    defn = validate_segment(body.definition)
    day = body.as_of or data_as_of(wh=wh, dataset=body.dataset)
    result = preview(
        wh=wh,
        defn=defn,
        as_of=day,
        scope_prefix=body.scope,
        dataset=body.dataset,
        sample=body.sample,
        resolve=segstore.resolver(store, principal),
        principal=principal,
    )
    return result.model_dump(mode="json")


@router.post("", status_code=201)
def create(body: SaveBody, store: StoreDep, principal: Writer, ip: ClientIp) -> dict[str, Any]:
    """Save a new segment owned by the caller, scoped to their org subtree."""
    seg = segstore.create(
        store,
        principal=principal,
        doc=body.definition,
        refresh_cron=body.refresh_cron,
        dataset=body.dataset,
        ip=ip,
    )
    return seg.public()


@router.get("")
def list_segments(
    store: StoreDep,
    principal: Reader,
    owner: Annotated[str | None, Query(max_length=128)] = None,
    archived: bool = False,
) -> dict[str, Any]:
    """Segments the caller may see: their subtree's, their own, and those shared with them."""
    items = segstore.list_segments(
        store, principal=principal, owner=owner, include_archived=archived
    )
    return {"items": [s.public() for s in items]}


@router.post("/upload", status_code=201)
async def upload(
    store: StoreDep,
    wh: WarehouseDep,
    principal: Writer,
    ip: ClientIp,
    file: Annotated[UploadFile, File(description="CSV of customer ids (one per line)")],
    segment_id: Annotated[str, Form(max_length=128, pattern=_SID)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
) -> dict[str, Any]:
    """A static segment from a list of ids; ids outside the caller's scope are refused."""
    data = await file.read()
    check_upload(
        filename=file.filename or "",
        content_type=file.content_type or "",
        size=len(data),
        head=data[:16],
    )
    if not (file.filename or "").lower().endswith(".csv"):
        raise InvalidInputError("upload a .csv of customer ids", where="filename")
    return mat.upload(
        store, wh, principal=principal, segment_id=segment_id, name=name, data=data, ip=ip
    )


@router.get("/{segment_id}")
def get(
    segment_id: SegmentId,
    store: StoreDep,
    principal: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> dict[str, Any]:
    """One segment (a given version, or the latest); 404 if not visible to the caller."""
    return segstore.get(store, segment_id=segment_id, principal=principal, version=version).public()


@router.put("/{segment_id}")
def update(
    segment_id: SegmentId, body: UpdateBody, store: StoreDep, principal: Writer, ip: ClientIp
) -> dict[str, Any]:
    """Save a new version (older versions stay readable)."""
    seg = segstore.update(
        store,
        principal=principal,
        segment_id=segment_id,
        doc=body.definition,
        refresh_cron=body.refresh_cron,
        ip=ip,
    )
    return seg.public()


@router.delete("/{segment_id}")
def archive(
    segment_id: SegmentId, store: StoreDep, principal: Writer, ip: ClientIp
) -> dict[str, Any]:
    """Archive the segment (its versions and snapshot history are kept)."""
    return segstore.archive(store, principal=principal, segment_id=segment_id, ip=ip).public()


@router.put("/{segment_id}/share")
def share(
    segment_id: SegmentId, body: ShareBody, store: StoreDep, principal: Writer, ip: ClientIp
) -> dict[str, Any]:
    """Set the org units the segment is shared with (each sees its own customers in it)."""
    seg = segstore.share(
        store, principal=principal, segment_id=segment_id, org_paths=body.org_paths, ip=ip
    )
    return seg.public()


@router.post("/{segment_id}/materialise")
def materialise(
    segment_id: SegmentId,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Writer,
    ip: ClientIp,
    body: MaterialiseBody | None = None,
) -> dict[str, Any]:
    """Snapshot the members now (version, time, size); needs a scope covering the segment."""
    as_of = body.as_of if body is not None else None
    return mat.materialise(
        store, wh, principal=principal, segment_id=segment_id, as_of=as_of, ip=ip
    )


@router.get("/{segment_id}/history")
def history(
    segment_id: SegmentId,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Snapshot sizes, newest first, counted in the caller's scope."""
    items = mat.history(store, wh, principal=principal, segment_id=segment_id, limit=limit)
    return {"items": items}


@router.get(
    "/{segment_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def export(
    segment_id: SegmentId,
    request: Request,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Exporter,
    ip: ClientIp,
    format: Annotated[str, Query(pattern=r"^(csv|parquet)$")] = "csv",
    reveal: Annotated[bool, Query(description="clear PII (needs pii:view; audited)")] = False,
) -> Response:
    """The latest snapshot's members in the caller's scope, PII masked; audited."""
    data = mat.export(
        store,
        wh,
        principal=principal,
        segment_id=segment_id,
        fmt=format,
        reveal=reveal,
        cipher=_cipher(request) if reveal else None,
        ip=ip,
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/vnd.apache.parquet"
    headers = {"Content-Disposition": f'attachment; filename="{segment_id}.{format}"'}
    return Response(data, media_type=media, headers=headers)
