"""API tokens for systems (token:manage): scoped, expiring, revocable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from opsloop.access import credentials
from opsloop.access.principal import Principal
from opsloop.access.schemas import TokenCreate, TokenCreated, TokenPublic
from opsloop.api.deps import ClientIp, StoreDep, require

DbId = Annotated[int, Path(ge=1, le=2**31 - 1)]
router = APIRouter(prefix="/tokens", tags=["tokens"])
Manager = Annotated[Principal, require("token:manage")]


@router.get("")
def list_tokens(
    store: StoreDep,
    _p: Manager,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TokenPublic]:
    with store.session() as s:
        return credentials.list_tokens(session=s, offset=offset, limit=limit)


@router.post("", status_code=201)
def create_token(body: TokenCreate, store: StoreDep, actor: Manager, ip: ClientIp) -> TokenCreated:
    """The secret is in this response only; the store keeps its SHA-256."""
    with store.session() as s:
        return credentials.create_token(session=s, actor=actor, body=body, ip=ip)


@router.delete("/{token_id}")
def revoke_token(token_id: DbId, store: StoreDep, actor: Manager, ip: ClientIp) -> TokenPublic:
    with store.session() as s:
        return credentials.revoke_token(session=s, actor=actor, token_id=token_id, ip=ip)
