"""``opsloop user|token|audit|security``: bootstrap and operate access control.

These commands work on the operational store directly (they are how the first admin
is created, before anyone can sign in); each change is audited as ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import pyarrow as pa
import typer

from opsloop.access import audit, credentials, users
from opsloop.access.principal import Principal
from opsloop.access.schemas import TokenCreate, UserCreate, UserUpdate
from opsloop.cli.output import Format, console, print_arrow, print_json
from opsloop.errors import NotFoundError
from opsloop.settings import get_settings
from opsloop.store import Store

user_app = typer.Typer(help="Staff users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for systems.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
security_app = typer.Typer(help="Security documentation.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach the access command groups to the main CLI."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
    app.add_typer(security_app, name="security")


def _actor() -> Principal:
    return Principal(id=f"cli:{getpass.getuser()}", kind="cli", permissions=frozenset({"*"}))


def _store() -> Store:
    settings = get_settings()
    settings.ensure_home()
    return Store.open(settings.database_url)


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[list[str], typer.Option("--role", help="role (repeatable)")],
    org: Annotated[str, typer.Option("--org", help="org unit id, e.g. HO or B07S03")] = "HO",
    rm_id: Annotated[str | None, typer.Option("--rm-id", help="the user's RM id")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Create a staff user (password from the prompt, or one line on stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    body = UserCreate(username=username, password=password, org_id=org, rm_id=rm_id, roles=role)
    store = _store()
    try:
        with store.session() as s:
            out = users.create_user(session=s, actor=_actor(), body=body)
    finally:
        store.close()
    console.print(f"user {out.username} ({', '.join(out.roles)}) in {out.org_path}")


@user_app.command("list")
def user_list(
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="table | csv | json")
    ] = Format.table,
) -> None:
    """List staff users."""
    store = _store()
    try:
        with store.session() as s:
            rows = [
                {
                    "id": u.id,
                    "username": u.username,
                    "org_path": u.org_path,
                    "roles": ",".join(u.roles),
                    "active": u.is_active,
                }
                for u in users.list_users(session=s, limit=100_000)
            ]
    finally:
        store.close()
    columns = ["id", "username", "org_path", "roles", "active"]
    table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in columns})
    print_arrow(table, fmt)


@user_app.command("grant")
def user_grant(username: str, roles: Annotated[list[str], typer.Argument()]) -> None:
    """Add roles to a user."""
    store = _store()
    try:
        with store.session() as s:
            user = users.by_username(s, username)
            if user is None:
                raise NotFoundError(f"no user {username!r}", where="username")
            merged = sorted(set(users.roles_of(s, user.id)) | set(roles))
            users.update_user(
                session=s, actor=_actor(), user_id=user.id, body=UserUpdate(roles=merged)
            )
    finally:
        store.close()
    console.print(f"{username}: {', '.join(merged)}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="owner")],
    scope: Annotated[list[str], typer.Option("--scope", help="permission (repeatable)")],
    name: Annotated[str, typer.Option("--name")] = "cli",
    days: Annotated[int, typer.Option("--days", help="expires after")] = 90,
) -> None:
    """Create an API token; the secret is printed once."""
    body = TokenCreate(name=name, username=user, scopes=scope, expires_in_days=days)
    store = _store()
    try:
        with store.session() as s:
            out = credentials.create_token(session=s, actor=_actor(), body=body)
    finally:
        store.close()
    console.print(f"token {out.id} expires {out.expires_at:%Y-%m-%d}")
    typer.echo(out.token)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke an API token by id."""
    store = _store()
    try:
        with store.session() as s:
            credentials.revoke_token(session=s, actor=_actor(), token_id=token_id)
    finally:
        store.close()
    console.print(f"token {token_id} revoked")


@audit_app.command("verify")
def audit_verify(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table | json")] = Format.table,
) -> None:
    """Recompute the audit hash chain; exit 1 naming the first broken row."""
    store = _store()
    try:
        with store.session() as s:
            v = audit.verify(s)
    finally:
        store.close()
    if fmt is Format.json:
        print_json({"ok": v.ok, "checked": v.checked, "broken_id": v.broken_id, "reason": v.reason})
        if not v.ok:
            raise typer.Exit(1)
        return
    if v.ok:
        console.print(f"audit chain intact ({v.checked} rows)")
        return
    console.print(f"[red]audit chain broken at row {v.broken_id}[/red]: {v.reason}")
    raise typer.Exit(1)


@audit_app.command("prune")
def audit_prune(
    days: Annotated[int | None, typer.Option(help="keep this many days (default: setting)")] = None,
) -> None:
    """Delete entries past retention, leaving an anchor so the chain still verifies."""
    from opsloop.access.config import AccessSettings

    keep = days if days is not None else AccessSettings().audit_retention_days
    if keep is None:
        console.print("no retention configured (OPSLOOP_AUDIT_RETENTION_DAYS); nothing pruned")
        return
    store = _store()
    try:
        with store.session() as s:
            n = audit.prune(s, older_than_days=keep)
    finally:
        store.close()
    console.print(f"pruned {n} audit rows older than {keep} days")


@security_app.command("doc")
def security_doc(
    check: Annotated[bool, typer.Option(help="exit 1 if docs/security.md is stale")] = False,
) -> None:
    """Write docs/security.md from the route table, roles and settings."""
    from opsloop.api.security_doc import main as write_doc

    raise typer.Exit(write_doc(["--check"] if check else []))
