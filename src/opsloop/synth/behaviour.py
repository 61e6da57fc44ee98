"""App behaviour (埋点) of one chunk: sessions and a purchase funnel with drop-off.

Each session opens the app; some log in, some browse products, fewer open a fund's
detail page, fewer still buy. Session counts follow the life-cycle stage, so logins
fall in the months before a customer churns — the signal churn models learn from.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.synth import vocab
from opsloop.synth.ledger import ACTIVITY, season
from opsloop.synth.population import Population

EVENTS = ("app_open", "login", "balance_check", "product_browse", "fund_detail_view",
          "fund_purchase", "transfer_start")  # fmt: skip
# P(step | session) for steps outside the funnel, P(step | previous step) inside it.
P_LOGIN, P_BALANCE, P_TRANSFER = 0.75, 0.45, 0.12
P_BROWSE, P_DETAIL, P_BUY = 0.35, 0.40, 0.15
_FUNDS = [p[0] for p in vocab.PRODUCTS if p[1] in ("fund", "wealth")]
_AMOUNTS = (100, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
_PROPS: list[str] = (
    ['{"source":"icon"}', '{"source":"push"}', '{"source":"link"}']
    + ['{"method":"password"}', '{"method":"face"}', '{"method":"sms"}']
    + ["{}"]
    + ['{"tab":"wealth"}', '{"tab":"fund"}', '{"tab":"deposit"}', '{"tab":"loan"}']
    + [f'{{"product_id":"{f}"}}' for f in _FUNDS]
    + [f'{{"product_id":"{f}","amount":{a}}}' for f in _FUNDS for a in _AMOUNTS]
    + ['{"to":"own"}', '{"to":"other"}']
)
_P_SOURCE, _P_METHOD, _P_EMPTY, _P_TAB = 0, 3, 6, 7
_P_DETAIL = 11
_P_BUY = _P_DETAIL + len(_FUNDS)
_P_TRANSFER = _P_BUY + len(_FUNDS) * len(_AMOUNTS)
_HOUR_W = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2.5, 4, 4, 3.5, 4, 5, 4, 3.5, 3.5, 3.5,
                    4, 4.5, 5.5, 6.5, 7, 5, 2.5])  # fmt: skip
_HOUR_CUM = np.cumsum(_HOUR_W) / _HOUR_W.sum()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: an opaque, collision-free 64-bit scramble."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def events(
    r: np.random.Generator,
    p: Population,
    platform: np.ndarray,
    month_starts: np.ndarray,
    month_days: np.ndarray,
    seed: int,
) -> pa.Table:
    """All app events of the chunk's customers, ordered by customer and time."""
    st = p.stage
    act = np.where(st >= 0, ACTIVITY[np.maximum(st, 0)], 0.0)
    lam = 0.9 * act * (p.engagement * p.app_user)[:, None] * season(month_starts)[None, :] ** 0.5
    counts = r.poisson(lam)
    ci, mi = np.nonzero(counts)
    reps = counts[ci, mi]
    ci, mi = np.repeat(ci, reps), np.repeat(mi, reps)
    s = len(ci)
    days = month_days[mi]
    day = (r.random(s, dtype=np.float32) * days).astype(np.int64)
    payday = r.random(s, dtype=np.float32) < 0.12  # a bump of sessions when salary lands
    day = np.where(payday, np.minimum(24 + r.integers(0, 5, s), days - 1), day)
    hour = np.searchsorted(_HOUR_CUM, r.random(s, dtype=np.float32))
    start_us = (
        month_starts.astype("datetime64[us]").astype(np.int64)[mi]
        + (day * 86400 + hour * 3600 + r.integers(0, 3600, s)) * 1_000_000
    )
    # Funnel steps; each step happens a few seconds to a minute after the previous.
    u = r.random((6, s), dtype=np.float32)
    wealthy = np.log10(p.aum0[ci] + 1) > 4.7
    login = u[0] < P_LOGIN
    balance = u[1] < P_BALANCE
    browse = u[2] < P_BROWSE * (1 + 0.5 * wealthy)
    detail = browse & (u[3] < P_DETAIL)
    buy = detail & (u[4] < P_BUY * (0.6 + 0.2 * p.kyc[ci]) * (1 + wealthy))
    transfer = u[5] < P_TRANSFER
    fund = r.integers(0, len(_FUNDS), s)
    steps = [
        (np.ones(s, bool), 0, _P_SOURCE + r.choice(3, s, p=[0.7, 0.2, 0.1])),
        (login, 1, _P_METHOD + r.choice(3, s, p=[0.3, 0.6, 0.1])),
        (balance, 2, np.full(s, _P_EMPTY)),
        (browse, 3, _P_TAB + r.choice(4, s, p=[0.45, 0.3, 0.15, 0.1])),
        (detail, 4, _P_DETAIL + fund),
        (buy, 5, _P_BUY + fund * len(_AMOUNTS) + r.choice(len(_AMOUNTS), s)),
        (transfer, 6, _P_TRANSFER + (u[5] < 0.06)),
    ]
    idx_l, ev_l, prop_l, off_l = [], [], [], []
    for k, (mask, code, prop) in enumerate(steps):
        (sel,) = np.nonzero(mask)
        idx_l.append(sel)
        ev_l.append(np.full(len(sel), code, np.int8))
        prop_l.append(prop[sel])
        off_l.append(np.full(len(sel), k, np.int64))
    sess = np.concatenate(idx_l)
    ev = np.concatenate(ev_l)
    prop = np.concatenate(prop_l)
    ts = start_us[sess] + np.concatenate(off_l) * (20_000_000 + (sess % 40) * 1_000_000)
    cl = ci[sess]
    order = np.argsort(
        cl.astype(np.int64) * (1 << 44) + (ts - ts.min() if len(ts) else ts), kind="stable"
    )
    cl, ev, prop, ts = cl[order], ev[order], prop[order], ts[order]
    seq = np.arange(len(cl)) - np.searchsorted(cl, cl, side="left")
    cid = p.customer_id[cl]
    msg = pc.binary_join_element_wise(
        pc.cast(pa.array(cid), pa.string()), pc.cast(pa.array(seq), pa.string()), "-"
    )
    device = (_mix(p.customer_id ^ np.int64(seed)) >> np.uint64(4)).astype(np.int64)
    anon = pc.cast(pa.array(device[cl]), pa.string())
    return pa.table(
        {
            "message_id": pc.binary_join_element_wise("m", msg, ""),
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("us")),
            "event": pa.DictionaryArray.from_arrays(pa.array(ev), pa.array(list(EVENTS))),
            "customer_id": pa.array(cid, pa.int64()),
            "anonymous_id": anon,
            "platform": pa.DictionaryArray.from_arrays(
                pa.array(platform[cl].astype(np.int8)), pa.array(list(vocab.PLATFORMS))
            ),
            "properties": pa.DictionaryArray.from_arrays(
                pa.array(prop.astype(np.int16)), pa.array(_PROPS)
            ),
        }
    )
