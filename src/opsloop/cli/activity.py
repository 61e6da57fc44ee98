"""`opsloop activity ...`: create, approve (maker-checker), list, stats, expire.

Lifecycle commands act as a named staff user (``--as``), with that user's real
permissions, so maker-checker holds on the command line too: the user who submitted
cannot approve. Every change is audited by the service it calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.cli.output import console, print_json
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.settings import get_settings
from opsloop.store import Store

app = typer.Typer(help="Activities (活动中心): create, approve, list, stats, expire.")

AsUser = Annotated[str, typer.Option("--as", help="the staff user acting (maker or checker)")]
IdArg = Annotated[str, typer.Argument(help="activity id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@contextmanager
def _store() -> Iterator[Store]:
    settings = get_settings()
    settings.ensure_home()
    store = Store.open(settings.database_url)
    try:
        yield store
    finally:
        store.close()


def _principal(store: Store, username: str) -> Principal:
    from opsloop.access.users import by_username, principal_for

    with store.session() as s:
        user = by_username(s, username)
        if user is None or not user.is_active:
            raise NotFoundError(f"no active user {username!r}", where="--as")
        return principal_for(s, user)


def _show(body: Any, as_json: bool) -> None:
    if as_json:
        print_json(body)
        return
    rows = body if isinstance(body, list) else [body]
    for r in rows:
        if "status" in r and "template" in r:
            console.print(f"{r['id']}  {r['status']:<10} {r['template']:<12} {r['name']}")
        else:
            console.print(r)


@app.command("create")
def create_cmd(
    file: Annotated[Path, typer.Argument(help="activity document (JSON)", exists=True)],
    user: AsUser,
    as_json: JsonOpt = False,
) -> None:
    """Create a draft activity from FILE (errors name the field)."""
    try:
        doc = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(file)) from None
    from opsloop.activity import service

    with _store() as store:
        _show(service.create_activity(store=store, actor=_principal(store, user), doc=doc), as_json)


def _transition_cmd(action: str) -> None:
    def cmd(activity_id: IdArg, user: AsUser, as_json: JsonOpt = False) -> None:
        from opsloop.activity import service

        with _store() as store:
            actor = _principal(store, user)
            out = service.transition(
                store=store, actor=actor, activity_id=activity_id, action=action
            )
            _show(out, as_json)

    cmd.__doc__ = f"{action.capitalize()} an activity (maker-checker; audited)."
    app.command(action)(cmd)


for _action in ("submit", "approve", "reject", "start", "pause", "finish"):
    _transition_cmd(_action)


@app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="only activities in this status")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Activities, newest first."""
    from opsloop.activity import service

    with _store() as store:
        _show(service.list_activities(store=store, status=status), as_json)


@app.command("stats")
def stats_cmd(activity_id: IdArg) -> None:
    """Participants, issued cost, redeemed value, expiries, risk decisions (JSON)."""
    from opsloop.activity import service

    with _store() as store:
        print_json(service.stats(store=store, activity_id=activity_id))


@app.command("expire")
def expire_cmd(
    now: Annotated[str | None, typer.Option(help="ISO time to expire at; default: now")] = None,
) -> None:
    """Expire every unit whose validity has ended (idempotent; run it on a schedule)."""
    from opsloop.activity import service

    at = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    with _store() as store:
        n = service.expire_due(store=store, now=at, actor=LOCAL_OPERATOR)
    print_json({"expired": n, "at": at.isoformat()})
