"""Money: accounts, month-end balances (AUM) and transactions of one chunk.

Balances follow the life-cycle stage (growing customers save, declining ones move
money out), and transactions carry the seasonality of Chinese retail banking:
salary credits at month end, spending peaks at Spring Festival and National Day.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from opsloop.synth import vocab
from opsloop.synth.population import CHURNED, Population

# Per stage (new, growing, mature, declining, dormant, churned-month).
ACTIVITY = np.array([0.9, 1.2, 1.0, 0.5, 0.12, 0.05])
DRIFT = np.array([0.05, 0.03, 0.003, -0.12, -0.03, -6.0])
KINDS = ("salary", "purchase", "transfer_in", "transfer_out", "fund_buy", "fund_redeem",
         "loan_repay", "atm_withdrawal")  # fmt: skip
_DIR_IN = np.array([1, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
TXN_CHANNELS = ("app", "counter", "atm", "pos", "online", "standing_order")
ACCOUNT_SLOTS = 32  # account_id = customer_id * 32 + product index
_SPRING_FESTIVAL = {2024: 2, 2025: 1, 2026: 2, 2027: 2, 2028: 1, 2029: 2, 2030: 2}


def season(month_starts: np.ndarray) -> np.ndarray:
    """Spending multiplier per month: Spring Festival, National Day, Double 11."""
    year = month_starts.astype("datetime64[Y]").astype(np.int64) + 1970
    moy = month_starts.astype("datetime64[M]").astype(np.int64) % 12 + 1
    sf = np.array([_SPRING_FESTIVAL.get(int(y), 2) for y in year])
    return np.where(moy == sf, 1.6, np.where(moy == 10, 1.4, np.where(moy == 11, 1.25, 1.0)))


def accounts(p: Population, churn_date: np.ndarray, start: np.datetime64) -> pa.Table:
    """One row per customer × held product; closed when the customer churned."""
    cust, prod = np.nonzero(p.holdings)
    n = len(cust)
    opened_c = p.opened_on[cust]
    # Products were taken up some time after the relationship began (never before).
    span = np.maximum((start.astype("datetime64[D]") - opened_c).astype(np.int64), 1)
    lag = (np.random.default_rng(int(p.customer_id[0])).random(n) * span * 0.7).astype(np.int64)
    lag = np.where(prod == 0, 0, lag)
    opened = opened_c + lag.astype("timedelta64[D]")
    closed = churn_date[cust]
    status = np.where(np.isnat(closed), "open", "closed").astype(object)
    category = np.array([pr[1] for pr in vocab.PRODUCTS])[prod]
    status = np.where(
        (category == "loan") & ((p.customer_id[cust] * 7919) % 53 == 0), "defaulted", status
    )
    principal = np.where(
        np.isin(category, ["loan", "deposit", "wealth", "insurance"]) & (prod != 0),
        np.round(
            np.maximum(p.aum0[cust], 1000) * 0.3 + 0.2 * (category == "loan") * p.income[cust] * 60,
            2,
        ),
        np.nan,
    )
    return pa.table(
        {
            "account_id": pa.array(p.customer_id[cust] * ACCOUNT_SLOTS + prod, pa.int64()),
            "customer_id": pa.array(p.customer_id[cust], pa.int64()),
            "product_id": pa.array(
                np.array([pr[0] for pr in vocab.PRODUCTS], dtype=object)[prod], pa.string()
            ),
            "opened_on": pa.array(opened, pa.date32()),
            "closed_on": pa.array(closed, pa.date32()),
            "status": pa.array(status, pa.string()),
            "principal": pa.array(principal, pa.float64(), from_pandas=True),
        }
    )


def balances(
    r: np.random.Generator, p: Population, month_ends: np.ndarray
) -> tuple[pa.Table, np.ndarray]:
    """Month-end AUM rows for every month a customer existed; returns (table, aum n×M)."""
    n, months = p.stage.shape
    st = p.stage
    shock = r.normal(0, 0.06, (n, months))
    drift = np.where(st >= 0, DRIFT[np.maximum(st, 0)], 0.0) + shock
    aum = p.aum0[:, None] * np.exp(np.cumsum(drift, axis=1))
    churn_now = st == CHURNED
    aum = np.where(churn_now, np.round(r.random((n, months)) * 50, 2), aum)
    h = p.holdings
    cat = np.array([pr[1] for pr in vocab.PRODUCTS])
    has_wm = h[:, (cat == "wealth") | (cat == "fund")].any(axis=1)
    has_ins = h[
        :, (cat == "insurance") & (np.arange(len(cat)) != vocab.PRODUCT_INDEX["INS-HEALTH"])
    ].any(axis=1)
    wm_share = np.where(has_wm, r.beta(2, 3, n), 0.0)
    ins_share = np.where(has_ins, r.beta(1, 6, n), 0.0)
    dep_share = np.maximum(1 - wm_share - ins_share, 0.0)
    mortgage = h[:, vocab.PRODUCT_INDEX["LN-MORTGAGE"]] * p.income * r.uniform(40, 120, n)
    consumer = h[:, vocab.PRODUCT_INDEX["LN-CONSUMER"]] * p.income * r.uniform(1, 6, n)
    card = h[:, vocab.PRODUCT_INDEX["CARD-CREDIT"]] * np.exp(r.normal(7.5, 1.0, n))
    k = np.arange(months)
    loan = mortgage[:, None] * (1 - k / 300) + consumer[:, None] * np.clip(1 - k / 24, 0, 1)
    loan = loan + card[:, None] * ACTIVITY[np.maximum(st, 0)]
    exists = (st >= 0) & ~(churn_now & np.roll(churn_now, 1, axis=1) & (k > 0))
    ci, mi = np.nonzero(exists)
    a = np.round(aum[ci, mi], 2)
    dep = np.round(a * dep_share[ci], 2)
    wm = np.round(a * wm_share[ci], 2)
    ins = np.round(a - dep - wm, 2)
    table = pa.table(
        {
            "customer_id": pa.array(p.customer_id[ci], pa.int64()),
            "month": pa.array(month_ends[mi], pa.date32()),
            "deposit_balance": dep,
            "wealth_balance": wm,
            "insurance_value": ins,
            "aum": a,
            "loan_balance": np.round(np.where(churn_now[ci, mi], 0.0, loan[ci, mi]), 2),
        }
    )
    return table, aum


def transactions(
    r: np.random.Generator,
    p: Population,
    aum: np.ndarray,
    month_starts: np.ndarray,
    month_days: np.ndarray,
) -> pa.Table:
    """Poisson counts per customer-month and kind, expanded and sorted by time."""
    st = p.stage
    act = np.where(st >= 0, ACTIVITY[np.maximum(st, 0)], 0.0)
    seas = season(month_starts)[None, :]
    h = p.holdings
    cat = np.array([pr[1] for pr in vocab.PRODUCTS])
    fund_cols = np.isin(cat, ["fund", "wealth"])
    has_fund: np.ndarray = np.asarray(h[:, fund_cols].any(axis=1))[:, None]
    has_loan: np.ndarray = np.asarray(h[:, np.isin(cat, ["loan"])].any(axis=1))[:, None]
    live = (st >= 0) & (st != CHURNED)
    declining = st == 3
    lam = np.stack(
        [
            (p.payroll[:, None] & live & (st != 4)).astype(float),  # salary: one a month
            0.6 * act * seas,
            0.2 * act,
            0.25 * act + 0.9 * declining + (st == CHURNED),  # outflows before leaving
            0.3 * act * has_fund,
            0.15 * act * has_fund + 0.5 * declining * has_fund,
            (has_loan & live).astype(float),
            0.15 * act * (p.age[:, None] > 45),
        ]
    )  # kinds × n × months
    fixed = np.zeros(len(KINDS), dtype=bool)
    fixed[[0, 6]] = True
    counts = np.where(fixed[:, None, None], lam, 0).astype(np.int64)
    counts = np.where(
        fixed[:, None, None], counts, r.poisson(np.where(fixed[:, None, None], 0, lam))
    )
    kind, ci, mi = np.nonzero(counts)
    reps = counts[kind, ci, mi]
    kind, ci, mi = (np.repeat(x, reps) for x in (kind, ci, mi))
    t = len(kind)
    days = month_days[mi]
    day = (r.random(t) * days).astype(np.int64)
    day = np.where(kind == 0, np.minimum(24 + r.integers(0, 5, t), days - 1), day)  # month-end pay
    day = np.where(kind == 6, 9 + r.integers(0, 10, t), day)
    golden = (season(month_starts)[mi] == 1.4) & (kind == 1) & (r.random(t) < 0.4)
    day = np.where(golden, r.integers(0, 7, t), day)  # National Day golden week
    secs = (7 * 3600 + r.gamma(4.0, 1.0, t) * 3.5 * 3600).astype(np.int64) % 86400
    ts = month_starts[mi].astype("datetime64[s]") + (day * 86400 + secs).astype("timedelta64[s]")
    bal = np.maximum(aum[ci, mi], 100.0)
    sal_bonus = np.where(season(month_starts)[mi] == 1.6, 2.5, 1.0)
    amount = np.select(
        [kind == 0, kind == 1, kind == 5, kind == 3, kind == 4, kind == 6],
        [
            p.income[ci] * r.uniform(0.95, 1.05, t) * sal_bonus,
            np.exp(r.normal(4.8, 1.1, t)),
            bal * r.uniform(0.05, 0.5, t),
            np.where(st[ci, mi] >= 3, bal * r.uniform(0.15, 0.6, t), np.exp(r.normal(7.6, 1.2, t))),
            np.minimum(np.exp(r.normal(9.0, 1.0, t)), bal),
            p.income[ci] * r.uniform(0.2, 0.45, t),
        ],
        np.exp(r.normal(7.0, 1.0, t)),
    )
    chan = np.select(
        [kind == 0, kind == 6, kind == 7, kind == 1],
        [5, 5, 2, np.where(r.random(t) < 0.55, 3, 4)],
        np.where(p.app_user[ci] & (r.random(t) < 0.8), 0, 1),
    )
    order = np.argsort(ci.astype(np.int64) * (1 << 40) + ts.astype(np.int64), kind="stable")
    kind, ci, ts, amount, chan = kind[order], ci[order], ts[order], amount[order], chan[order]
    first = np.searchsorted(ci, ci, side="left")
    seq = np.arange(t) - first
    cid = p.customer_id[ci]
    prod = np.where(
        (kind == 4) | (kind == 5),
        np.argmax(h[:, (cat == "fund") | (cat == "wealth")], axis=1)[ci]
        + vocab.PRODUCT_INDEX["WM-CASH"],
        np.where(
            kind == 6,
            np.argmax(h[:, cat == "loan"], axis=1)[ci] + vocab.PRODUCT_INDEX["LN-MORTGAGE"],
            0,
        ),
    )
    return pa.table(
        {
            "txn_id": pa.array(cid * 10_000 + seq, pa.int64()),
            "customer_id": pa.array(cid, pa.int64()),
            "account_id": pa.array(cid * ACCOUNT_SLOTS + prod, pa.int64()),
            "ts": pa.array(ts, pa.timestamp("us")),
            "amount": np.round(amount, 2),
            "direction": pa.array(["out", "in"]).take(_DIR_IN[kind].astype(np.int64)),
            "kind": pa.array(list(KINDS)).take(kind),
            "channel": pa.array(list(TXN_CHANNELS)).take(chan),
            "balance_after": pa.nulls(t, pa.float64()),
        }
    )
