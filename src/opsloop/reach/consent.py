"""Consent overrides: a customer's own opt-out acts at once, before any warehouse load.

The warehouse's ``customers.consent_*``/``dnd`` columns are loaded in batches; an
unsubscribe clicked a minute ago must already stop the next message. So the Reach
center keeps ``reach_consent`` (customer, channel or ``*``, allowed, source, at) in the
operational store: the dispatcher suppresses any message it forbids, and the Strategy
center's contact policy reads :func:`blocked` before it enqueues.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, any_, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from opsloop.reach.models import ConsentOverride

ALL = "*"
_IDS = ARRAY(BigInteger)


def set_consent(
    session: Session, *, customer_id: int, channel: str, allowed: bool, source: str, now: datetime
) -> None:
    """Upsert the customer's latest choice for ``channel`` (``*`` = every channel)."""
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = ins(ConsentOverride).values(
        customer_id=customer_id, channel=channel, allowed=allowed, source=source, at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["customer_id", "channel"],
            set_={"allowed": allowed, "source": source, "at": now},
        )
    )


def blocked(session: Session, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (customer, channel) pairs an override forbids (channel-specific or ``*``)."""
    wanted = set(pairs)
    if not wanted:
        return set()
    out: dict[tuple[int, str], bool] = {}
    if session.get_bind().dialect.name == "postgresql":
        # one array parameter: a tuple IN of 1,000 pairs cost more to build and parse
        # than the dispatcher's whole send (profiled), and overrides are few
        ids = sorted({c for c, _ in wanted})
        rows = session.execute(
            select(
                ConsentOverride.customer_id, ConsentOverride.channel, ConsentOverride.allowed
            ).where(ConsentOverride.customer_id == any_(bindparam("ids", ids, type_=_IDS)))
        ).all()
        out = {(r.customer_id, r.channel): r.allowed for r in rows}
        return {
            (c, ch) for c, ch in wanted if out.get((c, ch)) is False or out.get((c, ALL)) is False
        }
    keys = {(c, ch) for c, ch in wanted} | {(c, ALL) for c, _ in wanted}
    key_list = list(keys)
    for start in range(0, len(key_list), 500):
        chunk = key_list[start : start + 500]
        rows = session.execute(
            select(
                ConsentOverride.customer_id, ConsentOverride.channel, ConsentOverride.allowed
            ).where(tuple_(ConsentOverride.customer_id, ConsentOverride.channel).in_(chunk))
        ).all()
        out |= {(r.customer_id, r.channel): r.allowed for r in rows}
    return {(c, ch) for c, ch in wanted if out.get((c, ch)) is False or out.get((c, ALL)) is False}
