"""Customers in the caller's data scope (辖内), PII masked unless revealed with pii:view."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.api.deps import ClientIp, StoreDep, WarehouseDep, require
from opsloop.insight import customers, profile
from opsloop.insight.customers import CustomerFilter

router = APIRouter(prefix="/customers", tags=["customers"])
Reader = Annotated[Principal, require("customer:read")]
Exporter = Annotated[Principal, require("customer:export")]
_ID = r"^[A-Za-z0-9_-]+$"
OrgId = Annotated[str | None, Query(max_length=32, pattern=_ID, description="org subtree")]
RmId = Annotated[str | None, Query(max_length=32, pattern=_ID)]
City = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
Dataset = Annotated[str | None, Query(max_length=64, pattern=_ID)]
Reveal = Annotated[bool, Query(description="clear PII (needs pii:view; audited)")]


class CustomerPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int
    org_id: str
    org_path: str
    rm_id: str | None
    gender: str | None
    birth_date: date | None
    city: str | None
    occupation: str | None
    kyc_risk_level: int | None
    opened_on: date
    is_active: bool
    dnd: bool
    name: str | None
    phone: str | None
    email: str | None
    id_number: str | None


class CustomerProfile(CustomerPublic):
    """The 360° profile (客户画像): the attributes above plus every center's view."""

    tags: list[dict[str, Any]]
    holdings: list[dict[str, Any]]
    aum_trend: list[dict[str, Any]]
    recent_events: list[dict[str, Any]]
    recent_transactions: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    lifecycle: dict[str, Any] | None
    model_scores: list[dict[str, Any]]
    contacts: list[dict[str, Any]] | None = Field(
        description="contact history (Reach); null without contact:read"
    )
    past_contacts: list[dict[str, Any]] | None = Field(
        default=None,
        description="past campaigns' contacts loaded into the warehouse (`contacts` table); "
        "null without contact:read",
    )


class CustomerPage(BaseModel):
    total: int
    offset: int
    items: list[CustomerPublic]


class CustomerCount(BaseModel):
    count: int


def _cipher(request: Request) -> PiiCipher:
    return PiiCipher.from_secret(request.app.state.settings.resolved_secret_key())


@router.get("")
def list_customers(
    wh: WarehouseDep,
    principal: Reader,
    org_id: OrgId = None,
    rm_id: RmId = None,
    city: City = None,
    dataset: Dataset = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> CustomerPage:
    where = CustomerFilter(org_id=org_id, rm_id=rm_id, city=city)
    total, rows = customers.list_customers(
        wh=wh, principal=principal, where=where, offset=offset, limit=limit, dataset=dataset
    )
    return CustomerPage(
        total=total, offset=offset, items=[CustomerPublic.model_validate(r) for r in rows]
    )


@router.get("/count")
def count_customers(
    wh: WarehouseDep, principal: Reader, org_id: OrgId = None, dataset: Dataset = None
) -> CustomerCount:
    where = CustomerFilter(org_id=org_id)
    n = customers.count_customers(wh=wh, principal=principal, where=where, dataset=dataset)
    return CustomerCount(count=n)


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_customers(
    request: Request,
    wh: WarehouseDep,
    store: StoreDep,
    principal: Exporter,
    ip: ClientIp,
    org_id: OrgId = None,
    rm_id: RmId = None,
    city: City = None,
    dataset: Dataset = None,
    reveal: Reveal = False,
) -> Response:
    """CSV of the customers in scope, formula-safe; every export is audited."""
    text = customers.export_customers(
        wh=wh,
        store=store,
        principal=principal,
        where=CustomerFilter(org_id=org_id, rm_id=rm_id, city=city),
        reveal=reveal,
        cipher=_cipher(request) if reveal else None,
        ip=ip,
        dataset=dataset,
    )
    headers = {"Content-Disposition": 'attachment; filename="customers.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{customer_id}")
def get_customer(
    customer_id: Annotated[int, Path(ge=0, le=2**62)],
    request: Request,
    wh: WarehouseDep,
    store: StoreDep,
    principal: Reader,
    ip: ClientIp,
    dataset: Dataset = None,
    reveal: Reveal = False,
) -> CustomerProfile:
    """The 360° profile; 404 (not 403) outside scope, so a customer's existence does not leak."""
    row = profile.profile(
        wh=wh,
        store=store,
        principal=principal,
        customer_id=customer_id,
        reveal=reveal,
        cipher=_cipher(request) if reveal else None,
        ip=ip,
        dataset=dataset,
    )
    return CustomerProfile.model_validate(row)
