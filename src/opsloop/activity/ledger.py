"""The benefit ledger: issue → (claim) → redeem / expire / revoke, append-only.

Every change to a unit is one ``activity_ledger`` row; ``activity_units`` holds the
unit's current status and changes only by guarded updates (``WHERE status IN …``), so
a unit is redeemed at most once whatever the concurrency. Balances (stock used, budget
spent, per-customer counts) are sums over the ledger (:func:`balances`,
:func:`derived_counters`); :func:`reconcile` compares them with the live counters.
Idempotency keys are unique ledger columns: a retried call returns the first result.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsloop.access.clock import as_utc
from opsloop.activity.benefits import BenefitDef
from opsloop.activity.counters import Counters, charges_for
from opsloop.activity.models import BenefitUnit, LedgerEntry
from opsloop.errors import ConflictError, NotFoundError
from opsloop.store import Store

LIVE = ("issued", "claimed")
REDEEMABLE_KINDS = ("coupon_fixed", "coupon_discount", "cashback", "rate_coupon")


@dataclass(frozen=True)
class Issued:
    unit_id: str
    value_cents: int
    duplicate: bool = False


def _entry(unit: BenefitUnit, kind: str, now: datetime, idem_key: str | None) -> LedgerEntry:
    return LedgerEntry(
        unit_id=unit.unit_id,
        benefit_id=unit.benefit_id,
        activity_id=unit.activity_id,
        customer_id=unit.customer_id,
        kind=kind,
        value_cents=unit.value_cents,
        issued_on=as_utc(unit.issued_at).date().isoformat(),
        idem_key=idem_key,
        at=now,
    )


def _by_key(session: Session, idem_key: str) -> LedgerEntry | None:
    return session.execute(
        select(LedgerEntry).where(LedgerEntry.idem_key == idem_key)
    ).scalar_one_or_none()


def issue(
    store: Store,
    *,
    counters: Counters,
    benefit: BenefitDef,
    activity_id: str,
    customer_id: int,
    now: datetime,
    idem_key: str,
    activity_budget_cents: int | None = None,
    fresh_key: bool = False,
    also: Callable[[str], Sequence[object]] | None = None,
) -> Issued:
    """Issue one unit, charging every cap atomically with its ledger entry.

    ``fresh_key``: the key was just generated (no client retry can carry it), so the
    lookup of an earlier issue is skipped — a coupon grab then costs no SQL read, and a
    refused one no SQL at all on the Redis path. ``also(unit_id)`` returns rows written
    in the same transaction (the participation record).

    Raises:
        ExhaustedError: a stock, budget or per-customer cap is reached (nothing changed).
    """
    day = now.date().isoformat()
    charges = charges_for(
        benefit,
        activity_id=activity_id,
        customer_id=customer_id,
        day=day,
        activity_budget_cents=activity_budget_cents,
    )
    if not fresh_key:
        with store.session() as s:
            found = _by_key(s, idem_key)
            if found is not None:
                return Issued(found.unit_id, found.value_cents, duplicate=True)
    charged = False
    try:
        with store.session() as s:
            counters.charge(s, charges)
            charged = True
            unit = BenefitUnit(
                unit_id=uuid.uuid4().hex,
                benefit_id=benefit.id,
                kind=benefit.value.kind,
                activity_id=activity_id,
                customer_id=customer_id,
                status="issued",
                value_cents=benefit.unit_cost_cents,
                threshold_cents=benefit.threshold_cents,
                issued_at=now,
                expires_at=benefit.validity.expires_at(now),
            )
            s.add(unit)
            s.add(_entry(unit, "issue", now, idem_key))
            if also is not None:
                s.add_all(also(unit.unit_id))
        return Issued(unit.unit_id, unit.value_cents)
    except IntegrityError:
        if charged and not counters.transactional:
            counters.release(charges)
        with store.session() as s:  # a concurrent retry with the same key won
            found = _by_key(s, idem_key)
        if found is None:
            raise
        return Issued(found.unit_id, found.value_cents, duplicate=True)
    except BaseException:
        if charged and not counters.transactional:
            counters.release(charges)
        raise


def _transition(
    session: Session,
    *,
    unit_id: str,
    to: str,
    kind: str,
    now: datetime,
    idem_key: str | None,
) -> BenefitUnit:
    res = session.execute(
        update(BenefitUnit)
        .where(BenefitUnit.unit_id == unit_id, BenefitUnit.status.in_(LIVE))
        .values(status=to)
    )
    unit = session.get(BenefitUnit, unit_id)
    if unit is None:
        raise NotFoundError(f"no unit {unit_id}", where="unit_id")
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(f"unit is {unit.status}, cannot be {to}", where="unit_id")
    session.refresh(unit)
    session.add(_entry(unit, kind, now, idem_key))
    return unit


def redeem(
    session: Session,
    *,
    unit_id: str,
    customer_id: int,
    now: datetime,
    idem_key: str,
    order_cents: int | None = None,
) -> LedgerEntry:
    """Redeem a live, unexpired unit of this customer once (a retry returns the same entry)."""
    found = _by_key(session, idem_key)
    if found is not None:
        if found.unit_id != unit_id:
            raise ConflictError("idempotency key used for another unit", where="idempotency_key")
        return found
    unit = session.get(BenefitUnit, unit_id)
    if unit is None or unit.customer_id != customer_id:
        raise NotFoundError(f"no unit {unit_id} for this customer", where="unit_id")
    if as_utc(unit.expires_at) <= now:
        raise ConflictError("unit has expired", where="unit_id")
    if order_cents is not None and order_cents < unit.threshold_cents:
        raise ConflictError("order below the coupon's threshold", where="order_cents")
    _transition(session, unit_id=unit_id, to="redeemed", kind="redeem", now=now, idem_key=idem_key)
    entry = _by_key(session, idem_key)
    assert entry is not None
    return entry


def redeem_by_transaction(
    session: Session, *, customer_id: int, amount_cents: int, txn_id: str, now: datetime
) -> LedgerEntry | None:
    """A qualifying transaction (e.g. fund purchase ≥ threshold) redeems the best coupon.

    The transaction id is the idempotency key: a replayed event redeems nothing new.
    """
    key = f"txn:{txn_id}"
    found = _by_key(session, key)
    if found is not None:
        return found
    unit = session.execute(
        select(BenefitUnit)
        .where(
            BenefitUnit.customer_id == customer_id,
            BenefitUnit.status.in_(LIVE),
            BenefitUnit.kind.in_(REDEEMABLE_KINDS),
            BenefitUnit.threshold_cents <= amount_cents,
            BenefitUnit.expires_at > now,
        )
        .order_by(BenefitUnit.value_cents.desc(), BenefitUnit.expires_at)
        .limit(1)
    ).scalar_one_or_none()
    if unit is None:
        return None
    return redeem(
        session,
        unit_id=unit.unit_id,
        customer_id=customer_id,
        now=now,
        idem_key=key,
        order_cents=amount_cents,
    )


def claim(session: Session, *, unit_id: str, now: datetime) -> BenefitUnit:
    res = session.execute(
        update(BenefitUnit)
        .where(BenefitUnit.unit_id == unit_id, BenefitUnit.status == "issued")
        .values(status="claimed")
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("only an issued unit can be claimed", where="unit_id")
    unit = session.get(BenefitUnit, unit_id)
    assert unit is not None
    session.refresh(unit)
    session.add(_entry(unit, "claim", now, None))
    return unit


def expire_due(session: Session, *, now: datetime, limit: int = 10_000) -> int:
    """Expire up to ``limit`` live units past their date; returns how many.

    Each expiry is a guarded status change plus an entry keyed ``expire:<unit>``, so a
    rerun, or two expirers racing, never writes a unit's expiry twice.
    """
    ids = session.execute(
        select(BenefitUnit.unit_id)
        .where(BenefitUnit.status.in_(LIVE), BenefitUnit.expires_at <= now)
        .limit(limit)
    ).scalars()
    n = 0
    for unit_id in list(ids):
        try:
            _transition(
                session,
                unit_id=unit_id,
                to="expired",
                kind="expire",
                now=now,
                idem_key=f"expire:{unit_id}",
            )
            n += 1
        except ConflictError:
            continue  # redeemed concurrently
    return n


def revoke(
    store: Store,
    *,
    counters: Counters,
    benefit: BenefitDef,
    unit_id: str,
    now: datetime,
    activity_budget_cents: int | None = None,
) -> BenefitUnit:
    """Take back a live unit (fraud, error) and give its stock and budget back."""
    with store.session() as s:
        unit = _transition(s, unit_id=unit_id, to="revoked", kind="revoke", now=now, idem_key=None)
        charges = charges_for(
            benefit,
            activity_id=unit.activity_id,
            customer_id=unit.customer_id,
            day=as_utc(unit.issued_at).date().isoformat(),
            activity_budget_cents=activity_budget_cents,
        )
        if counters.transactional:
            counters.refund(s, charges)
    if not counters.transactional:
        counters.release(charges)
    return unit


@dataclass(frozen=True)
class Balance:
    issued: int
    redeemed: int
    expired: int
    revoked: int
    stock_used: int
    budget_used_cents: int
    redeemed_cents: int


def balances(
    session: Session, *, benefit_id: str | None = None, activity_id: str | None = None
) -> Balance:
    """Counts and money by entry kind, summed from the ledger."""
    q = select(LedgerEntry.kind, func.count(), func.coalesce(func.sum(LedgerEntry.value_cents), 0))
    if benefit_id is not None:
        q = q.where(LedgerEntry.benefit_id == benefit_id)
    if activity_id is not None:
        q = q.where(LedgerEntry.activity_id == activity_id)
    got = {k: (int(n), int(v)) for k, n, v in session.execute(q.group_by(LedgerEntry.kind))}
    zero = (0, 0)
    issued, revoked = got.get("issue", zero), got.get("revoke", zero)
    return Balance(
        issued=issued[0],
        redeemed=got.get("redeem", zero)[0],
        expired=got.get("expire", zero)[0],
        revoked=revoked[0],
        stock_used=issued[0] - revoked[0],
        budget_used_cents=issued[1] - revoked[1],
        redeemed_cents=got.get("redeem", zero)[1],
    )


def derived_counters(session: Session, scope: str) -> dict[str, int]:
    """The value every counter of ``scope`` (``b/<id>`` or ``a/<id>``) must have."""
    kind, ident = scope.split("/", 1)
    sign = case((LedgerEntry.kind == "issue", 1), (LedgerEntry.kind == "revoke", -1), else_=0)
    col = LedgerEntry.benefit_id if kind == "b" else LedgerEntry.activity_id
    rows = session.execute(
        select(
            LedgerEntry.activity_id,
            LedgerEntry.customer_id,
            LedgerEntry.issued_on,
            func.sum(sign),
            func.sum(sign * LedgerEntry.value_cents),
        )
        .where(col == ident, LedgerEntry.kind.in_(("issue", "revoke")))
        .group_by(LedgerEntry.activity_id, LedgerEntry.customer_id, LedgerEntry.issued_on)
    ).all()
    out: dict[str, int] = defaultdict(int)
    for aid, cid, day, n, value in rows:
        n, value = int(n), int(value)
        if kind == "a":
            out[f"{scope}/budget"] += value
            continue
        out[f"{scope}/stock"] += n
        out[f"{scope}/budget"] += value
        out[f"{scope}/d/{day}"] += n
        out[f"{scope}/c/{cid}"] += n
        out[f"{scope}/c/{cid}/d/{day}"] += n
        out[f"{scope}/a/{aid}/c/{cid}"] += n
    return dict(out)


@dataclass(frozen=True)
class Mismatch:
    key: str
    ledger: int
    counter: int


def reconcile(
    session: Session, *, counters: Counters, scope: str, repair: bool = False
) -> list[Mismatch]:
    """Counters that disagree with the ledger; with ``repair`` set them to the ledger."""
    truth = derived_counters(session, scope)
    live = counters.read_scope(session, scope)
    keys = set(live) | (set(truth) if not counters.transactional else set())
    bad = [
        Mismatch(k, truth.get(k, 0), live.get(k, 0))
        for k in sorted(keys)
        if truth.get(k, 0) != live.get(k, 0)
    ]
    if repair and bad:
        counters.overwrite(session, {m.key: m.ledger for m in bad})
    return bad
