"""The Berka data set (PKDD'99): a real Czech bank's clients, accounts and money flows.

Eight ``;``-separated files (documented in ``berka.pdf``) become the canonical model:
clients → customers, dispositions/loans/cards → accounts, trans.asc → transactions and
month-end balances, districts → a synthetic org tree (HO → region → district). What
has no canonical home is kept as extra columns and the extra tables ``districts`` and
``standing_orders``. Every file is parsed and cross-checked before anything is written.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from opsloop.datasets import berka_files as files
from opsloop.datasets import common
from opsloop.datasets.berka_money import aum_monthly, standing_orders, transactions

SOURCE = "berka"

PRODUCTS = pa.table(
    {
        "product_id": ["DEP-CURRENT", "LOAN-PERSONAL", "CARD-JUNIOR", "CARD-CLASSIC", "CARD-GOLD"],
        "category": ["deposit", "loan", "card", "card", "card"],
        "name": ["活期账户", "个人贷款", "少儿卡", "普卡", "金卡"],
        "name_en": ["Current account", "Loan", "Junior card", "Classic card", "Gold card"],
        "risk_level": pa.nulls(5, pa.int16()),
        "annual_rate": pa.nulls(5, pa.float64()),
        "min_amount": pa.nulls(5, pa.float64()),
    }
)
# Loans and cards become accounts of their own: offset their ids past Berka's account ids.
LOAN_ID_OFFSET = 1_000_000
CARD_ID_OFFSET = 2_000_000
LOAN_STATUS = {"A": "closed", "B": "defaulted", "C": "open", "D": "defaulted"}


def resolve(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def build(path: Path) -> common.Tables:
    """Parse and validate the Berka folder (or any file in it) into warehouse tables."""
    src = files.read_all(resolve(path))
    units, org_of_district = _org_tree(src.district)
    owner = _owners(src)
    return {
        "org_units": common.org_table(units),
        "customers": _customers(src, org_of_district),
        "products": PRODUCTS,
        "accounts": _accounts(src, owner),
        "transactions": transactions(src, owner),
        "aum_monthly": aum_monthly(src, owner),
        "standing_orders": standing_orders(src, owner),
        "districts": src.district.append_column(
            "org_id",
            pa.array(
                [org_of_district[d].org_id for d in src.district["district_id"].to_pylist()],
                pa.string(),
            ),
        ),
    }


def _org_tree(district: pa.Table) -> tuple[list[common.OrgUnit], dict[int, common.OrgUnit]]:
    """HO → one branch per region (A3, in file order) → one sub-branch per district (A2)."""
    ho = common.head_office()
    units = [ho]
    branches: dict[str, common.OrgUnit] = {}
    subs: dict[int, common.OrgUnit] = {}
    for row in district.select(["district_id", "name", "region"]).to_pylist():
        region = str(row["region"])
        if region not in branches:
            bid = f"B{len(branches) + 1:02d}"
            branches[region] = common.child(ho, bid, f"{region}分行", f"{region} branch", None)
            units.append(branches[region])
        branch = branches[region]
        did = int(row["district_id"])
        name = str(row["name"])
        sub = common.child(branch, f"{branch.org_id}S{did:02d}", f"{name}支行", name, name)
        subs[did] = sub
        units.append(sub)
    return units, subs


def _owners(src: files.Berka) -> dict[int, int]:
    """account_id → the client who owns it (each account has exactly one OWNER)."""
    disp = src.disp.filter(pc.equal(src.disp["type"], "OWNER"))
    owner = dict(zip(disp["account_id"].to_pylist(), disp["client_id"].to_pylist(), strict=True))
    accounts = src.account["account_id"].to_pylist()
    for row, account_id in enumerate(accounts):
        if account_id not in owner:
            raise src.account_raw.fail(row, "account_id", f"account {account_id} has no OWNER")
    return owner


def _customers(src: files.Berka, org_of_district: dict[int, common.OrgUnit]) -> pa.Table:
    """Clients; home org = the district of the branch holding their (owned) account."""
    acc_district = dict(
        zip(
            src.account["account_id"].to_pylist(),
            src.account["district_id"].to_pylist(),
            strict=True,
        )
    )
    acc_date = dict(
        zip(src.account["account_id"].to_pylist(), src.account["date"].to_pylist(), strict=True)
    )
    # Per client: the first disposition, owners first, decides the home account.
    disp = src.disp.sort_by(
        [("client_id", "ascending"), ("type", "descending"), ("account_id", "ascending")]
    )
    home: dict[int, int] = {}
    opened: dict[int, date] = {}
    for c, a in zip(disp["client_id"].to_pylist(), disp["account_id"].to_pylist(), strict=True):
        home.setdefault(c, a)
        d = acc_date[a]
        opened[c] = min(opened.get(c, d), d)
    clients = src.client
    ids = clients["client_id"].to_pylist()
    for row, cid in enumerate(ids):
        if cid not in home:
            raise src.client_raw.fail(row, "client_id", f"client {cid} has no disposition")
    orgs = [org_of_district[acc_district[home[c]]] for c in ids]
    names = dict(
        zip(src.district["district_id"].to_pylist(), src.district["name"].to_pylist(), strict=True)
    )
    return common.customers(
        len(ids),
        customer_id=clients["client_id"],
        org=None,
        opened_on=pa.array([opened[c] for c in ids], pa.date32()),
        source=SOURCE,
        known={
            "org_id": pa.array([o.org_id for o in orgs], pa.string()),
            "org_path": pa.array([o.path for o in orgs], pa.string()),
            "gender": clients["gender"],
            "birth_date": clients["birth_date"],
            "city": pa.array([names[d] for d in clients["district_id"].to_pylist()], pa.string()),
        },
        extras={
            "district_id": clients["district_id"],
            "home_account_id": pa.array([home[c] for c in ids], pa.int64()),
        },
    )


_ACCOUNT_EXTRAS = {
    "disp_id": pa.int64(),
    "disp_type": pa.string(),
    "base_account_id": pa.int64(),
    "source_table": pa.string(),
    "source_id": pa.int64(),
    "district_id": pa.int64(),
    "statement_frequency": pa.string(),
    "loan_status": pa.string(),
    "loan_duration_months": pa.int64(),
    "loan_monthly_payment": pa.float64(),
    "card_type": pa.string(),
}


def _accounts(src: files.Berka, owner: dict[int, int]) -> pa.Table:
    """One row per customer × account (dispositions), plus one per loan and per card."""
    acc = src.account.rename_columns(
        ["account_id", "district_id", "statement_frequency", "opened_on"]
    )
    deposit = src.disp.rename_columns(["disp_id", "customer_id", "account_id", "disp_type"]).join(
        acc, "account_id"
    )
    n = deposit.num_rows
    deposit_rows = {
        "account_id": deposit["account_id"],
        "customer_id": deposit["customer_id"],
        "product_id": common.constant("DEP-CURRENT", n, pa.string()),
        "opened_on": deposit["opened_on"],
        "status": common.constant("open", n, pa.string()),
        "disp_id": deposit["disp_id"],
        "disp_type": deposit["disp_type"],
        "base_account_id": deposit["account_id"],
        "source_table": common.constant("account", n, pa.string()),
        "source_id": deposit["account_id"],
        "district_id": deposit["district_id"],
        "statement_frequency": deposit["statement_frequency"],
    }
    return pa.concat_tables(
        [_shape(deposit_rows), _loans(src, owner, acc), _cards(src, acc)]
    ).sort_by([("account_id", "ascending"), ("customer_id", "ascending")])


def _loans(src: files.Berka, owner: dict[int, int], acc: pa.Table) -> pa.Table:
    loan = src.loan.join(acc.select(["account_id", "district_id"]), "account_id")
    n = loan.num_rows
    status = loan["status"].to_pylist()
    granted = loan["date"].to_pylist()
    months = loan["duration"].to_pylist()
    closed = [
        common.add_months(g, m) if s in ("A", "B") else None
        for g, m, s in zip(granted, months, status, strict=True)
    ]
    return _shape(
        {
            "account_id": pc.add(loan["loan_id"], LOAN_ID_OFFSET),
            "customer_id": pa.array([owner[a] for a in loan["account_id"].to_pylist()], pa.int64()),
            "product_id": common.constant("LOAN-PERSONAL", n, pa.string()),
            "opened_on": loan["date"],
            "closed_on": pa.array(closed, pa.date32()),
            "status": pa.array([LOAN_STATUS[s] for s in status], pa.string()),
            "principal": loan["amount"],
            "disp_type": common.constant("OWNER", n, pa.string()),
            "base_account_id": loan["account_id"],
            "source_table": common.constant("loan", n, pa.string()),
            "source_id": loan["loan_id"],
            "district_id": loan["district_id"],
            "loan_status": loan["status"],
            "loan_duration_months": loan["duration"],
            "loan_monthly_payment": loan["payments"],
        }
    )


def _cards(src: files.Berka, acc: pa.Table) -> pa.Table:
    disp = src.disp.rename_columns(["disp_id", "customer_id", "base_account_id", "disp_type"])
    card = src.card.join(disp, "disp_id").join(
        acc.select(["account_id", "district_id"]), "base_account_id", "account_id"
    )
    n = card.num_rows
    product = pc.binary_join_element_wise("CARD-", pc.utf8_upper(card["type"]), "")
    return _shape(
        {
            "account_id": pc.add(card["card_id"], CARD_ID_OFFSET),
            "customer_id": card["customer_id"],
            "product_id": product,
            "opened_on": card["issued"],
            "status": common.constant("open", n, pa.string()),
            "disp_id": card["disp_id"],
            "disp_type": card["disp_type"],
            "base_account_id": card["base_account_id"],
            "source_table": common.constant("card", n, pa.string()),
            "source_id": card["card_id"],
            "district_id": card["district_id"],
            "card_type": card["type"],
        }
    )


def _shape(columns: dict[str, pa.Array | pa.ChunkedArray]) -> pa.Table:
    """Canonical account columns then the Berka extras, nulls where a kind has no value."""
    n = len(columns["account_id"])
    schema = pa.schema(
        [
            ("account_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("product_id", pa.string()),
            ("opened_on", pa.date32()),
            ("closed_on", pa.date32()),
            ("status", pa.string()),
            ("principal", pa.float64()),
            *_ACCOUNT_EXTRAS.items(),
        ]
    )
    arrays = [
        pc.cast(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
