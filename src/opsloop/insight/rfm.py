"""RFM scoring (RFM 模型): recency, frequency and monetary quintile scores, set-wise.

From the transactions in ``[end - last_days, end)`` (``end`` = midnight after
``as_of``), each customer with at least one gets three measures — the time of the last
transaction (later is better), how many, and their total amount — and a score 1..5 on
each: ``ceil(5 * k / n)`` where ``n`` customers are scored and ``k`` of them have a
measure ≤ theirs (ties share a score; the same rule as the segment ``rfm`` condition).
A score is *high* when it is at least ``high_from`` (default 4: above the middle
score 3), and the three high/low flags name one of the classic eight groups:

=====  =====  =====  ==============
R      F      M      segment
=====  =====  =====  ==============
high   high   high   重要价值客户
low    high   high   重要保持客户
high   low    high   重要发展客户
low    low    high   重要挽留客户
high   high   low    一般价值客户
low    high   low    一般保持客户
high   low    low    一般发展客户
low    low    low    一般挽留客户
=====  =====  =====  ==============

Everything is one Ibis expression (a group-by and three window ranks), never Python
per customer. Customers without a transaction in the window get no score.
"""

from __future__ import annotations

import datetime as dt

import ibis

from opsloop.insight.segments.compiler import window_end
from opsloop.insight.segments.model import TxnFilter

SEGMENTS: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "重要价值客户",
    (False, True, True): "重要保持客户",
    (True, False, True): "重要发展客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (False, True, False): "一般保持客户",
    (True, False, False): "一般发展客户",
    (False, False, False): "一般挽留客户",
}
MEASURES = ("recency", "frequency", "monetary")


def segment_label(r: int, f: int, m: int, *, high_from: int = 4) -> str:
    """The classic group of one customer's scores (the table in the module docstring)."""
    return SEGMENTS[(r >= high_from, f >= high_from, m >= high_from)]


def window_transactions(
    transactions: ibis.Table,
    *,
    as_of: dt.date | dt.datetime,
    last_days: int,
    where: TxnFilter = TxnFilter(),
) -> ibis.Table:
    """Transactions in ``[end - last_days, end)`` that pass the filter."""
    end = window_end(as_of)
    start = end - dt.timedelta(days=last_days)
    t = transactions
    t = t.filter(t.ts >= ibis.literal(start, "timestamp"), t.ts < ibis.literal(end, "timestamp"))
    if where.direction is not None:
        t = t.filter(t.direction == where.direction)
    if where.kinds:
        t = t.filter(t.kind.isin(list(where.kinds)))
    if where.channels:
        t = t.filter(t.channel.isin(list(where.channels)))
    return t


def rfm_scores(
    transactions: ibis.Table,
    *,
    as_of: dt.date | dt.datetime,
    last_days: int = 365,
    where: TxnFilter = TxnFilter(),
    high_from: int = 4,
) -> ibis.Table:
    """Per scored customer: ``customer_id, last_ts, frequency, monetary, r, f, m, segment``.

    Args:
        as_of: the last day of the window (inclusive).
        last_days: window length.
        where: which transactions count (direction, kinds, channels).
        high_from: a score at least this is "high" when naming the segment (1..5).
    """
    if not 1 <= high_from <= 5:
        raise ValueError("high_from must be 1..5")
    t = window_transactions(transactions, as_of=as_of, last_days=last_days, where=where)
    per = t.group_by("customer_id").aggregate(
        recency=t.ts.max(), frequency=t.count(), monetary=t.amount.sum()
    )
    n = per.count().as_scalar()
    # k = customers whose measure is <= mine = n - (customers strictly above me).
    scores = {
        s: ((5 * (n - ibis.rank().over(order_by=ibis.desc(per[m]))) + n - 1) // n).cast("int16")
        for s, m in zip("rfm", MEASURES, strict=True)
    }
    scored = per.mutate(**scores)
    high = [scored[s] >= high_from for s in "rfm"]
    label = ibis.cases(
        *[
            ((high[0] == r) & (high[1] == f) & (high[2] == m), name)
            for (r, f, m), name in SEGMENTS.items()
        ]
    )
    return scored.select(
        "customer_id",
        last_ts=scored.recency,
        frequency=scored.frequency,
        monetary=scored.monetary,
        r=scored.r,
        f=scored.f,
        m=scored.m,
        segment=label,
    )
