"""Roles: the built-in ones from code, custom ones from the store."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsloop.access import audit
from opsloop.access.models import CustomRole, RolePermission
from opsloop.access.permissions import BUILTIN_ROLES, RoleDef, unknown_permissions
from opsloop.access.principal import Principal
from opsloop.access.schemas import RoleCreate, RolePublic
from opsloop.errors import ConflictError, InvalidInputError


def role_def(session: Session, name: str) -> RoleDef | None:
    if name in BUILTIN_ROLES:
        return BUILTIN_ROLES[name]
    row = session.get(CustomRole, name)
    if row is None:
        return None
    perms = session.execute(
        select(RolePermission.permission).where(RolePermission.role == name)
    ).scalars()
    return RoleDef(name, row.description, frozenset(perms), row.own_customers_only, builtin=False)


def require_roles(session: Session, names: list[str]) -> list[RoleDef]:
    defs = []
    for i, name in enumerate(names):
        d = role_def(session, name)
        if d is None:
            raise InvalidInputError(f"unknown role {name!r}", where=f"roles[{i}]")
        defs.append(d)
    return defs


def _public(d: RoleDef) -> RolePublic:
    return RolePublic(
        name=d.name,
        description=d.description,
        permissions=sorted(d.permissions),
        own_customers_only=d.own_customers_only,
        builtin=d.builtin,
    )


def list_roles(*, session: Session) -> list[RolePublic]:
    custom = session.execute(select(CustomRole.name).order_by(CustomRole.name)).scalars()
    defs = [*BUILTIN_ROLES.values(), *(d for n in custom if (d := role_def(session, n)))]
    return [_public(d) for d in defs]


def create_role(
    *, session: Session, actor: Principal, body: RoleCreate, ip: str | None = None
) -> RolePublic:
    if body.name in BUILTIN_ROLES or session.get(CustomRole, body.name) is not None:
        raise ConflictError(f"role {body.name!r} exists", where="name")
    bad = unknown_permissions(set(body.permissions))
    if bad:
        raise InvalidInputError(f"unknown permissions {bad}", where="permissions")
    session.add(
        CustomRole(
            name=body.name,
            description=body.description,
            own_customers_only=body.own_customers_only,
        )
    )
    session.flush()
    for p in sorted(set(body.permissions)):
        session.add(RolePermission(role=body.name, permission=p))
    out = _public(
        RoleDef(
            body.name,
            body.description,
            frozenset(body.permissions),
            body.own_customers_only,
            builtin=False,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="role.create",
        target_type="role",
        target_id=body.name,
        ip=ip,
        after=out.model_dump(),
    )
    return out
