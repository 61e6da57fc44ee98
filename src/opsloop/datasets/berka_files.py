"""Reading Berka's eight ``.asc`` files into typed Arrow tables, cross-checked.

Each file's columns are converted strictly (a bad value names file:line:column) and
every id that points into another file is checked, so the mapping code can trust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from opsloop.datasets.parse import (
    RawFile,
    codes,
    floats,
    ints,
    read_delimited,
    references,
    strings,
    unique,
    yymmdd,
)
from opsloop.errors import InvalidInputError

TRANS_TYPES = {"PRIJEM": "in", "VYDAJ": "out", "VYBER": "out"}
FREQUENCY = {
    "POPLATEK MESICNE": "monthly",
    "POPLATEK TYDNE": "weekly",
    "POPLATEK PO OBRATU": "after_transaction",
}


@dataclass(frozen=True)
class Berka:
    """The typed contents of the folder; ``*_raw`` keep line positions for later errors."""

    district: pa.Table
    client: pa.Table
    client_raw: RawFile
    account: pa.Table
    account_raw: RawFile
    disp: pa.Table
    loan: pa.Table
    card: pa.Table
    order: pa.Table
    trans: pa.Table


def _read(folder: Path, name: str, columns: tuple[str, ...]) -> RawFile:
    return read_delimited(folder / name, columns, delimiter=";")


def _ids(raw: RawFile, column: str) -> pa.Array:
    values = ints(raw, column)
    unique(raw, column, values)
    return values


def read_all(folder: Path) -> Berka:
    """Read and check every file of the folder; raises at the first problem found."""
    if not folder.is_dir():
        raise InvalidInputError(f"folder not found: {folder}", where=folder.name)
    district = _district(folder)
    district_ids = district["district_id"].combine_chunks()

    raw = _read(folder, "client.asc", ("client_id", "birth_number", "district_id"))
    gender, birth = _birth_number(raw)
    client = pa.table(
        {
            "client_id": _ids(raw, "client_id"),
            "gender": gender,
            "birth_date": birth,
            "district_id": _district_ref(raw, district_ids),
        }
    )
    client_raw = raw

    raw = _read(folder, "account.asc", ("account_id", "district_id", "frequency", "date"))
    account = pa.table(
        {
            "account_id": _ids(raw, "account_id"),
            "district_id": _district_ref(raw, district_ids),
            "frequency": codes(raw, "frequency", FREQUENCY, pa.string()),
            "date": yymmdd(raw, "date"),
        }
    )
    account_raw = raw
    account_ids = account["account_id"].combine_chunks()

    raw = _read(folder, "disp.asc", ("disp_id", "client_id", "account_id", "type"))
    disp = pa.table(
        {
            "disp_id": _ids(raw, "disp_id"),
            "client_id": _ref(raw, "client_id", client["client_id"], "client_id (client.asc)"),
            "account_id": _ref(raw, "account_id", account_ids, "account_id (account.asc)"),
            "type": codes(raw, "type", {"OWNER": "OWNER", "DISPONENT": "DISPONENT"}, pa.string()),
        }
    )

    raw = _read(
        folder,
        "loan.asc",
        ("loan_id", "account_id", "date", "amount", "duration", "payments", "status"),
    )
    loan = pa.table(
        {
            "loan_id": _ids(raw, "loan_id"),
            "account_id": _ref(raw, "account_id", account_ids, "account_id (account.asc)"),
            "date": yymmdd(raw, "date"),
            "amount": floats(raw, "amount"),
            "duration": ints(raw, "duration"),
            "payments": floats(raw, "payments"),
            "status": codes(raw, "status", {s: s for s in "ABCD"}, pa.string()),
        }
    )
    unique(raw, "account_id", loan["account_id"].combine_chunks())  # at most one loan each

    raw = _read(folder, "card.asc", ("card_id", "disp_id", "type", "issued"))
    card = pa.table(
        {
            "card_id": _ids(raw, "card_id"),
            "disp_id": _ref(raw, "disp_id", disp["disp_id"], "disp_id (disp.asc)"),
            "type": codes(raw, "type", {t: t for t in ("junior", "classic", "gold")}, pa.string()),
            "issued": yymmdd(raw, "issued", time_suffix=True),
        }
    )

    raw = _read(
        folder,
        "order.asc",
        ("order_id", "account_id", "bank_to", "account_to", "amount", "k_symbol"),
    )
    order = pa.table(
        {
            "order_id": _ids(raw, "order_id"),
            "account_id": _ref(raw, "account_id", account_ids, "account_id (account.asc)"),
            "bank_to": strings(raw, "bank_to"),
            "account_to": strings(raw, "account_to"),
            "amount": floats(raw, "amount"),
            "k_symbol": strings(raw, "k_symbol"),
        }
    )

    raw = _read(
        folder,
        "trans.asc",
        (
            "trans_id",
            "account_id",
            "date",
            "type",
            "operation",
            "amount",
            "balance",
            "k_symbol",
            "bank",
            "account",
        ),
    )
    trans = pa.table(
        {
            "trans_id": _ids(raw, "trans_id"),
            "account_id": _ref(raw, "account_id", account_ids, "account_id (account.asc)"),
            "date": yymmdd(raw, "date"),
            "type": codes(raw, "type", {t: t for t in TRANS_TYPES}, pa.string()),
            "operation": strings(raw, "operation"),
            "amount": floats(raw, "amount"),
            "balance": floats(raw, "balance"),
            "k_symbol": strings(raw, "k_symbol"),
            "bank": strings(raw, "bank"),
            "account": strings(raw, "account"),
        }
    )
    return Berka(district, client, client_raw, account, account_raw, disp, loan, card, order, trans)


def _ref(raw: RawFile, column: str, known: pa.Array | pa.ChunkedArray, what: str) -> pa.Array:
    values = ints(raw, column)
    known_arr = known.combine_chunks() if isinstance(known, pa.ChunkedArray) else known
    references(raw, column, values, known_arr, what)
    return values


def _district_ref(raw: RawFile, district_ids: pa.Array) -> pa.Array:
    return _ref(raw, "district_id", district_ids, "district (district.asc A1)")


_DISTRICT_COLUMNS = tuple(f"A{i}" for i in range(1, 17))


def _district(folder: Path) -> pa.Table:
    """Demographics per district; '?' (unknown, district 69 in 1995) becomes null."""
    raw = _read(folder, "district.asc", _DISTRICT_COLUMNS)
    unknown = ("?",)
    table = pa.table(
        {
            "district_id": _ids(raw, "A1"),
            "name": strings(raw, "A2", nullable=False),
            "region": strings(raw, "A3", nullable=False),
            "inhabitants": ints(raw, "A4"),
            "municipalities_lt_500": ints(raw, "A5"),
            "municipalities_500_1999": ints(raw, "A6"),
            "municipalities_2000_9999": ints(raw, "A7"),
            "municipalities_ge_10000": ints(raw, "A8"),
            "cities": ints(raw, "A9"),
            "urban_ratio_pct": floats(raw, "A10"),
            "avg_salary": floats(raw, "A11"),
            "unemployment_95_pct": floats(raw, "A12", nullable=True, null_tokens=unknown),
            "unemployment_96_pct": floats(raw, "A13", nullable=True, null_tokens=unknown),
            "entrepreneurs_per_1000": ints(raw, "A14"),
            "crimes_95": ints(raw, "A15", nullable=True, null_tokens=unknown),
            "crimes_96": ints(raw, "A16", nullable=True, null_tokens=unknown),
        }
    )
    return table


def _birth_number(raw: RawFile) -> tuple[pa.Array, pa.Array]:
    """``YYMMDD`` for men, ``YY(MM+50)DD`` for women → (gender, birth date)."""
    text = raw.text("birth_number")
    shaped = pc.match_substring_regex(text, r"^\d{6}$")
    ok = shaped.to_pylist()
    for row, good in enumerate(ok):
        if not good:
            raise raw.fail(
                row, "birth_number", f"{text[row].as_py()!r} is not YYMMDD (+50 for women)"
            )
    month = pc.cast(pc.utf8_slice_codeunits(text, 2, 4), pa.int64())
    female = pc.greater(month, 50)
    real_month = pc.if_else(female, pc.subtract(month, 50), month)
    mm = pc.utf8_lpad(pc.cast(real_month, pa.string()), 2, "0")
    normal = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 2), mm, pc.utf8_slice_codeunits(text, 4, 6), ""
    )
    try:
        birth = yymmdd(
            RawFile(raw.path, raw.table.set_column(1, "birth_number", normal)), "birth_number"
        )
    except InvalidInputError as exc:  # name the value as written, not the normalised one
        row = int((exc.where or "0:0").split(":")[1]) - raw.first_line
        value = text[row].as_py()
        raise raw.fail(row, "birth_number", f"{value!r} is not a birth date") from None
    gender = pc.if_else(female, "F", "M")
    return gender, birth
