"""Corrupt copies of the real files: a clear file:line:column error, and nothing changes.

A good set is loaded first; every bad load must then leave the warehouse exactly as it
was (same tables, same content checksums) and add no DatasetLoad record.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.datasets.realdata import Target, open_target, shared_datasets

from opsloop.datasets import DEFAULT_DATASET, load
from opsloop.errors import InvalidInputError
from opsloop.store.models import DatasetLoad

pytestmark = pytest.mark.realdata

FOLDERS = {"berka": "berka", "bank-marketing": "bank-marketing", "hillstrom": "hillstrom"}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = shared_datasets()
    t = open_target(tmp_path_factory.mktemp("good"))
    for source, folder in FOLDERS.items():
        load(source, root / folder, warehouse=t.warehouse, store=t.store)
    yield t
    t.close()


def _copy(source: str, tmp_path: Path) -> Path:
    dst = tmp_path / FOLDERS[source]
    shutil.copytree(shared_datasets() / FOLDERS[source], dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def _edit_field(path: Path, line: int, field: int, value: str, sep: str) -> None:
    """Replace field ``field`` (1-based) of line ``line`` (1-based), keeping line endings."""
    lines = path.read_bytes().split(b"\n")
    parts = lines[line - 1].split(sep.encode())
    parts[field - 1] = value.encode()
    lines[line - 1] = sep.encode().join(parts)
    path.write_bytes(b"\n".join(lines))


def _edit_line(path: Path, line: int, edit: Callable[[bytes], bytes]) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = edit(lines[line - 1])
    path.write_bytes(b"\n".join(lines))


def _drop_last_field(text: bytes, sep: bytes) -> bytes:
    cr = text.endswith(b"\r")
    body = text.rstrip(b"\r").rsplit(sep, 1)[0]
    return body + (b"\r" if cr else b"")


BERKA: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "bad number",
        lambda d: _edit_field(d / "trans.asc", 1234, 6, "abc", ";"),
        "trans.asc:1234:col 6 (amount)",
        "'abc' is not a number",
    ),
    (
        "wrong column count",
        lambda d: _edit_line(d / "client.asc", 100, lambda b: _drop_last_field(b, b";")),
        "client.asc:100:col 3",
        "expected 3 fields",
    ),
    (
        "bad date",
        lambda d: _edit_field(d / "account.asc", 50, 4, "930230", ";"),
        "account.asc:50:col 4 (date)",
        "'930230' is not a date",
    ),
    (
        "bad birth number",
        lambda d: _edit_field(d / "client.asc", 7, 2, '"7x0101"', ";"),
        "client.asc:7:col 2 (birth_number)",
        "is not YYMMDD",
    ),
    (
        "impossible birth date",
        lambda d: _edit_field(d / "client.asc", 8, 2, '"706232"', ";"),  # 32 December
        "client.asc:8:col 2 (birth_number)",
        "'706232' is not a birth date",
    ),
    (
        "missing file",
        lambda d: (d / "loan.asc").unlink(),
        "loan.asc",
        "file not found",
    ),
    (
        "missing header column",
        lambda d: _edit_line(d / "card.asc", 1, lambda b: b.replace(b'"type";', b"")),
        "card.asc:1:col 3",
        "expected column 'type'",
    ),
    (
        "unknown account",
        lambda d: _edit_field(d / "disp.asc", 10, 3, "999999", ";"),
        "disp.asc:10:col 3 (account_id)",
        "999999 is not a known account_id",
    ),
    (
        "unknown transaction type",
        lambda d: _edit_field(d / "trans.asc", 40000, 4, '"XYZ"', ";"),
        "trans.asc:40000:col 4 (type)",
        "'XYZ' is not one of",
    ),
]
BANK: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "bad number",
        lambda d: _edit_field(d / "bank-full.csv", 20000, 6, "12a", ","),
        "bank-full.csv:20000:col 6 (balance)",
        "'12a' is not a number",
    ),
    (
        "bad date",
        lambda d: _edit_field(d / "bank-full.csv", 30000, 10, "31", ","),  # 31 February 2009
        "bank-full.csv:30000:col 10 (day)",
        "is not a date",
    ),
    (
        "wrong column count",
        lambda d: _edit_line(d / "bank-full.csv", 500, lambda b: b + b",extra"),
        "bank-full.csv:500:col 18",
        "expected 17 fields",
    ),
    (
        "missing header column",
        lambda d: _edit_line(d / "bank-full.csv", 1, lambda b: b.replace(b"balance,", b"")),
        "bank-full.csv:1:col 6",
        "expected column 'balance'",
    ),
    (
        "missing file",
        lambda d: (d / "bank-full.csv").unlink(),
        "bank-full.csv",
        "file not found",
    ),
]
HILLSTROM: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "bad arm",
        lambda d: _edit_field(d / "hillstrom.csv", 777, 9, "Kids E-Mail", ","),
        "hillstrom.csv:777:col 9 (segment)",
        "'Kids E-Mail' is not one of",
    ),
    (
        "extra field",
        lambda d: _edit_field(d / "hillstrom.csv", 64000, 12, "1,5", ","),
        "hillstrom.csv:64000:col 13",
        "expected 12 fields",
    ),
    (
        "bad spend",
        lambda d: _edit_field(d / "hillstrom.csv", 2, 12, "ten", ","),
        "hillstrom.csv:2:col 12 (spend)",
        "'ten' is not a number",
    ),
    (
        "missing header column",
        lambda d: _edit_line(d / "hillstrom.csv", 1, lambda b: b.replace(b"zip_code,", b"")),
        "hillstrom.csv:1:col 6",
        "expected column 'zip_code'",
    ),
    (
        "missing file",
        lambda d: (d / "hillstrom.csv").unlink(),
        "hillstrom.csv",
        "file not found",
    ),
]
CASES = [
    pytest.param(source, corrupt, where, says, id=f"{source}: {name}")
    for source, cases in (("berka", BERKA), ("bank-marketing", BANK), ("hillstrom", HILLSTROM))
    for name, corrupt, where, says in cases
]


def _loads(target: Target) -> int:
    with target.store.session() as s:
        return int(s.execute(select(func.count()).select_from(DatasetLoad)).scalar_one())


@pytest.mark.parametrize(("source", "corrupt", "where", "says"), CASES)
def test_bad_file_changes_nothing(
    target: Target,
    tmp_path: Path,
    source: str,
    corrupt: Callable[[Path], None],
    where: str,
    says: str,
) -> None:
    folder = _copy(source, tmp_path)
    corrupt(folder)
    dataset = DEFAULT_DATASET[source]
    before = target.checksums(dataset)
    records = _loads(target)
    with pytest.raises(InvalidInputError) as exc:
        load(source, folder, warehouse=target.warehouse, store=target.store)
    assert exc.value.where == where
    assert says in exc.value.message
    assert str(exc.value).startswith(f"{where}: ")
    assert target.checksums(dataset) == before
    assert _loads(target) == records
