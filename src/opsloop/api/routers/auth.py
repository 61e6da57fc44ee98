"""Sign-in and sign-out for the console: a session cookie plus a CSRF secret."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from opsloop.access import audit, credentials, oidc, users
from opsloop.access.config import AccessSettings
from opsloop.access.credentials import NewSession
from opsloop.access.errors import RateLimitedError, UnauthenticatedError
from opsloop.access.schemas import LoginRequest, UserPublic
from opsloop.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AccessDep,
    ClientIp,
    CurrentPrincipal,
    SettingsDep,
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
) -> Response:
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
    return _with_session(JSONResponse(out.model_dump(mode="json")), new, access)


def _with_session(resp: Response, new: NewSession, access: AccessSettings) -> Response:
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


OIDC_COOKIE = "opsloop_oidc"
_Param = Annotated[str, Query(min_length=1, max_length=2048)]


def _provider(access: AccessSettings, http: httpx.Client) -> oidc.Provider:
    if not access.oidc_enabled or access.oidc_issuer is None:
        raise UnauthenticatedError("OIDC sign-in is not configured", where="oidc")
    return oidc.discover(access.oidc_issuer, http=http)


@router.get("/oidc/login", status_code=302, response_class=RedirectResponse)
def oidc_login(access: AccessDep, settings: SettingsDep) -> Response:
    """Send the browser to the bank's identity provider."""
    with httpx.Client(timeout=10) as http:
        url, pending = oidc.start(_provider(access, http), access)
    resp = RedirectResponse(url, status_code=302)
    signed = oidc.sign(pending, settings.resolved_secret_key())
    # Lax: the provider's redirect back is a top-level cross-site navigation.
    resp.set_cookie(
        OIDC_COOKIE, signed, max_age=600, httponly=True, secure=access.cookie_secure, samesite="lax"
    )
    return resp


@router.get("/oidc/callback", status_code=302, response_class=RedirectResponse)
def oidc_callback(
    code: _Param,
    state: _Param,
    request: Request,
    store: StoreDep,
    access: AccessDep,
    settings: SettingsDep,
    ip: ClientIp,
) -> Response:
    """Verify the provider's answer and open a session for the matching opsloop user."""
    pending = oidc.unsign(request.cookies.get(OIDC_COOKIE, ""), settings.resolved_secret_key())
    if pending.get("state") != state:
        raise UnauthenticatedError("sign-in state does not match; start again", where="state")
    with httpx.Client(timeout=10) as http:
        provider = _provider(access, http)
        id_token = oidc.exchange(provider, access, code, http=http)
        jwks = http.get(provider.jwks_uri).json()
    claims = oidc.verify_id_token(
        id_token,
        jwks=jwks,
        issuer=provider.issuer,
        audience=access.oidc_client_id or "",
        nonce=pending.get("nonce", ""),
    )
    username = str(claims.get(access.oidc_username_claim, ""))
    with store.session() as s:
        user = users.by_username(s, username)
        if user is None or not user.is_active:
            audit.record(
                s, actor=users.ANONYMOUS, action="auth.oidc_unknown", target_id=username, ip=ip
            )
            unknown = True
        else:
            unknown = False
            new = credentials.start_session(session=s, user=user, settings=access, ip=ip)
    if unknown:
        raise UnauthenticatedError(f"no active opsloop user {username!r}", where="oidc")
    resp = _with_session(RedirectResponse("/", status_code=302), new, access)
    resp.delete_cookie(OIDC_COOKIE)
    return resp
