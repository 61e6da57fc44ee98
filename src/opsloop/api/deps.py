"""Dependencies every route uses: the caller, their permission, the stores.

Every route declares the permission it needs with :func:`require` (or is listed in
``PUBLIC_ROUTES``); a test walks the route table and fails on any route that does
neither, so an endpoint cannot be born unprotected.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/api/v1/health"), ("GET", "/openapi.json"), ("GET", "/docs")}
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user, an API token, or the local operator (CLI)."""

    id: str
    kind: str
    org_path: str = "/HO/"
    permissions: frozenset[str] = field(default_factory=frozenset)

    def can(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_warehouse(request: Request) -> Warehouse:
    wh: Warehouse = request.app.state.warehouse
    return wh


def current_principal(request: Request) -> Principal:
    """Resolve the caller from the Authorization header; 401 when there is none."""
    auth = request.headers.get("authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    local: str = request.app.state.local_token
    if token and hmac.compare_digest(token, local):
        return Principal(id="local-operator", kind="local", permissions=frozenset({"*"}))
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="sign in or send an API token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require(permission: str) -> Any:
    """A dependency that lets the call through only with ``permission``."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"needs permission {permission}")
        return principal

    check.required_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[Store, Depends(get_store)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]
