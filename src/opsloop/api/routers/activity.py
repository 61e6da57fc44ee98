"""Activity center routes: benefits, activities (maker-checker), participation, risk.

Thin: each route validates its body and calls :mod:`opsloop.activity.service`. The
app's backend takes part for customers with an API token holding
``activity:participate``; staff manage activities and review risk decisions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from opsloop.access.principal import Principal
from opsloop.activity import ledger, service
from opsloop.activity import scope as activity_scope
from opsloop.activity.schemas import ACTIVITY_ID_PATTERN, Body, CustomerId, ParticipateBody, Short
from opsloop.activity.service import Runtime
from opsloop.api.deps import StoreDep, WarehouseDep, require

router = APIRouter(tags=["activity"])
ActivityId = Annotated[str, Path(pattern=ACTIVITY_ID_PATTERN)]
DbId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def runtime(request: Request) -> Runtime:
    """One runtime per process (counters, windows, list cache), built on first use."""
    return service.runtime_for(request.app.state)


class RedeemBody(Body):
    customer_id: CustomerId
    unit_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    idempotency_key: Short
    order_cents: Annotated[int, Field(ge=0, le=10**13)] | None = None


class TransactionBody(Body):
    customer_id: CustomerId
    amount_cents: Annotated[int, Field(ge=0, le=10**13)]
    txn_id: Short


class ListBody(Body):
    dimension: Literal["customer", "device", "ip", "phone_prefix"]
    value: Short
    list: Literal["black", "grey"] | None


@router.post("/benefits", status_code=201, dependencies=[require("benefit:manage")])
def create_benefit(
    doc: dict[str, Any], store: StoreDep, actor: Annotated[Principal, require("benefit:manage")]
) -> dict[str, Any]:
    return service.create_benefit(store=store, actor=actor, doc=doc).model_dump(mode="json")


@router.get("/benefits", dependencies=[require("activity:read")])
def list_benefits(store: StoreDep) -> list[dict[str, Any]]:
    return service.list_benefits(store=store)


@router.post("/benefits/redeem", dependencies=[require("benefit:redeem")])
def redeem(body: RedeemBody, request: Request) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.session() as s:
        e = ledger.redeem(
            s,
            unit_id=body.unit_id,
            customer_id=body.customer_id,
            now=rt.clock(),
            idem_key=f"api:{body.idempotency_key}",
            order_cents=body.order_cents,
        )
        return {"unit_id": e.unit_id, "entry_id": e.id, "value_cents": e.value_cents}


@router.post("/benefits/transactions", dependencies=[require("benefit:redeem")])
def transaction(body: TransactionBody, request: Request) -> dict[str, Any]:
    """A qualifying transaction event (fund purchase ≥ threshold redeems a coupon)."""
    rt = runtime(request)
    with rt.store.session() as s:
        e = ledger.redeem_by_transaction(
            s,
            customer_id=body.customer_id,
            amount_cents=body.amount_cents,
            txn_id=body.txn_id,
            now=rt.clock(),
        )
        return {"redeemed": e.unit_id if e else None}


@router.post("/activities", status_code=201, dependencies=[require("activity:submit")])
def create_activity(
    doc: dict[str, Any], store: StoreDep, actor: Annotated[Principal, require("activity:submit")]
) -> dict[str, Any]:
    return service.create_activity(store=store, actor=actor, doc=doc)


@router.put("/activities/{activity_id}", dependencies=[require("activity:submit")])
def update_activity(
    activity_id: ActivityId,
    doc: dict[str, Any],
    store: StoreDep,
    actor: Annotated[Principal, require("activity:submit")],
) -> dict[str, Any]:
    return service.update_activity(store=store, actor=actor, activity_id=activity_id, doc=doc)


@router.get("/activities", dependencies=[require("activity:read")])
def list_activities(
    store: StoreDep, status: Annotated[str | None, Query(max_length=16)] = None
) -> list[dict[str, Any]]:
    return service.list_activities(store=store, status=status)


@router.get("/activities/{activity_id}", dependencies=[require("activity:read")])
def get_activity(activity_id: ActivityId, store: StoreDep) -> dict[str, Any]:
    return service.get_activity(store=store, activity_id=activity_id)


def _transition_route(action: str, permission: str) -> None:
    # A default, not Annotated: string annotations cannot see this closure's variable.
    def route(
        activity_id: ActivityId,
        store: StoreDep,
        actor: Principal = require(permission),
    ) -> dict[str, Any]:
        return service.transition(store=store, actor=actor, activity_id=activity_id, action=action)

    route.__name__ = f"{action}_activity"
    router.post(f"/activities/{{activity_id}}/{action}", dependencies=[require(permission)])(route)


for _action, (_src, _to, _perm) in service.TRANSITIONS.items():
    _transition_route(_action, _perm)


@router.post(
    "/activities/{activity_id}/participate", dependencies=[require("activity:participate")]
)
def participate(
    activity_id: ActivityId,
    body: ParticipateBody,
    request: Request,
    wh: WarehouseDep,
    caller: Annotated[Principal, require("activity:participate")],
) -> dict[str, Any]:
    """A customer takes part. Served by the lean path (:mod:`opsloop.activity.asgi`) in
    the running server; this route documents it and answers what the lean path hands on
    (requests it refuses to shortcut: no bearer token, invalid body, …)."""
    activity_scope.need(wh, caller, body.customer_id)  # free for bank-wide callers
    req = service.Request(**body.model_dump())
    out = service.participate(rt=runtime(request), activity_id=activity_id, req=req)
    return out.__dict__


@router.get("/activities/{activity_id}/stats", dependencies=[require("analysis:read")])
def activity_stats(activity_id: ActivityId, store: StoreDep) -> dict[str, Any]:
    return service.stats(store=store, activity_id=activity_id)


@router.get("/risk/decisions", dependencies=[require("risk:review")])
def list_decisions(
    store: StoreDep,
    wh: WarehouseDep,
    caller: Annotated[Principal, require("risk:review")],
    status: Annotated[Literal["open", "released"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return service.list_decisions(store=store, status=status, limit=limit, wh=wh, principal=caller)


@router.post("/risk/decisions/{decision_id}/release", dependencies=[require("risk:review")])
def release_decision(
    decision_id: DbId,
    request: Request,
    wh: WarehouseDep,
    actor: Annotated[Principal, require("risk:review")],
) -> dict[str, Any]:
    return service.release_decision(
        rt=runtime(request), actor=actor, decision_id=decision_id, wh=wh
    )


@router.put("/risk/lists", status_code=204, dependencies=[require("risk:review")])
def set_list(
    body: ListBody, request: Request, actor: Annotated[Principal, require("risk:review")]
) -> None:
    service.set_list(
        rt=runtime(request), actor=actor, dimension=body.dimension, value=body.value, kind=body.list
    )
