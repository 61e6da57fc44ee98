"""The file-upload entry (``file_entry``): a list of customer ids enters a running journey.

All or nothing: the file is parsed and every id checked against the caller's data scope
before anyone enters, so a bad line, a bad column or one id outside the scope enters
nobody. The entry key is derived from the node and the ids the file holds (not its
bytes), so a retried upload — even re-saved with other line endings or order — is the
same entry, and the journey's re-entry rules keep anyone from entering twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from opsloop.access import audit
from opsloop.access.csvsafe import DANGEROUS
from opsloop.access.principal import Principal
from opsloop.errors import InvalidInputError
from opsloop.store import Store
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import Ports, RunContext, enter
from opsloop.strategy.journey import JourneyDefinition
from opsloop.strategy.policy import ContactPolicy
from opsloop.warehouse import Warehouse

MAX_FILE_BYTES = 32 * 1024 * 1024  # 1,000,000 ids of 18 digits fit with room for other columns
_ID = re.compile(r"^[0-9]{1,18}$")  # ASCII digits only: int() would take ４２ or ' 4_2 '


@dataclass(frozen=True)
class EntryFile:
    """A parsed upload: unique ids (sorted), the first line of each, and what was read."""

    ids: npt.NDArray[np.int64]
    lines: dict[int, int]
    rows: int
    sha256: str


@dataclass(frozen=True)
class UploadResult:
    journey_id: str
    version: int
    node: str
    entry_key: str
    rows: int
    unique_ids: int
    entered: int
    control: int
    skipped_reentry: int
    stats: dict[str, dict[str, int]]


def _text(data: bytes) -> str:
    if not data.strip():
        raise InvalidInputError("the file is empty", where="file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInputError(f"the file is over {MAX_FILE_BYTES} bytes", where="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError("the file is not UTF-8 text", where=f"file line {line}") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInputError("a NUL byte in a text file", where=f"file line {line}")
    return text


def _id_cell(cell: str, line: int, column: str) -> int:
    where = f"file line {line}, column {column}"
    if cell.startswith(DANGEROUS) and not _ID.match(cell):
        raise InvalidInputError(
            f"{cell[:40]!r} looks like a spreadsheet formula, not a customer id", where=where
        )
    if not _ID.match(cell):
        raise InvalidInputError(f"{cell[:40]!r} is not a customer id (digits)", where=where)
    return int(cell)


def parse(data: bytes, *, id_column: str = "customer_id", max_rows: int = 100_000) -> EntryFile:
    """Customer ids from a CSV with a header naming ``id_column``, or one id per line.

    The first non-blank line is a header unless it is a single id. Blank lines are
    skipped; every other line must hold an id in the id column.

    Raises:
        InvalidInputError: ``where`` names the line (and column) of the first problem.
    """
    text = _text(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    col: int | None = None
    col_name = id_column
    found: list[int] = []
    lines: dict[int, int] = {}
    try:
        for row in reader:
            n = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if col is None:
                cells = [c.strip() for c in row]
                if len(cells) == 1 and _ID.match(cells[0]):
                    col, col_name = 0, "1"
                else:
                    names = [c.lower() for c in cells]
                    if id_column.lower() not in names:
                        shown = ", ".join(repr(c[:40]) for c in cells[:10])
                        raise InvalidInputError(
                            f"no column {id_column!r} in the header (it has {shown}); "
                            "give a header with it, or one id per line",
                            where=f"file line {n}",
                        )
                    col = names.index(id_column.lower())
                    continue
            if col >= len(row) or not row[col].strip():
                raise InvalidInputError(
                    f"no value in column {col_name}", where=f"file line {n}, column {col_name}"
                )
            if len(found) >= max_rows:
                raise InvalidInputError(
                    f"more than {max_rows} ids (the node's max_rows)", where=f"file line {n}"
                )
            cid = _id_cell(row[col].strip(), n, col_name)
            found.append(cid)
            lines.setdefault(cid, n)
    except csv.Error as exc:
        raise InvalidInputError(
            f"not a readable CSV: {exc}", where=f"file line {reader.line_num}"
        ) from None
    if not found:
        raise InvalidInputError("no customer ids in the file", where="file")
    ids = np.unique(np.array(found, dtype=np.int64))
    return EntryFile(ids, lines, len(found), hashlib.sha256(data).hexdigest())


def entry_key(node_id: str, ids: npt.NDArray[np.int64]) -> str:
    """``file:`` + 40 hex of sha256(node id, sorted unique ids): the same list is the same entry."""
    h = hashlib.sha256(node_id.encode() + b"\n")
    h.update(np.ascontiguousarray(np.sort(ids).astype("<i8")).tobytes())
    return f"file:{h.hexdigest()[:40]}"


def file_node(defn: JourneyDefinition, node_id: str | None) -> Any:
    """The ``file_entry`` node named, or the journey's only one when none is named."""
    mine = [n for n in defn.nodes if n.kind == "file_entry"]
    if node_id is None:
        if len(mine) == 1:
            return mine[0]
        have = ", ".join(n.id for n in mine) or "none"
        raise InvalidInputError(
            f"name the file_entry node (this journey has: {have})", where="node"
        )
    try:
        node = defn.node(node_id)
    except KeyError:
        raise InvalidInputError(
            f"journey {defn.id!r} has no node {node_id!r}", where="node"
        ) from None
    if node.kind != "file_entry":
        raise InvalidInputError(
            f"node {node_id!r} is a {node.kind}, not a file_entry", where="node"
        )
    return node


def outside_scope(wh: Warehouse, principal: Principal, f: EntryFile, at: dt.datetime) -> None:
    """Refuse the file when any id is not a customer the caller may see (absent and out of
    scope read alike, so the answer reveals nothing about customers beyond the scope)."""
    scoped = WarehouseData(wh, as_of=at, principal=principal).customers().select("customer_id")
    mine = wh.execute(scoped).column("customer_id").to_numpy().astype(np.int64)
    bad = f.ids[~np.isin(f.ids, mine)]
    if not len(bad):
        return
    first = sorted(bad.tolist(), key=lambda i: f.lines[i])
    shown = ", ".join(f"{i} (line {f.lines[i]})" for i in first[:10])
    more = f" and {len(first) - 10} more" if len(first) > 10 else ""
    raise InvalidInputError(
        f"{len(first)} id(s) are not customers in your data scope: {shown}{more}; nobody entered",
        where=f"file line {f.lines[first[0]]}",
    )


def upload(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    defn: JourneyDefinition,
    node_id: str | None,
    data: bytes,
    filename: str,
    now: dt.datetime,
    policy: ContactPolicy,
    ports: Ports,
    ip: str | None = None,
) -> UploadResult:
    """Check the whole file, then enter its ids at the node of the running ``defn``; audited."""
    node = file_node(defn, node_id)
    f = parse(data, id_column=node.config.id_column, max_rows=node.config.max_rows)
    outside_scope(wh, principal, f, now)
    key = entry_key(node.id, f.ids)
    res = enter(
        sessions=store.session,
        journey=defn,
        entry_node=node.id,
        ids=f.ids,
        data=WarehouseData(wh, as_of=now, principal=principal),
        ports=ports,
        ctx=RunContext(now=now, entry_key=key, policy=policy),
    )
    out = UploadResult(
        defn.id,
        defn.version,
        node.id,
        key,
        f.rows,
        len(f.ids),
        res.entered,
        res.control,
        res.skipped_reentry,
        res.stats,
    )
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="journey.upload",
            target_type="journey",
            target_id=f"{defn.id}@v{defn.version}/{node.id}",
            ip=ip,
            after={
                "file": filename[:200],
                "sha256": f.sha256,
                "entry_key": key,
                "rows": f.rows,
                "unique_ids": len(f.ids),
                "entered": res.entered,
                "control": res.control,
                "skipped_reentry": res.skipped_reentry,
            },
        )
    return out
