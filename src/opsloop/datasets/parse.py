"""Strict reading of delimited text files with errors that point at file:line:column.

Files are read with every column as text (fast, via ``pyarrow.csv``), then each column
is converted by a vectorised cast. Only when a cast fails do we scan that one column in
Python to find the first offending row, so the happy path stays columnar and an error
still names ``file:line:col N (name)`` and the bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from opsloop.errors import InvalidInputError

_ENCODING = "utf-8"


@dataclass(frozen=True)
class RawFile:
    """A file's rows as text columns, named as in its header; row 0 is on ``first_line``."""

    path: Path
    table: pa.Table
    first_line: int = 2

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def text(self, column: str) -> pa.Array:
        """The column's values as text with surrounding whitespace removed."""
        arr = self.table.column(column).combine_chunks()
        return pc.utf8_trim_whitespace(arr)

    def where(self, row: int, column: str | None = None) -> str:
        line = f"{self.path.name}:{row + self.first_line}"
        if column is None:
            return line
        return f"{line}:col {self.table.column_names.index(column) + 1} ({column})"

    def fail(self, row: int, column: str | None, message: str) -> InvalidInputError:
        return InvalidInputError(message, where=self.where(row, column))


def require_file(path: Path) -> Path:
    """The path itself if it is a readable file, else a clear error naming it."""
    if not path.is_file():
        raise InvalidInputError(f"file not found: {path}", where=path.name)
    return path


def read_delimited(path: Path, columns: Sequence[str], *, delimiter: str) -> RawFile:
    """Read ``path`` whose header must be exactly ``columns`` (a trailing empty name is allowed).

    Raises:
        InvalidInputError: missing file, header mismatch, or a row with the wrong number
            of fields (named by its line), or text that is not valid CSV.
    """
    require_file(path)
    with path.open("rb") as fh:
        header_line = fh.readline().decode(_ENCODING, errors="replace").rstrip("\r\n")
    names = [n.strip().strip('"').strip() for n in header_line.split(delimiter)]
    if len(names) > len(columns) and names[-1] == "":
        names = names[:-1]  # e.g. bank-full.csv: the header ends in a stray delimiter
    for i, expected in enumerate(columns):
        found = names[i] if i < len(names) else None
        if found != expected:
            got = "nothing" if found is None else repr(found)
            raise InvalidInputError(
                f"header: expected column {expected!r}, found {got}",
                where=f"{path.name}:1:col {i + 1}",
            )
    if len(names) > len(columns):
        raise InvalidInputError(
            f"header: unexpected column {names[len(columns)]!r}",
            where=f"{path.name}:1:col {len(columns) + 1}",
        )

    bad_rows: list[tuple[int, int, str]] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append((int(row.number or 0), int(row.actual_columns), str(row.text)))
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=list(columns), skip_rows=1, use_threads=False, encoding=_ENCODING
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_invalid, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"not a valid delimited file: {exc}", where=path.name) from exc
    if bad_rows:  # the column is the first missing (or first surplus) field
        number, actual, _text = bad_rows[0]
        raise InvalidInputError(
            f"expected {len(columns)} fields separated by {delimiter!r}, found {actual}",
            where=f"{path.name}:{number}:col {min(actual, len(columns)) + 1}",
        )
    return RawFile(path, _without_blank_lines(path, table))


def _without_blank_lines(path: Path, table: pa.Table) -> pa.Table:
    """Drop blank lines at the end of the file; one anywhere else is an error."""
    if table.num_rows == 0:
        return table
    blank = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        blank &= np.asarray(pc.equal(column.combine_chunks(), "").fill_null(False))
    keep = table.num_rows
    while keep and blank[keep - 1]:
        keep -= 1
    row = _first(blank[:keep])
    if row is not None:
        raise InvalidInputError("blank line inside the data", where=f"{path.name}:{row + 2}")
    return table.slice(0, keep)


# -- column conversions: each returns an Arrow array or raises at the first bad row ----------


def _first(mask: pa.Array | np.ndarray[Any, Any]) -> int | None:
    values = mask if isinstance(mask, np.ndarray) else np.asarray(mask.fill_null(False))
    hits = np.flatnonzero(values)
    return int(hits[0]) if hits.size else None


def _nulled(raw: RawFile, column: str, null_tokens: Sequence[str], nullable: bool) -> pa.Array:
    """Trimmed text with empty (and ``null_tokens``) values as nulls; errors if not ``nullable``."""
    text = raw.text(column)
    empty = pc.is_in(text, value_set=pa.array(["", *null_tokens], pa.string()))
    row = _first(empty)
    if row is None:
        return text
    if not nullable:
        raise raw.fail(row, column, "a value is required here, found nothing")
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def _cast(
    raw: RawFile,
    column: str,
    text: pa.Array,
    type_: pa.DataType,
    ok: Callable[[str], bool],
    what: str,
) -> pa.Array:
    try:
        return pc.cast(text, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for i, value in enumerate(text.to_pylist()):
            if value is not None and not ok(value):
                raise raw.fail(i, column, f"{value!r} is not {what}") from None
        raise


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return -(2**63) <= int(value) < 2**63


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def ints(
    raw: RawFile, column: str, *, nullable: bool = False, null_tokens: Sequence[str] = ()
) -> pa.Array:
    """Whole numbers (int64)."""
    text = _nulled(raw, column, null_tokens, nullable)
    return _cast(raw, column, text, pa.int64(), _is_int, "a whole number")


def floats(
    raw: RawFile, column: str, *, nullable: bool = False, null_tokens: Sequence[str] = ()
) -> pa.Array:
    """Finite decimal numbers (float64)."""
    text = _nulled(raw, column, null_tokens, nullable)
    values = _cast(raw, column, text, pa.float64(), _is_float, "a number")
    row = _first(pc.invert(pc.is_finite(values)))
    if row is not None:
        raise raw.fail(row, column, f"{text[row].as_py()!r} is not a finite number")
    return values


def strings(raw: RawFile, column: str, *, nullable: bool = True) -> pa.Array:
    """Trimmed text; empty → null."""
    return _nulled(raw, column, (), nullable)


def codes(raw: RawFile, column: str, mapping: Mapping[str, Any], type_: pa.DataType) -> pa.Array:
    """A closed vocabulary: each value must be a key of ``mapping`` and becomes its value."""
    text = raw.text(column)
    keys = pa.array(list(mapping), pa.string())
    idx = pc.index_in(text, value_set=keys)
    row = _first(pc.is_null(idx))
    if row is not None:
        allowed = ", ".join(repr(k) for k in mapping)
        raise raw.fail(row, column, f"{text[row].as_py()!r} is not one of {allowed}")
    return pc.take(pa.array(list(mapping.values()), type_), idx)


def yymmdd(raw: RawFile, column: str, *, century: int = 19, time_suffix: bool = False) -> pa.Array:
    """Dates written ``YYMMDD`` (optionally followed by `` HH:MM:SS``), as date32."""
    text = raw.text(column)
    pattern = r"^\d{6}( \d{2}:\d{2}:\d{2})?$" if time_suffix else r"^\d{6}$"
    shaped = pc.match_substring_regex(text, pattern)
    full = pc.binary_join_element_wise(str(century), pc.utf8_slice_codeunits(text, 0, 6), "")
    parsed = pc.strptime(full, format="%Y%m%d", unit="s", error_is_null=True)
    # strptime rolls 930231 over into March: a round trip catches impossible days.
    same = pc.equal(pc.strftime(parsed, format="%Y%m%d"), full)
    row = _first(pc.invert(pc.and_kleene(shaped, same.fill_null(False))))
    if row is not None:
        raise raw.fail(row, column, f"{text[row].as_py()!r} is not a date (YYMMDD)")
    return pc.cast(parsed, pa.date32())


def unique(raw: RawFile, column: str, values: pa.Array) -> None:
    """Ids must not repeat: the error names the line of the second occurrence."""
    seen = np.asarray(values)
    _, first_index = np.unique(seen, return_index=True)
    if first_index.size == seen.size:
        return
    dup = np.ones(seen.size, dtype=bool)
    dup[first_index] = False
    row = int(np.flatnonzero(dup)[0])
    raise raw.fail(row, column, f"duplicate id {seen[row]!r}")


def references(raw: RawFile, column: str, values: pa.Array, known: pa.Array, what: str) -> None:
    """Every value must be one of ``known`` (a foreign key into another file)."""
    row = _first(pc.invert(pc.is_in(values, value_set=known)))
    if row is not None:
        raise raw.fail(row, column, f"{values[row].as_py()!r} is not a known {what}")
