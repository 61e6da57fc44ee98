"""The strict reader: every bad input names file:line:column, good input parses columnar."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop.datasets.parse import (
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

COLS = ("id", "amount", "day", "kind")


def _file(tmp_path: Path, text: str, name: str = "t.asc") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n").encode())
    return path


def _where(exc: pytest.ExceptionInfo[InvalidInputError]) -> str | None:
    return exc.value.where


def test_good_file_parses(tmp_path: Path) -> None:
    raw = read_delimited(
        _file(tmp_path, '"id";"amount";"day";"kind"\n1;2.50;930101;"A"\n2;;930228;"B"\n'),
        COLS,
        delimiter=";",
    )
    assert ints(raw, "id").to_pylist() == [1, 2]
    assert floats(raw, "amount", nullable=True).to_pylist() == [2.5, None]
    assert yymmdd(raw, "day").to_pylist() == [date(1993, 1, 1), date(1993, 2, 28)]
    assert codes(raw, "kind", {"A": "a", "B": "b"}, pa.string()).to_pylist() == ["a", "b"]
    assert strings(raw, "kind").to_pylist() == ["A", "B"]


def test_trailing_blank_lines_are_fine(tmp_path: Path) -> None:
    raw = read_delimited(
        _file(tmp_path, "id;amount;day;kind\n1;2;930101;A\n\n"), COLS, delimiter=";"
    )
    assert raw.num_rows == 1


@pytest.mark.parametrize(
    ("body", "convert", "where", "says"),
    [
        (
            "1;x1;930101;A",
            lambda r: floats(r, "amount"),
            "t.asc:3:col 2 (amount)",
            "'x1' is not a number",
        ),
        ("1;nan;930101;A", lambda r: floats(r, "amount"), "t.asc:3:col 2 (amount)", "not a finite"),
        ("1.5;1;930101;A", lambda r: ints(r, "id"), "t.asc:3:col 1 (id)", "not a whole number"),
        ("1;1;930231;A", lambda r: yymmdd(r, "day"), "t.asc:3:col 3 (day)", "not a date"),
        ("1;1;93011;A", lambda r: yymmdd(r, "day"), "t.asc:3:col 3 (day)", "not a date"),
        ("1;;930101;A", lambda r: floats(r, "amount"), "t.asc:3:col 2 (amount)", "required"),
        (
            "1;1;930101;Z",
            lambda r: codes(r, "kind", {"A": 1}, pa.int64()),
            "t.asc:3:col 4 (kind)",
            "'Z' is not one of",
        ),
    ],
)
def test_bad_value_names_line_and_column(
    tmp_path: Path, body: str, convert: object, where: str, says: str
) -> None:
    raw = read_delimited(
        _file(tmp_path, f"id;amount;day;kind\n2;1;930101;A\n{body}\n"), COLS, delimiter=";"
    )
    with pytest.raises(InvalidInputError) as exc:
        convert(raw)  # type: ignore[operator]
    assert _where(exc) == where
    assert says in exc.value.message


def test_wrong_field_count(tmp_path: Path) -> None:
    path = _file(tmp_path, "id;amount;day;kind\n1;1;930101;A\n2;1;930101\n3;1;930101;A\n")
    with pytest.raises(InvalidInputError) as exc:
        read_delimited(path, COLS, delimiter=";")
    assert _where(exc) == "t.asc:3:col 4"
    assert "expected 4 fields" in exc.value.message


def test_blank_line_in_the_middle(tmp_path: Path) -> None:
    path = _file(tmp_path, "id;amount;day;kind\n1;1;930101;A\n\n3;1;930101;A\n")
    with pytest.raises(InvalidInputError) as exc:
        read_delimited(path, COLS, delimiter=";")
    assert (_where(exc) or "").startswith("t.asc:3")


def test_header_mismatch_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as exc:
        read_delimited(_file(tmp_path, "id;amount;kind\n1;1;A\n"), COLS, delimiter=";")
    assert _where(exc) == "t.asc:1:col 3"
    assert "expected column 'day', found 'kind'" in exc.value.message
    with pytest.raises(InvalidInputError) as exc:
        read_delimited(tmp_path / "nope.asc", COLS, delimiter=";")
    assert _where(exc) == "nope.asc"
    assert "not found" in exc.value.message


def test_unique_and_references(tmp_path: Path) -> None:
    raw = read_delimited(
        _file(tmp_path, "id;amount;day;kind\n1;1;930101;A\n2;1;930101;A\n1;9;930101;A\n"),
        COLS,
        delimiter=";",
    )
    ids = ints(raw, "id")
    with pytest.raises(InvalidInputError) as exc:
        unique(raw, "id", ids)
    assert _where(exc) == "t.asc:4:col 1 (id)"
    with pytest.raises(InvalidInputError) as exc:
        references(raw, "amount", ints(raw, "amount"), pa.array([1]), "thing")
    assert _where(exc) == "t.asc:4:col 2 (amount)"
    assert (
        "'9' is not a known thing" in exc.value.message or "9 is not a known" in exc.value.message
    )
