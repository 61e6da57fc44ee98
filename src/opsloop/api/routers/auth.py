"""Sign-in and sign-out for the console: a session cookie plus a CSRF secret."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from opsloop.access import credentials, users
from opsloop.access.errors import RateLimitedError
from opsloop.access.schemas import LoginRequest, UserPublic
from opsloop.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AccessDep,
    ClientIp,
    CurrentPrincipal,
    StoreDep,
)

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginResult(BaseModel):
    user: UserPublic
    csrf_token: str


class Me(BaseModel):
    id: str
    kind: str
    org_path: str
    rm_id: str | None
    own_customers_only: bool
    permissions: list[str]


@router.post("/login", responses={401: {"description": "wrong credentials or locked"}})
def login(
    body: LoginRequest, request: Request, store: StoreDep, access: AccessDep, ip: ClientIp
) -> JSONResponse:
    """Check the password (lockout after repeated failures) and open a session."""
    if not request.app.state.rate_limiter.allow(f"login:{ip}"):
        raise RateLimitedError("too many sign-in attempts; slow down")
    with store.session() as s:
        checked = users.authenticate(
            session=s, username=body.username, password=body.password, settings=access, ip=ip
        )
    if isinstance(checked, Exception):
        raise checked
    with store.session() as s:
        user = users.get_user(s, user_id=checked.id)
        new = credentials.start_session(session=s, user=user, settings=access, ip=ip)
        out = LoginResult(user=users.public(s, user), csrf_token=new.csrf)
    resp = JSONResponse(out.model_dump(mode="json"))
    max_age = access.session_minutes * 60
    secure = access.cookie_secure
    resp.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    resp.set_cookie(CSRF_COOKIE, new.csrf, max_age=max_age, secure=secure, samesite="strict")
    return resp


@router.post("/logout", status_code=204)
def logout(
    request: Request, principal: CurrentPrincipal, store: StoreDep, ip: ClientIp
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with store.session() as s:
            credentials.end_session(session=s, token=token, actor=principal, ip=ip)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE)
    return resp


@router.get("/me")
def me(principal: CurrentPrincipal) -> Me:
    """Who the caller is, their scope and permissions (what the console shows/hides)."""
    return Me(
        id=principal.id,
        kind=principal.kind,
        org_path=principal.org_path,
        rm_id=principal.rm_id,
        own_customers_only=principal.own_customers_only,
        permissions=sorted(principal.permissions),
    )
