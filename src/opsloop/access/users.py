"""Staff users: creation, roles, sign-in with lockout, and the principal they become."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsloop.access import audit
from opsloop.access.clock import as_utc, utcnow
from opsloop.access.config import AccessSettings
from opsloop.access.errors import UnauthenticatedError
from opsloop.access.models import User, UserRole
from opsloop.access.passwords import DUMMY_HASH, check_policy, hash_password, verify_password
from opsloop.access.permissions import BANK_WIDE_ONLY, BANK_WIDE_PATH
from opsloop.access.principal import Principal
from opsloop.access.roles import require_roles, role_def
from opsloop.access.schemas import UserCreate, UserPublic, UserUpdate
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.store.models import OrgUnit

ANONYMOUS = Principal(id="anonymous", kind="anonymous")


def org_path(session: Session, org_id: str) -> str:
    """The org unit's path; the head office is known even before the org tree is loaded."""
    unit = session.get(OrgUnit, org_id)
    if unit is not None:
        return unit.path
    if org_id == "HO":
        return BANK_WIDE_PATH
    raise InvalidInputError(f"unknown org unit {org_id!r}", where="org_id")


def roles_of(session: Session, user_id: int) -> list[str]:
    q = select(UserRole.role).where(UserRole.user_id == user_id).order_by(UserRole.role)
    return list(session.execute(q).scalars())


def principal_for(session: Session, user: User, *, kind: str = "user") -> Principal:
    """Union of the user's role permissions; the most restrictive scope flag wins."""
    perms: set[str] = set()
    own_only = False
    for name in roles_of(session, user.id):
        d = role_def(session, name)
        if d is not None:
            perms |= d.permissions
            own_only = own_only or d.own_customers_only
    return Principal(
        id=user.username,
        kind=kind,
        org_path=user.org_path,
        permissions=frozenset(perms),
        rm_id=user.rm_id,
        own_customers_only=own_only,
        user_id=user.id,
    )


def public(session: Session, user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        org_id=user.org_id,
        org_path=user.org_path,
        rm_id=user.rm_id,
        roles=roles_of(session, user.id),
        is_active=user.is_active,
        locked_until=user.locked_until,
    )


def _check_roles_fit(session: Session, roles: list[str], path: str) -> None:
    """Bank-wide-only permissions (raw SQL) cannot be granted below the head office."""
    for d in require_roles(session, roles):
        if path != BANK_WIDE_PATH and d.permissions & BANK_WIDE_ONLY:
            raise InvalidInputError(
                f"role {d.name!r} grants {sorted(d.permissions & BANK_WIDE_ONLY)}, "
                "which only head-office (/HO/) users may hold",
                where="roles",
            )


def _set_roles(session: Session, user: User, roles: list[str]) -> None:
    session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    for name in sorted(set(roles)):
        session.add(UserRole(user_id=user.id, role=name))


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}", where="user_id")
    return user


def by_username(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def create_user(
    *, session: Session, actor: Principal, body: UserCreate, ip: str | None = None
) -> UserPublic:
    if by_username(session, body.username) is not None:
        raise ConflictError(f"user {body.username!r} exists", where="username")
    path = org_path(session, body.org_id)
    _check_roles_fit(session, body.roles, path)
    if body.password is not None:
        check_policy(body.password, username=body.username)
    user = User(
        username=body.username,
        display_name=body.display_name,
        password_hash=hash_password(body.password) if body.password else None,
        org_id=body.org_id,
        org_path=path,
        rm_id=body.rm_id,
        is_active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    _set_roles(session, user, body.roles)
    session.flush()
    out = public(session, user)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.username,
        ip=ip,
        after=out.model_dump(mode="json"),
    )
    return out


def update_user(
    *, session: Session, actor: Principal, user_id: int, body: UserUpdate, ip: str | None = None
) -> UserPublic:
    user = get_user(session, user_id=user_id)
    before = public(session, user).model_dump(mode="json")
    if body.org_id is not None:
        user.org_path = org_path(session, body.org_id)
        user.org_id = body.org_id
    roles = body.roles if body.roles is not None else roles_of(session, user.id)
    _check_roles_fit(session, roles, user.org_path)
    if body.roles is not None:
        _set_roles(session, user, body.roles)
    if body.display_name is not None:
        user.display_name = body.display_name
    if "rm_id" in body.model_fields_set:
        user.rm_id = body.rm_id
    if body.is_active is not None:
        user.is_active = body.is_active
        if body.is_active:
            user.failed_logins, user.locked_until = 0, None
    if body.password is not None:
        check_policy(body.password, username=user.username)
        user.password_hash = hash_password(body.password)
    session.flush()
    from opsloop.access.credentials import forget_tokens  # credentials imports this module

    forget_tokens()  # roles, scope or activity changed: re-verify this user's tokens
    out = public(session, user)
    after = out.model_dump(mode="json") | {"password_changed": body.password is not None}
    audit.record(
        session,
        actor=actor,
        action="user.update",
        target_type="user",
        target_id=user.username,
        ip=ip,
        before=before,
        after=after,
    )
    return out


def list_users(*, session: Session, offset: int = 0, limit: int = 100) -> list[UserPublic]:
    rows = session.execute(select(User).order_by(User.id).offset(offset).limit(limit)).scalars()
    return [public(session, u) for u in rows]


def authenticate(
    *,
    session: Session,
    username: str,
    password: str,
    settings: AccessSettings,
    ip: str | None = None,
    now: datetime | None = None,
) -> User | UnauthenticatedError:
    """Check a password; lock the account after ``lockout_failures`` failures in a row.

    A failure is *returned*, not raised, so the caller commits the failure count, the
    lock and the audit row before refusing (raising would roll them back).
    """
    now = now or utcnow()
    user = by_username(session, username)
    if user is None or user.password_hash is None:
        verify_password(DUMMY_HASH, password)
        audit.record(session, actor=ANONYMOUS, action="auth.failed", target_id=username, ip=ip)
        return UnauthenticatedError("wrong username or password")
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        audit.record(session, actor=ANONYMOUS, action="auth.locked", target_id=username, ip=ip)
        return UnauthenticatedError("account locked after repeated failures; try again later")
    if not user.is_active or not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        after: dict[str, object] = {"failed_logins": user.failed_logins}
        if user.failed_logins >= settings.lockout_failures:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
            after["locked_until"] = user.locked_until.isoformat()
        audit.record(
            session, actor=ANONYMOUS, action="auth.failed", target_id=username, ip=ip, after=after
        )
        return UnauthenticatedError("wrong username or password")
    user.failed_logins, user.locked_until = 0, None
    return user
