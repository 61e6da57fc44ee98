"""Staff users (user:manage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from opsloop.access import users
from opsloop.access.principal import Principal
from opsloop.access.schemas import UserCreate, UserPublic, UserUpdate
from opsloop.api.deps import ClientIp, StoreDep, require

DbId = Annotated[int, Path(ge=1, le=2**31 - 1)]
router = APIRouter(prefix="/users", tags=["users"])
Manager = Annotated[Principal, require("user:manage")]


@router.get("")
def list_users(
    store: StoreDep,
    _p: Manager,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[UserPublic]:
    with store.session() as s:
        return users.list_users(session=s, offset=offset, limit=limit)


@router.post("", status_code=201)
def create_user(body: UserCreate, store: StoreDep, actor: Manager, ip: ClientIp) -> UserPublic:
    with store.session() as s:
        return users.create_user(session=s, actor=actor, body=body, ip=ip)


@router.get("/{user_id}")
def get_user(user_id: DbId, store: StoreDep, _p: Manager) -> UserPublic:
    with store.session() as s:
        return users.public(s, users.get_user(s, user_id=user_id))


@router.patch("/{user_id}")
def update_user(
    user_id: DbId, body: UserUpdate, store: StoreDep, actor: Manager, ip: ClientIp
) -> UserPublic:
    with store.session() as s:
        return users.update_user(session=s, actor=actor, user_id=user_id, body=body, ip=ip)
