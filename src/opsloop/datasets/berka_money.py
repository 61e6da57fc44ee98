"""Berka's money flows: transactions, month-end balances and standing orders.

The Czech codes are mapped to the canonical ``direction``/``kind``/``channel`` words
(docs/datasets.md has the table); the raw codes are kept as extra columns so nothing
the source says is lost. Amounts stay in CZK.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.datasets import common
from opsloop.datasets.berka_files import TRANS_TYPES, Berka

# k_symbol (what the payment is for) decides the kind first; operation (how) otherwise.
KIND_BY_K_SYMBOL = {
    "UROK": "interest",
    "SANKC. UROK": "penalty_interest",
    "SLUZBY": "fee",
    "SIPO": "household_payment",
    "POJISTNE": "insurance",
    "UVER": "loan_repay",
    "DUCHOD": "pension",
    "LEASING": "leasing",
}
KIND_BY_OPERATION = {
    "VKLAD": "cash_deposit",
    "VYBER": "cash_withdrawal",
    "VYBER KARTOU": "card_withdrawal",
    "PREVOD Z UCTU": "transfer",
    "PREVOD NA UCET": "transfer",
}
CHANNEL_BY_OPERATION = {"VKLAD": "counter", "VYBER": "counter", "VYBER KARTOU": "atm"}
# The bank's own postings (interest, statement fee, penalty) happen on no channel.
BANK_POSTINGS = ("UROK", "SANKC. UROK", "SLUZBY")
ORDER_OPERATION = "PREVOD NA UCET"


def _kind(k_symbol: pa.Array, operation: pa.Array) -> pa.Array:
    by_k = pc.take(
        pa.array(list(KIND_BY_K_SYMBOL.values())),
        pc.index_in(k_symbol, value_set=pa.array(list(KIND_BY_K_SYMBOL))),
    )
    by_op = pc.take(
        pa.array(list(KIND_BY_OPERATION.values())),
        pc.index_in(operation, value_set=pa.array(list(KIND_BY_OPERATION))),
    )
    return pc.coalesce(by_k, by_op, pa.scalar("other"))


def _owner_of(accounts: pa.Array | pa.ChunkedArray, owner: dict[int, int]) -> pa.Array:
    return pa.array([owner[a] for a in accounts.to_pylist()], pa.int64())


def transactions(src: Berka, owner: dict[int, int]) -> pa.Table:
    """trans.asc → canonical transactions, each booked to the account's owner."""
    t = src.trans
    operation = t["operation"].combine_chunks()
    orders = {
        (a, b, c, m)
        for a, b, c, m in zip(
            src.order["account_id"].to_pylist(),
            src.order["bank_to"].to_pylist(),
            src.order["account_to"].to_pylist(),
            src.order["amount"].to_pylist(),
            strict=True,
        )
    }
    keys = zip(
        t["account_id"].to_pylist(),
        t["bank"].to_pylist(),
        t["account"].to_pylist(),
        t["amount"].to_pylist(),
        operation.to_pylist(),
        strict=True,
    )
    by_order = pa.array(
        [
            "standing_order" if op == ORDER_OPERATION and (a, b, c, m) in orders else None
            for a, b, c, m, op in keys
        ],
        pa.string(),
    )
    by_operation = pc.take(
        pa.array(list(CHANNEL_BY_OPERATION.values())),
        pc.index_in(operation, value_set=pa.array(list(CHANNEL_BY_OPERATION))),
    )
    direction = pc.take(
        pa.array(list(TRANS_TYPES.values())),
        pc.index_in(t["type"], value_set=pa.array(list(TRANS_TYPES))),
    )
    return pa.table(
        {
            "txn_id": t["trans_id"],
            "customer_id": _owner_of(t["account_id"], owner),
            "account_id": t["account_id"],
            "ts": pc.cast(t["date"], pa.timestamp("us")),
            "amount": t["amount"],
            "direction": direction,
            "kind": _kind(t["k_symbol"].combine_chunks(), operation),
            "channel": pc.if_else(
                pc.is_in(t["k_symbol"], value_set=pa.array(BANK_POSTINGS)),
                pa.scalar(None, pa.string()),
                pc.coalesce(by_order, by_operation),
            ),
            "balance_after": t["balance"],
            "trans_type": t["type"],
            "operation": operation,
            "k_symbol": t["k_symbol"],
            "partner_bank": t["bank"],
            "partner_account": t["account"],
        }
    )


def standing_orders(src: Berka, owner: dict[int, int]) -> pa.Table:
    """order.asc kept as its own table (debits only), with the owner and the canonical kind."""
    o = src.order
    kind = _kind(
        o["k_symbol"].combine_chunks(), common.constant(ORDER_OPERATION, o.num_rows, pa.string())
    )
    return pa.table(
        {
            "order_id": o["order_id"],
            "account_id": o["account_id"],
            "customer_id": _owner_of(o["account_id"], owner),
            "bank_to": o["bank_to"],
            "account_to": o["account_to"],
            "amount": o["amount"],
            "k_symbol": o["k_symbol"],
            "kind": kind,
        }
    )


def aum_monthly(src: Berka, owner: dict[int, int]) -> pa.Table:
    """Month-end balances per account, booked to its owner, from trans.asc's running balance.

    A month's balance is that of the account's last transaction of the month in file
    order (the file is time-ordered), carried forward through months without any, from
    the account's first transaction to the last month of the file. A negative balance
    (overdraft) counts as a liability; loan balances are the scheduled outstanding
    principal (amount − monthly payment × months since the grant).
    """
    t = src.trans
    if t.num_rows == 0:
        return common.empty("aum_monthly").append_column("account_id", pa.array([], pa.int64()))
    dates = pd.to_datetime(np.asarray(t["date"].combine_chunks(), dtype="datetime64[D]"))
    frame = pd.DataFrame(
        {
            "account_id": np.asarray(t["account_id"].combine_chunks()),
            "month": dates.year * 12 + dates.month - 1,
            "balance": np.asarray(t["balance"].combine_chunks()),
        }
    )
    last = frame.groupby(["account_id", "month"], sort=True)["balance"].last().unstack("month")
    months = np.arange(int(frame["month"].min()), int(frame["month"].max()) + 1)
    grid = last.reindex(columns=months).ffill(axis=1)
    long = (
        grid.reset_index()
        .melt(id_vars="account_id", var_name="month", value_name="balance")
        .dropna(subset=["balance"])
        .sort_values(["account_id", "month"])
    )
    account_ids = long["account_id"].to_numpy(dtype=np.int64)
    month_index = long["month"].to_numpy(dtype=np.int64)
    balance = long["balance"].to_numpy(dtype=np.float64)
    loans = _scheduled_loans(src, account_ids, month_index)
    deposit = np.maximum(balance, 0.0)
    month_ends = [common.month_end(date(int(m) // 12, int(m) % 12 + 1, 1)) for m in month_index]
    zeros = np.zeros(len(balance))
    return pa.table(
        {
            "customer_id": pa.array([owner[int(a)] for a in account_ids], pa.int64()),
            "month": pa.array(month_ends, pa.date32()),
            "deposit_balance": deposit,
            "wealth_balance": zeros,
            "insurance_value": zeros,
            "aum": deposit,
            "loan_balance": np.maximum(-balance, 0.0) + loans,
            "account_id": account_ids,
        }
    )


def _scheduled_loans(src: Berka, account_ids: np.ndarray, month_index: np.ndarray) -> np.ndarray:
    """Scheduled outstanding principal per (account, month) row; 0 without a loan."""
    loan = src.loan
    granted = pd.to_datetime(np.asarray(loan["date"].combine_chunks(), dtype="datetime64[D]"))
    info = pd.DataFrame(
        {
            "account_id": np.asarray(loan["account_id"].combine_chunks()),
            "grant_month": granted.year * 12 + granted.month - 1,
            "amount": np.asarray(loan["amount"].combine_chunks()),
            "payments": np.asarray(loan["payments"].combine_chunks()),
        }
    ).set_index("account_id")
    rows = info.reindex(account_ids)
    elapsed = month_index - rows["grant_month"].to_numpy(dtype=np.float64)
    outstanding = rows["amount"].to_numpy() - rows["payments"].to_numpy() * elapsed
    active = elapsed >= 0
    result: np.ndarray = np.where(active, np.maximum(outstanding, 0.0), 0.0)
    cleaned: np.ndarray = np.nan_to_num(result, nan=0.0)
    return cleaned
