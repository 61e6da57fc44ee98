"""Identity stitching: which customer an anonymous (device) id belongs to.

Rules (also in docs/collection.md):

* A message carrying both ``anonymousId`` and ``userId`` (identify, or any call made
  after login) links that anonymous id to that user; ``alias`` links ``previousId`` to
  ``userId``.
* The first link of an anonymous id wins and is never moved: a shared device on which
  a second customer logs in later does not re-attribute the first one's history; the
  second customer's own events carry their ``userId`` and are attributed directly.
* An event's customer is its ``userId`` when present, else its anonymous id's link.
  A ``userId`` of decimal digits is the warehouse's ``customer_id``; any other user id
  stays unresolved (``customer_id`` null) but is kept in the link table.

The decisions (:func:`links_in`, :func:`resolve`) are pure; :func:`save_links` and
:func:`load_links` are the store edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opsloop.collect.models import IdentityLink
from opsloop.store import Store


@dataclass(frozen=True, slots=True)
class Link:
    anonymous_id: str
    user_id: str
    via: str


def links_in(messages: Iterable[Mapping[str, Any]]) -> list[Link]:
    """The links a sequence of messages asserts, first one per anonymous id, in order."""
    seen: dict[str, Link] = {}
    for m in messages:
        user = m.get("userId")
        anon = m.get("previousId") if m.get("type") == "alias" else m.get("anonymousId")
        if user and anon and str(anon) != str(user) and str(anon) not in seen:
            seen[str(anon)] = Link(str(anon), str(user), str(m.get("type", "track")))
    return list(seen.values())


def merge(known: Mapping[str, str], new: Iterable[Link]) -> dict[str, str]:
    """Known links plus new ones for anonymous ids not yet linked (first link wins)."""
    out = dict(known)
    for link in new:
        out.setdefault(link.anonymous_id, link.user_id)
    return out


def customer_id(user_id: str | None) -> int | None:
    """The warehouse customer id of a user id (decimal digits only, fits int64)."""
    if user_id and user_id.isascii() and user_id.isdigit() and len(user_id) <= 18:
        return int(user_id)
    return None


def resolve(message: Mapping[str, Any], links: Mapping[str, str]) -> str | None:
    """The user id an event belongs to, by the rules above."""
    user = message.get("userId")
    if user:
        return str(user)
    anon = message.get("anonymousId")
    return links.get(str(anon)) if anon else None


def save_links(store: Store, links: Iterable[Link]) -> None:
    """Insert links whose anonymous id is not linked yet (idempotent, race-safe)."""
    rows = [
        {
            "anonymous_id": x.anonymous_id,
            "user_id": x.user_id,
            "via": x.via,
            "linked_at": datetime.now(UTC),
        }
        for x in links
    ]
    if not rows:
        return
    with store.session() as s:
        dialect = s.get_bind().dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        # one statement compiled once, rows as parameters (executemany): a multi-row
        # VALUES built per batch cost ~10 ms per 1,000 rows in SQL compilation alone
        s.execute(ins(IdentityLink).on_conflict_do_nothing(), rows)


def load_links(store: Store, anonymous_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(anonymous_ids))
    out: dict[str, str] = {}
    with store.session() as s:
        for i in range(0, len(ids), 500):
            q = select(IdentityLink.anonymous_id, IdentityLink.user_id).where(
                IdentityLink.anonymous_id.in_(ids[i : i + 500])
            )
            out.update({a: u for a, u in s.execute(q)})
    return out
