"""Roles and the permission catalogue (user:manage)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from opsloop.access import roles
from opsloop.access.permissions import PERMISSIONS
from opsloop.access.principal import Principal
from opsloop.access.schemas import RoleCreate, RolePublic
from opsloop.api.deps import ClientIp, StoreDep, require

router = APIRouter(prefix="/roles", tags=["roles"])
Manager = Annotated[Principal, require("user:manage")]


@router.get("")
def list_roles(store: StoreDep, _p: Manager) -> list[RolePublic]:
    with store.session() as s:
        return roles.list_roles(session=s)


@router.post("", status_code=201)
def create_role(body: RoleCreate, store: StoreDep, actor: Manager, ip: ClientIp) -> RolePublic:
    """A custom role over catalogued permissions."""
    with store.session() as s:
        return roles.create_role(session=s, actor=actor, body=body, ip=ip)


@router.get("/permissions")
def list_permissions(_p: Manager) -> dict[str, str]:
    return dict(PERMISSIONS)
