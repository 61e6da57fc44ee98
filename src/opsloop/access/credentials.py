"""Console sessions (cookie + CSRF secret) and API tokens for systems.

Secrets are 256-bit random values handed out once; the store keeps their SHA-256.
An API token reads ``opl_<random>``: the prefix tells it apart from anything else
(collection write keys of the future Collection center are a separate kind of key
and never resolve to a staff principal).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsloop.access import audit
from opsloop.access.clock import as_utc, utcnow
from opsloop.access.config import AccessSettings
from opsloop.access.models import ApiToken, AuthSession, User
from opsloop.access.permissions import unknown_permissions
from opsloop.access.principal import Principal
from opsloop.access.schemas import TokenCreate, TokenCreated, TokenPublic
from opsloop.access.users import by_username, principal_for
from opsloop.errors import ForbiddenError, InvalidInputError, NotFoundError

TOKEN_PREFIX = "opl_"  # noqa: S105  (a prefix, not a secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    expires_at: datetime


def start_session(
    *,
    session: Session,
    user: User,
    settings: AccessSettings,
    ip: str | None = None,
    now: datetime | None = None,
) -> NewSession:
    now = now or utcnow()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=settings.session_minutes)
    session.add(
        AuthSession(
            token_hash=digest(token),
            csrf_hash=digest(csrf),
            user_id=user.id,
            created_at=now,
            expires_at=expires,
            ip=ip,
        )
    )
    audit.record(
        session,
        actor=principal_for(session, user),
        action="auth.login",
        target_type="user",
        target_id=user.username,
        ip=ip,
    )
    return NewSession(token, csrf, expires)


def _live_session(session: Session, token: str, now: datetime) -> AuthSession | None:
    row = session.execute(
        select(AuthSession).where(AuthSession.token_hash == digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        return None
    return row


def session_principal(
    *, session: Session, token: str, csrf: str | None, unsafe: bool, now: datetime | None = None
) -> Principal | None:
    """The session's user, or None; unsafe methods also need the matching CSRF secret."""
    row = _live_session(session, token, now or utcnow())
    if row is None:
        return None
    if unsafe and not (csrf and hmac.compare_digest(digest(csrf), row.csrf_hash)):
        raise ForbiddenError("missing or wrong X-CSRF-Token header", where="csrf")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return principal_for(session, user)


def end_session(*, session: Session, token: str, actor: Principal, ip: str | None = None) -> None:
    row = _live_session(session, token, utcnow())
    if row is not None:
        row.revoked_at = utcnow()
        audit.record(session, actor=actor, action="auth.logout", ip=ip)


def _token_public(row: ApiToken, username: str) -> TokenPublic:
    return TokenPublic(
        id=row.id,
        name=row.name,
        username=username,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_token(
    *,
    session: Session,
    actor: Principal,
    body: TokenCreate,
    ip: str | None = None,
    now: datetime | None = None,
) -> TokenCreated:
    """A token for ``body.username`` (default the caller), scoped to ``body.scopes``."""
    now = now or utcnow()
    if body.username is not None:
        owner = by_username(session, body.username)
    else:
        owner = session.get(User, actor.user_id) if actor.user_id is not None else None
    if owner is None:
        raise InvalidInputError(f"no such owner {body.username or actor.id!r}", where="username")
    bad = unknown_permissions(set(body.scopes))
    if bad:
        raise InvalidInputError(f"unknown permissions {bad}", where="scopes")
    if not actor.can("*") and set(body.scopes) - actor.permissions:
        extra = sorted(set(body.scopes) - actor.permissions)
        raise ForbiddenError(f"a token cannot carry permissions you lack: {extra}", where="scopes")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=body.name,
        token_hash=digest(secret),
        user_id=owner.id,
        scopes=sorted(set(body.scopes)),
        created_at=now,
        expires_at=now + timedelta(days=body.expires_in_days),
    )
    session.add(row)
    session.flush()
    out = _token_public(row, owner.username)
    audit.record(
        session,
        actor=actor,
        action="token.create",
        target_type="api_token",
        target_id=str(row.id),
        ip=ip,
        after=out.model_dump(mode="json"),
    )
    return TokenCreated(**out.model_dump(), token=secret)


def token_principal(
    *, session: Session, token: str, now: datetime | None = None
) -> Principal | None:
    """The token's principal: its owner's scope, permissions = owner's ∩ the token's scopes."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or as_utc(row.expires_at) <= now:
        return None
    owner = session.get(User, row.user_id)
    if owner is None or not owner.is_active:
        return None
    row.last_used_at = now
    base = principal_for(session, owner, kind="token")
    return Principal(
        id=f"{owner.username}#token{row.id}",
        kind="token",
        org_path=base.org_path,
        permissions=base.permissions & frozenset(row.scopes),
        rm_id=base.rm_id,
        own_customers_only=base.own_customers_only,
        user_id=owner.id,
    )


# Verified tokens per process, for TOKEN_CACHE_SECONDS: a verification is two SQL reads
# and an UPDATE of last_used_at, and every request of an app backend updating the same
# token row serialised them (profiled: half of a coupon grab's time). Revocation and
# user changes clear this process's cache at once and reach other workers within the TTL.
TOKEN_CACHE_SECONDS = 2.0
_TOKEN_CACHE_MAX = 10_000
_verified: dict[str, tuple[float, Principal]] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def verify_token_cached(token: str, verify: Callable[[], Principal | None]) -> Principal | None:
    """``verify()``'s answer for a token, reused for ``TOKEN_CACHE_SECONDS``.

    Only valid tokens are cached. When an entry expires, one thread per token verifies
    again while the others wait for its answer (no stampede of identical UPDATEs).
    """
    key = digest(token)
    hit = _verified.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        hit = _verified.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        principal = verify()
        if principal is not None:
            if len(_verified) >= _TOKEN_CACHE_MAX:
                forget_tokens()
            _verified[key] = (time.monotonic() + TOKEN_CACHE_SECONDS, principal)
        return principal


def forget_tokens() -> None:
    """Drop every cached verification (a token was revoked or a user changed)."""
    _verified.clear()
    with _locks_guard:
        _locks.clear()


def revoke_token(
    *, session: Session, actor: Principal, token_id: int, ip: str | None = None
) -> TokenPublic:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token {token_id}", where="token_id")
    owner = session.get(User, row.user_id)
    before = _token_public(row, owner.username if owner else "?")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    forget_tokens()
    after = _token_public(row, before.username)
    audit.record(
        session,
        actor=actor,
        action="token.revoke",
        target_type="api_token",
        target_id=str(row.id),
        ip=ip,
        before=before.model_dump(mode="json"),
        after=after.model_dump(mode="json"),
    )
    return after


def list_tokens(*, session: Session, offset: int = 0, limit: int = 100) -> list[TokenPublic]:
    q = (
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id)
        .offset(offset)
        .limit(limit)
    )
    return [_token_public(t, u) for t, u in session.execute(q).all()]
