"""Customers of one chunk: demographics, hidden traits, holdings and the life cycle.

The hidden traits (wealth, digital engagement, churn risk) drive everything the
warehouse later shows, so the observable tables are correlated the way real ones are:
older, richer customers hold time deposits and insurance; young ones use the app.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opsloop.synth import vocab
from opsloop.synth.org import Bank

# Monthly Markov chain over STAGES (rows: from, cols: to). Churned is absorbing.
TRANSITIONS = np.array(
    [
        [0.70, 0.22, 0.00, 0.04, 0.03, 0.01],  # new
        [0.00, 0.85, 0.12, 0.02, 0.006, 0.004],  # growing
        [0.00, 0.03, 0.935, 0.03, 0.003, 0.002],  # mature
        [0.00, 0.04, 0.10, 0.70, 0.115, 0.045],  # declining
        [0.00, 0.01, 0.01, 0.05, 0.88, 0.05],  # dormant
        [0.00, 0.00, 0.00, 0.00, 0.00, 1.00],  # churned
    ]
)
CHURNED = 5
NOT_YET = -1  # month before the customer opened


@dataclass
class Population:
    """Column arrays of one chunk's customers (length n) and their stages (n × months)."""

    customer_id: np.ndarray
    sub: np.ndarray
    city: np.ndarray
    female: np.ndarray
    birth_date: np.ndarray
    age: np.ndarray
    occupation: np.ndarray
    education: np.ndarray
    marital: np.ndarray
    income: np.ndarray
    kyc: np.ndarray
    opened_on: np.ndarray
    acq: np.ndarray
    rm: np.ndarray  # RM index or -1
    aum0: np.ndarray
    engagement: np.ndarray
    app_user: np.ndarray
    payroll: np.ndarray
    risk: np.ndarray
    holdings: np.ndarray  # bool n × len(PRODUCTS)
    stage: np.ndarray  # int8 n × months, NOT_YET before opening
    consent: np.ndarray  # bool n × 5 (sms, push, email, wechat, call)
    dnd: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def make_population(
    r: np.random.Generator, bank: Bank, first_id: int, n: int, start: np.datetime64, months: int
) -> Population:
    """Draw ``n`` customers with ids ``first_id…`` for a window of ``months`` from ``start``."""
    cid = np.arange(first_id, first_id + n, dtype=np.int64)
    sub = r.choice(len(bank.sub_ids), n, p=bank.sub_weight)
    city = np.where(r.random(n) < 0.92, bank.sub_city[sub], r.integers(0, len(vocab.CITIES), n))
    female = r.random(n) < 0.51
    age = np.clip(r.gamma(6.0, 7.0, n) + 12, 18, 88)
    start_d = start.astype("datetime64[D]")
    birth = start_d - (age * 365.25).astype("timedelta64[D]")
    # Education falls with age (the cohort effect).
    edu = np.digitize(r.normal(0, 1, n) + (45 - age) / 30, [-0.9, -0.1, 0.5, 1.6])
    occ_work = r.choice(
        [0, 1, 2, 3, 4, 5, 6, 9], n, p=[0.42, 0.06, 0.12, 0.12, 0.05, 0.14, 0.05, 0.04]
    )
    occ = np.where(age >= 60, np.where(r.random(n) < 0.75, 8, occ_work), occ_work)
    occ = np.where((age < 23) & (r.random(n) < 0.6), 7, occ)
    occ_fx = np.array([0.0, 0.15, 0.45, 0.2, 0.8, -0.25, -0.5, -1.6, -0.45, -1.2])[occ]
    hump = -(((age - 45) / 18) ** 2) * 0.3
    income = np.exp(np.log(6500) + 0.22 * edu + occ_fx + hump + r.normal(0, 0.45, n))
    income = np.round(income, -1)
    marital = np.where(
        age < 27,
        r.choice(4, n, p=[0.75, 0.2, 0.01, 0.04]),
        r.choice(4, n, p=[0.12, 0.76, 0.08, 0.04]),
    )
    kyc = np.clip(
        np.digitize(r.normal(0, 1, n) + 0.25 * edu - (age - 40) / 40, [-1.2, -0.2, 0.7, 1.6]) + 1,
        1,
        5,
    )

    # Tenure: most relationships are old; ~1.2% per month are opened inside the window.
    new_p = min(0.012 * months, 0.5)
    is_new = r.random(n) < new_p
    tenure_d = np.minimum(r.exponential(6 * 365, n), (age - 18) * 365).astype(np.int64) + 1
    open_old = start_d - tenure_d.astype("timedelta64[D]")
    open_new = start_d + r.integers(0, int(months * 30.4), n).astype("timedelta64[D]")
    opened = np.where(is_new, open_new, open_old)
    young = age < 35
    acq = np.where(
        is_new | (young & (r.random(n) < 0.5)),
        r.choice(5, n, p=[0.2, 0.45, 0.1, 0.15, 0.1]),
        r.choice(5, n, p=[0.78, 0.08, 0.04, 0.06, 0.04]),
    )

    # Wealth: log-normal body plus a Pareto tail of affluent customers.
    mu = np.log(9000) + 0.9 * (np.log(income) - np.log(6500)) + 0.025 * (age - 40)
    aum0 = np.exp(mu + r.normal(0, 1.7, n))
    rich = r.random(n) < 0.02 * np.clip(income / 8000, 0.3, 4)
    aum0 = np.where(rich, aum0 + 4e5 * (r.pareto(1.25, n) + 1), aum0)
    aum0 = np.where(is_new, aum0 * 0.2, aum0)
    p_rm = 0.30 + 0.62 * _sigmoid(1.6 * (np.log10(aum0 + 1) - 5.3))
    has_rm = r.random(n) < p_rm
    rm = np.where(
        has_rm,
        bank.rm_offset[sub] + (r.random(n) * bank.rm_count[sub]).astype(np.int64),
        -1,
    )

    engagement = np.exp(r.normal(0, 0.6, n))
    app_user = r.random(n) < _sigmoid(2.2 - 0.075 * (age - 30))
    payroll = np.isin(occ, [0, 1, 2, 5]) & (r.random(n) < 0.65)
    holdings = _holdings(r, age, income, aum0, edu, kyc)
    n_products = holdings.sum(axis=1)
    risk = np.exp(
        0.45 * r.normal(0, 1, n)
        + 0.35 * (rm < 0)
        - 0.12 * (n_products - 3)
        - 0.3 * payroll
        + 0.2 * (aum0 < 5000)
    )
    stage = _lifecycle(r, months, is_new, opened, start, tenure_d, risk)
    consent = np.stack(
        [
            r.random(n) < 0.82,
            app_user & (r.random(n) < 0.7),
            r.random(n) < 0.45,
            r.random(n) < 0.6,
            r.random(n) < 0.4,
        ],
        axis=1,
    )
    return Population(
        customer_id=cid, sub=sub, city=city, female=female, birth_date=birth, age=age,
        occupation=occ, education=edu, marital=marital, income=income, kyc=kyc,
        opened_on=opened, acq=acq, rm=rm, aum0=aum0, engagement=engagement,
        app_user=app_user, payroll=payroll, risk=risk, holdings=holdings, stage=stage,
        consent=consent, dnd=r.random(n) < 0.04,
    )  # fmt: skip


def _holdings(
    r: np.random.Generator,
    age: np.ndarray,
    income: np.ndarray,
    aum: np.ndarray,
    edu: np.ndarray,
    kyc: np.ndarray,
) -> np.ndarray:
    """Which products each customer holds: one logistic model per product."""
    n = len(age)
    li = np.log(income / 6500)
    la = np.log10(aum + 1) - 4
    a = (age - 40) / 10
    logits = {
        "DEP-TIME-3M": -1.6 + 0.3 * la + 0.1 * a,
        "DEP-TIME-1Y": -1.0 + 0.5 * la + 0.35 * a,
        "DEP-TIME-3Y": -2.0 + 0.6 * la + 0.5 * a,
        "DEP-LARGE-CD": -6.0 + 2.2 * la + 0.3 * a,
        "WM-CASH": -1.2 + 0.6 * la + 0.3 * edu - 0.2 * a,
        "WM-FIXED-6M": -3.0 + 1.0 * la + 0.2 * edu,
        "WM-PLUS-1Y": -4.0 + 1.1 * la + 0.3 * edu + 0.2 * (kyc - 3),
        "FND-MMF": -1.3 + 0.4 * la + 0.3 * edu - 0.35 * a,
        "FND-BOND": -3.2 + 0.8 * la + 0.3 * edu,
        "FND-BALANCED": -3.5 + 0.7 * la + 0.3 * edu + 0.4 * (kyc - 3) - 0.2 * a,
        "FND-INDEX300": -3.6 + 0.6 * la + 0.35 * edu + 0.6 * (kyc - 3) - 0.3 * a,
        "FND-GROWTH": -4.2 + 0.6 * la + 0.3 * edu + 0.8 * (kyc - 3) - 0.3 * a,
        "FND-QDII": -5.2 + 0.9 * la + 0.5 * edu + 0.8 * (kyc - 3),
        "LN-MORTGAGE": -1.7 + 0.9 * li - 0.6 * (a - 0.2) ** 2,
        "LN-CONSUMER": -2.3 + 0.2 * li - 0.5 * a,
        "LN-BUSINESS": -4.0 + 0.8 * li - 0.3 * a ** 2,
        "CARD-DEBIT": 3.0 + 0 * a,
        "CARD-CREDIT": 0.0 + 0.8 * li - 0.5 * a,
        "CARD-PLATINUM": -4.5 + 1.2 * li + 0.8 * la,
        "INS-HEALTH": -1.6 + 0.4 * li - 0.1 * a ** 2,
        "INS-LIFE": -3.0 + 0.5 * li + 0.4 * la - 0.3 * (a - 0.5) ** 2,
        "INS-ANNUITY": -3.8 + 0.6 * la + 0.5 * a,
    }  # fmt: skip
    out = np.zeros((n, len(vocab.PRODUCTS)), dtype=bool)
    out[:, vocab.PRODUCT_INDEX["DEP-DEMAND"]] = True  # everyone has a current account
    for pid, logit in logits.items():
        out[:, vocab.PRODUCT_INDEX[pid]] = r.random(n) < _sigmoid(logit)
    return out


def _lifecycle(
    r: np.random.Generator,
    months: int,
    is_new: np.ndarray,
    opened: np.ndarray,
    start: np.datetime64,
    tenure_d: np.ndarray,
    risk: np.ndarray,
) -> np.ndarray:
    """Stage per customer-month from the Markov chain, risk scaling the way down."""
    n = len(is_new)
    stage = np.full((n, months), NOT_YET, dtype=np.int8)
    init = np.where(
        tenure_d < 180, 0, r.choice([1, 2, 3, 4], n, p=[0.24, 0.52, 0.11, 0.13])
    ).astype(np.int8)
    open_month = (opened.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(np.int64)
    cur = np.where(is_new, NOT_YET, init).astype(np.int8)
    for m in range(months):
        active = cur >= 0
        row = TRANSITIONS[np.maximum(cur, 0)].copy()
        off = row.copy()
        off[np.arange(n), np.maximum(cur, 0)] = 0.0
        off[:, 3:] *= risk[:, None]  # risky customers slide down and leave faster
        stay = np.clip(1.0 - off.sum(axis=1), 0.0, None)
        off[np.arange(n), np.maximum(cur, 0)] = stay
        off /= off.sum(axis=1, keepdims=True)
        u = r.random(n)
        nxt = (u[:, None] > np.cumsum(off, axis=1)[:, :-1]).sum(axis=1).astype(np.int8)
        moved = np.where(m == 0, cur, nxt)
        cur = np.where(active, moved, cur).astype(np.int8)
        cur = np.where(is_new & (open_month == m), 0, cur).astype(np.int8)
        stage[:, m] = cur
    return stage
