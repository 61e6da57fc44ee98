"""Feature tables built set-wise in the warehouse: one Ibis expression per task → Arrow.

Every feature is computed from what was known at the prediction time (the *cutoff*):
windows end strictly before it, so a model never sees its own label. The label is
computed in the same query from the period after the cutoff.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from opsloop.warehouse import Warehouse


@dataclass(frozen=True)
class FeatureSet:
    """Rows to learn from: ``table`` holds ``key``, the ``features`` and ``label``."""

    table: pa.Table
    features: list[str]
    key: str = "customer_id"
    label: str = "label"
    time: str | None = None


def _ts(day: dt.date) -> ir.TimestampScalar:
    return ibis.literal(dt.datetime.combine(day, dt.time()), type="timestamp")


def _window(t: ibis.Table, cutoff: dt.date, days: int, offset: int = 0) -> ibis.Table:
    """Rows in ``[cutoff - offset - days, cutoff - offset)``."""
    end = cutoff - dt.timedelta(days=offset)
    return t.filter(t.ts >= _ts(end - dt.timedelta(days=days)), t.ts < _ts(end))


def _left(base: ibis.Table, other: ibis.Table) -> ibis.Table:
    joined = base.left_join(other, base.customer_id == other.customer_id)
    return joined.drop("customer_id_right")


# -- synthetic / canonical bank: customer snapshot at a cutoff ---------------------------
SNAPSHOT_FEATURES = [
    "tenure_days", "age", "income_monthly", "kyc_risk_level", "gender", "city",
    "occupation", "acquisition_channel", "aum_last", "aum_ratio_3m", "deposit_last",
    "wealth_last", "loan_last", "logins_30d", "logins_prev_60d", "sessions_30d",
    "sessions_prev_60d", "fund_views_90d", "out_30d", "out_prev_60d", "in_30d",
    "in_prev_60d", "txn_30d", "txn_prev_60d", "fund_buys_90d", "products_held",
]  # fmt: skip


def snapshot(wh: Warehouse, *, cutoff: dt.date, dataset: str | None = None) -> ibis.Table:
    """One row per customer open at ``cutoff`` with behaviour features before it."""
    c = wh.table("customers", dataset=dataset)
    acc = wh.table("accounts", dataset=dataset)
    aum = wh.table("aum_monthly", dataset=dataset)
    ev = wh.table("events", dataset=dataset).filter(lambda e: e.customer_id.notnull())
    tx = wh.table("transactions", dataset=dataset)
    day = ibis.literal(cutoff, type="date")
    held = acc.filter(acc.opened_on < day, acc.closed_on.isnull() | (acc.closed_on >= day))
    products = held.group_by("customer_id").aggregate(products_held=held.count())
    base = c.filter(c.opened_on < day).select(
        "customer_id",
        "income_monthly",
        "kyc_risk_level",
        "gender",
        "city",
        "occupation",
        "acquisition_channel",
        tenure_days=day.delta(c.opened_on, unit="day"),
        age=day.delta(c.birth_date, unit="year"),
    )
    base = base.inner_join(products, "customer_id")  # still a customer at the cutoff
    a = aum.filter(aum.month < day)
    ranked = a.mutate(k=ibis.row_number().over(group_by=a.customer_id, order_by=ibis.desc(a.month)))
    last = ranked.filter(ranked.k == 0).select(
        "customer_id",
        aum_last="aum",
        deposit_last="deposit_balance",
        wealth_last="wealth_balance",
        loan_last="loan_balance",
    )
    back = ranked.filter(ranked.k == 3).select("customer_id", aum_3m_ago="aum")

    def events(days: int, offset: int, name: str, which: tuple[str, ...]) -> ibis.Table:
        w = _window(ev, cutoff, days, offset)
        w = w.filter(w.event.isin(list(which)))
        return w.group_by("customer_id").aggregate(**{name: w.count()})

    def money(days: int, offset: int, suffix: str) -> ibis.Table:
        w = _window(tx, cutoff, days, offset)
        return w.group_by("customer_id").aggregate(
            **{
                f"out_{suffix}": w.amount.sum(where=w.direction == "out"),
                f"in_{suffix}": w.amount.sum(where=w.direction == "in"),
                f"txn_{suffix}": w.count(),
                f"fund_buys_{suffix}": w.count(where=w.kind == "fund_buy"),
            }
        )

    t = base
    for part in (
        last,
        back,
        events(30, 0, "logins_30d", ("login",)),
        events(60, 30, "logins_prev_60d", ("login",)),
        events(30, 0, "sessions_30d", ("app_open",)),
        events(60, 30, "sessions_prev_60d", ("app_open",)),
        events(90, 0, "fund_views_90d", ("fund_detail_view",)),
        money(30, 0, "30d"),
        money(60, 30, "prev_60d"),
        money(90, 0, "90d").select("customer_id", "fund_buys_90d"),
    ):
        t = _left(t, part)
    counts = [
        "logins_30d", "logins_prev_60d", "sessions_30d", "sessions_prev_60d", "fund_views_90d",
        "out_30d", "in_30d", "txn_30d", "out_prev_60d", "in_prev_60d", "txn_prev_60d",
        "fund_buys_90d",
    ]  # fmt: skip
    t = t.mutate(**{n: t[n].fill_null(0) for n in counts})
    t = t.mutate(aum_ratio_3m=t.aum_last / (t.aum_3m_ago + 1.0)).drop(
        "aum_3m_ago", "fund_buys_30d", "fund_buys_prev_60d"
    )
    return t


def churn(
    wh: Warehouse, *, cutoff: dt.date, horizon_days: int = 90, dataset: str | None = None
) -> FeatureSet:
    """Label: the customer's accounts were all closed within ``horizon_days`` after cutoff."""
    acc = wh.table("accounts", dataset=dataset)
    day = ibis.literal(cutoff, type="date")
    until = ibis.literal(cutoff + dt.timedelta(days=horizon_days), type="date")
    per = acc.group_by("customer_id").aggregate(
        open_after=acc.count(where=acc.closed_on.isnull() | (acc.closed_on >= until)),
        closed_in=acc.count(where=(acc.closed_on >= day) & (acc.closed_on < until)),
    )
    lab = per.select(
        "customer_id", label=((per.open_after == 0) & (per.closed_in > 0)).cast("int8")
    )
    t = snapshot(wh, cutoff=cutoff, dataset=dataset).inner_join(lab, "customer_id")
    return FeatureSet(wh.execute(t.order_by("customer_id")), list(SNAPSHOT_FEATURES))


def propensity(
    wh: Warehouse, *, cutoff: dt.date, horizon_days: int = 90, dataset: str | None = None
) -> FeatureSet:
    """Label: bought a wealth product or fund (a ``fund_buy`` transaction) within
    ``horizon_days`` after the cutoff."""
    tx = wh.table("transactions", dataset=dataset)
    until = cutoff + dt.timedelta(days=horizon_days)
    bought = tx.filter(tx.kind == "fund_buy", tx.ts >= _ts(cutoff), tx.ts < _ts(until))
    ids = bought.select("customer_id").distinct().mutate(label=ibis.literal(1, "int8"))
    t = _left(snapshot(wh, cutoff=cutoff, dataset=dataset), ids)
    t = t.mutate(label=t.label.fill_null(0))
    return FeatureSet(wh.execute(t.order_by("customer_id")), list(SNAPSHOT_FEATURES))


def customers_at(wh: Warehouse, *, cutoff: dt.date, dataset: str | None = None) -> pa.Table:
    """Snapshot features of every customer at ``cutoff`` (for scoring, no label)."""
    return wh.execute(snapshot(wh, cutoff=cutoff, dataset=dataset).order_by("customer_id"))


# -- UCI bank marketing: the call's context, never its duration ---------------------------
BANK_MARKETING_FEATURES = [
    "age", "occupation", "marital", "education", "has_credit", "balance", "has_housing",
    "has_loan", "contact_type", "day", "month", "campaign", "pdays", "previous", "poutcome",
]  # fmt: skip


def bank_marketing(wh: Warehouse, *, dataset: str = "bank_marketing") -> FeatureSet:
    """One row per call; label ``deposit``. ``duration_s`` is left out: it is known only
    after the call, so a model using it cannot be used to choose whom to call."""
    c = wh.table("customers", dataset=dataset)
    k = wh.table("contacts", dataset=dataset)
    t = c.inner_join(k, "customer_id").select(
        "customer_id",
        "age",
        "occupation",
        "marital",
        "education",
        "has_credit",
        "balance",
        "has_housing",
        "has_loan",
        "contact_type",
        "campaign",
        "pdays",
        "previous",
        "poutcome",
        day=k.ts.day(),
        month=k.ts.month(),
        contacted_at=k.ts,
        label=c.deposit.cast("int8"),
    )
    table = wh.execute(t.order_by("contacted_at", "customer_id"))
    return FeatureSet(table, list(BANK_MARKETING_FEATURES), time="contacted_at")


# -- Berka: loan default from what the bank knew when it granted the loan -----------------
BERKA_FEATURES = [
    "amount", "duration_months", "monthly_payment", "account_age_days", "statement_frequency",
    "owner_age", "owner_gender", "has_card", "n_disponents", "inhabitants", "urban_ratio_pct",
    "avg_salary", "unemployment_95_pct", "entrepreneurs_per_1000", "crimes_95",
    "txn_n", "txn_in_sum", "txn_out_sum", "balance_mean", "balance_min", "balance_last",
    "neg_balance_n", "sanctions_n", "months_of_history", "payment_to_income",
]  # fmt: skip


def berka_default(wh: Warehouse, *, dataset: str = "berka") -> FeatureSet:
    """One row per loan; label = status B or D (defaulted). Features use only rows dated
    strictly before the loan date (transactions, cards); districts' 1995 figures are
    public statistics."""
    acc = wh.table("accounts", dataset=dataset)
    cust = wh.table("customers", dataset=dataset)
    tx = wh.table("transactions", dataset=dataset)
    dist = wh.table("districts", dataset=dataset)
    loans = acc.filter(acc.source_table == "loan").select(
        loan_id="source_id",
        base="base_account_id",
        owner="customer_id",
        granted="opened_on",
        amount="principal",
        duration_months="loan_duration_months",
        monthly_payment="loan_monthly_payment",
        label=acc.loan_status.isin(["B", "D"]).cast("int8"),
    )
    deposit = acc.filter(acc.source_table == "account")
    home = deposit.filter(deposit.disp_type == "OWNER").select(
        b2="base_account_id",
        acc_opened="opened_on",
        statement_frequency="statement_frequency",
        district_id="district_id",
    )
    disp = deposit.group_by(b3=deposit.base_account_id).aggregate(
        n_disponents=deposit.count(where=deposit.disp_type != "OWNER")
    )
    t = loans.inner_join(home, loans.base == home.b2).drop("b2")
    t = t.left_join(disp, t.base == disp.b3).drop("b3")
    owners = cust.select(cid="customer_id", birth_date="birth_date", owner_gender="gender")
    t = t.left_join(owners, t.owner == owners.cid).drop("cid")
    districts = dist.select(
        d2="district_id",
        inhabitants="inhabitants",
        urban_ratio_pct="urban_ratio_pct",
        avg_salary="avg_salary",
        unemployment_95_pct="unemployment_95_pct",
        entrepreneurs_per_1000="entrepreneurs_per_1000",
        crimes_95="crimes_95",
    )
    t = t.left_join(districts, t.district_id == districts.d2).drop("d2")
    cards = acc.filter(acc.source_table == "card").select(cb="base_account_id", issued="opened_on")
    before = t.select("loan_id", "base", "granted")
    card_n = (
        before.inner_join(cards, [before.base == cards.cb, cards.issued < before.granted])
        .group_by("loan_id")
        .aggregate(cards_before=ibis._.loan_id.count())
    )
    txb = before.inner_join(
        tx, [before.base == tx.account_id, tx.ts < before.granted.cast("timestamp")]
    )
    hist = txb.group_by("loan_id").aggregate(
        txn_n=txb.count(),
        txn_in_sum=txb.amount.sum(where=txb.direction == "in"),
        txn_out_sum=txb.amount.sum(where=txb.direction == "out"),
        balance_mean=txb.balance_after.mean(),
        balance_min=txb.balance_after.min(),
        balance_last=txb.balance_after.argmax(txb.ts),
        neg_balance_n=txb.count(where=txb.balance_after < 0),
        sanctions_n=txb.count(where=txb.k_symbol == "SANKC. UROK"),
        first_ts=txb.ts.min(),
    )
    t = t.left_join(card_n, t.loan_id == card_n.loan_id).drop("loan_id_right")
    t = t.left_join(hist, t.loan_id == hist.loan_id).drop("loan_id_right")
    t = t.mutate(
        account_age_days=t.granted.delta(t.acc_opened, unit="day"),
        owner_age=t.granted.delta(t.birth_date, unit="year"),
        has_card=(t.cards_before.fill_null(0) > 0).cast("int8"),
        txn_n=t.txn_n.fill_null(0),
        months_of_history=t.granted.cast("timestamp").delta(t.first_ts, unit="day") / 30.0,
        payment_to_income=t.monthly_payment
        / (
            t.txn_in_sum / (t.granted.cast("timestamp").delta(t.first_ts, unit="day") / 30.0 + 1.0)
            + 1.0
        ),
    )
    table = wh.execute(t.order_by("granted", "loan_id"))
    return FeatureSet(table, list(BERKA_FEATURES), key="loan_id", time="granted")
