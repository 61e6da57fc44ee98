"""Dependencies every route uses: the caller, their permission, the stores.

Every route declares the permission it needs with :func:`require`, or is listed in
``PUBLIC_ROUTES`` (no caller needed) or ``SIGNED_IN_ROUTES`` (any signed-in caller).
:func:`route_permissions` reads the declarations back from the route table; a test
walks it and fails on any route that does none of these, so an endpoint cannot be
born unprotected, and ``docs/security.md`` is generated from the same table.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import iter_route_contexts

from opsloop.access import audit
from opsloop.access.config import AccessSettings
from opsloop.access.credentials import (
    session_principal,
    token_principal,
    verify_token_cached,
)
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.access.ratelimit import RateLimiter
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

__all__ = ["PUBLIC_ROUTES", "SIGNED_IN_ROUTES", "Principal", "require", "route_permissions"]

SESSION_COOKIE = "opsloop_session"
CSRF_COOKIE = "opsloop_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/ready"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/auth/oidc/login"),
        ("GET", "/api/v1/auth/oidc/callback"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        # Reach: customers follow short links from messages without any credentials (the
        # 128-bit random token is the credential); gateways post delivery receipts signed
        # with the channel's HMAC secret, which the route verifies (opsloop.api.routers.reach).
        ("GET", "/r/{token}"),
        ("POST", "/api/v1/reach/receipts/{channel}"),
    }
)
# Need a caller but no permission: a user with no role may still see and end their session.
SIGNED_IN_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/api/v1/auth/me"), ("POST", "/api/v1/auth/logout")}
)
# Tracking SDKs authenticate with a source's write key, never with staff credentials;
# routes guarded that way carry this mark (see opsloop.api.routers.collect).
WRITE_KEY_MARK = "collect:write-key"
# Using these is itself audited (raw SQL reads anything in the warehouse).
AUDIT_ON_USE: frozenset[str] = frozenset({"warehouse:query"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_access_settings(request: Request) -> AccessSettings:
    access: AccessSettings = request.app.state.access
    return access


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_warehouse(request: Request) -> Warehouse:
    wh: Warehouse = request.app.state.warehouse
    return wh


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else ""


def _resolve(request: Request, store: Store) -> Principal | None:
    token = _bearer(request)
    local: str = request.app.state.local_token
    if token and hmac.compare_digest(token.encode(), local.encode()):
        return LOCAL_OPERATOR
    if token:

        def verify() -> Principal | None:
            with store.session() as s:
                return token_principal(session=s, token=token)

        return verify_token_cached(token, verify)
    with store.session() as s:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return session_principal(
                session=s,
                token=cookie,
                csrf=request.headers.get(CSRF_HEADER),
                unsafe=request.method not in SAFE_METHODS,
            )
    return None


def current_principal(request: Request, store: Annotated[Store, Depends(get_store)]) -> Principal:
    """The caller from a bearer token or the session cookie; 401 without, 429 when too fast."""
    principal = _resolve(request, store)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="sign in or send an API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    if not limiter.allow(principal.id):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many requests; slow down",
            headers={"Retry-After": "1"},
        )
    request.state.principal = principal
    return principal


def require(permission: str) -> Any:
    """A dependency that lets the call through only with ``permission``."""

    def check(
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
        store: Annotated[Store, Depends(get_store)],
    ) -> Principal:
        if not principal.can(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"needs permission {permission}")
        if permission in AUDIT_ON_USE:
            with store.session() as s:
                audit.record(
                    s,
                    actor=principal,
                    action=f"use.{permission}",
                    target_type="route",
                    target_id=f"{request.method} {request.url.path}",
                    ip=client_ip(request),
                )
        return principal

    check.required_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    permission: str | None
    access: str  # "public" | "signed-in" | "permission" | "write-key" | "UNPROTECTED"
    summary: str


def _permissions_of(dependant: Any) -> list[str]:
    found: list[str] = []
    stack = [dependant] if dependant is not None else []
    while stack:
        dep = stack.pop()
        perm = getattr(dep.call, "required_permission", None)
        if perm is not None:
            found.append(perm)
        stack.extend(dep.dependencies)
    return sorted(set(found))


def route_permissions(app: FastAPI) -> list[RouteRule]:
    """Every (method, path) of the app with how it is protected, sorted by path."""
    rules = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        perms = _permissions_of(getattr(route, "dependant", None))
        summary = route.name or ""
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            key = (method, path)
            if perms == [WRITE_KEY_MARK]:
                access = "write-key"
            elif perms:
                access = "permission"
            elif key in PUBLIC_ROUTES:
                access = "public"
            elif key in SIGNED_IN_ROUTES:
                access = "signed-in"
            else:
                access = "UNPROTECTED"
            rules.append(RouteRule(method, path, ",".join(perms) or None, access, summary))
    return sorted(rules, key=lambda r: (r.path, r.method))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AccessDep = Annotated[AccessSettings, Depends(get_access_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
ClientIp = Annotated[str | None, Depends(client_ip)]
