"""`opsloop tag ...`: create, edit, archive tags; list the catalogue; run; import ids; prune.

Runs write the warehouse, so they need it free (stop `opsloop serve`, or call
``POST /api/v1/tags/run``); the CLI acts as the local operator, and every change is
audited like an API call.
"""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table as RichTable

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.output import print_json
from opsloop.errors import InvalidInputError
from opsloop.settings import get_settings

app = typer.Typer(
    help="Tags (标签): create, update, archive, list, run, import manual id lists, prune.",
    no_args_is_help=True,
)


class OutFormat(StrEnum):
    json = "json"
    table = "table"


FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")]


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(path)) from None


def _store() -> Any:
    from opsloop.store import Store

    return Store.open(get_settings().database_url)


@app.command("create")
def create_cmd(
    file: Annotated[
        Path, typer.Argument(help="tag definition(s): an object or a list", exists=True)
    ],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Validate and save the tag(s) in FILE (a JSON object, or a list of them)."""
    from opsloop.insight.tags.service import create_tag

    doc = _load(file)
    docs = doc if isinstance(doc, list) else [doc]
    store = _store()
    try:
        made = [create_tag(store=store, doc=d, principal=LOCAL_OPERATOR) for d in docs]
    finally:
        store.close()
    if fmt is OutFormat.json:
        print_json([m.model_dump(mode="json") for m in made])
        return
    for m in made:
        Console(file=sys.stdout).print(f"created tag {m.name} ({m.type}, {m.value_type})")


@app.command("update")
def update_cmd(
    name: Annotated[str, typer.Argument(help="the tag to change")],
    file: Annotated[Path, typer.Argument(help="JSON object of the fields to change", exists=True)],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Change a tag's description, owner, schedule, rule … (a new version; audited)."""
    from opsloop.insight.tags.service import update_tag

    store = _store()
    try:
        info = update_tag(store=store, name=name, changes=_load(file), principal=LOCAL_OPERATOR)
    finally:
        store.close()
    if fmt is OutFormat.json:
        print_json(info.model_dump(mode="json"))
        return
    Console(file=sys.stdout).print(f"tag {info.name} is now version {info.version}")


@app.command("archive")
def archive_cmd(
    name: Annotated[str, typer.Argument(help="the tag to archive")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Archive a tag (refused while a segment or journey uses it, naming them; audited)."""
    from opsloop.insight.tags.service import archive_tag

    store = _store()
    try:
        info = archive_tag(store=store, name=name, principal=LOCAL_OPERATOR)
    finally:
        store.close()
    if fmt is OutFormat.json:
        print_json(info.model_dump(mode="json"))
        return
    Console(file=sys.stdout).print(f"archived tag {info.name} (version {info.version})")


@app.command("versions")
def versions_cmd(name: Annotated[str, typer.Argument(help="a tag")]) -> None:
    """Every definition the tag has had, oldest first (JSON)."""
    from opsloop.insight.tags.service import tag_versions

    store = _store()
    try:
        print_json([v.model_dump(mode="json") for v in tag_versions(store=store, name=name)])
    finally:
        store.close()


@app.command("prune")
def prune_cmd(
    keep_days: Annotated[
        int | None, typer.Option(help="days of daily values to keep (default: the setting)")
    ] = None,
    today: Annotated[str | None, typer.Option(help="count back from this day (YYYY-MM-DD)")] = None,
    dataset: Annotated[str | None, typer.Option(help="warehouse dataset")] = None,
) -> None:
    """Drop daily tag values older than the retention (latest day and run reports kept)."""
    from opsloop.insight.segments.service import data_as_of
    from opsloop.insight.tags.service import prune_history
    from opsloop.warehouse import Warehouse

    keep = keep_days if keep_days is not None else get_settings().tag_retention_days
    if keep is None:
        raise InvalidInputError(
            "give --keep-days or set OPSLOOP_TAG_RETENTION_DAYS", where="--keep-days"
        )
    store = _store()
    wh = Warehouse.open(get_settings().warehouse)
    try:
        day = _day(today, "--today") or data_as_of(wh=wh, dataset=dataset)
        n = prune_history(store=store, wh=wh, keep_days=keep, today=day,
                          principal=LOCAL_OPERATOR, dataset=dataset)  # fmt: skip
    finally:
        wh.close()
        store.close()
    print_json({"keep_days": keep, "today": day.isoformat(), "rows_dropped": n})


@app.command("list")
def list_cmd(
    category: Annotated[str | None, typer.Option(help="only this category subtree")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="include archived tags")] = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """The catalogue with each tag's latest run (coverage)."""
    from opsloop.insight.tags.service import list_tags

    store = _store()
    try:
        tags = list_tags(store=store, category=category, include_archived=archived)
    finally:
        store.close()
    if fmt is OutFormat.json:
        print_json([t.model_dump(mode="json") for t in tags])
        return
    t = RichTable("name", "title", "category", "type", "value", "owner", "last run", "coverage")
    for tag in tags:
        run = tag.last_run
        t.add_row(
            tag.name,
            tag.title,
            tag.category,
            tag.type,
            tag.value_type,
            tag.owner,
            str(run.as_of) if run else "-",
            f"{run.coverage:.1%}" if run else "-",
        )
    Console(file=sys.stdout).print(t)


@app.command("run")
def run_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="tags to run")] = None,
    all_: Annotated[bool, typer.Option("--all", help="run every tag in the catalogue")] = False,
    due: Annotated[
        bool, typer.Option("--due", help="run the tags whose schedule fired since their last run")
    ] = False,
    as_of: Annotated[str | None, typer.Option(help="day to compute (YYYY-MM-DD)")] = None,
    dataset: Annotated[str | None, typer.Option(help="warehouse dataset")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Compute tags for a day (default: the day of the latest transaction) and print coverage."""
    from opsloop.insight.segments.service import data_as_of
    from opsloop.insight.tags.service import due_tags, run_tags
    from opsloop.warehouse import Warehouse

    if sum((bool(names), all_, due)) != 1:
        raise InvalidInputError("name the tags to run, or give --all or --due", where="names")
    day = _day(as_of)
    store = _store()
    if due:
        names = due_tags(store=store, now=dt.datetime.now(dt.UTC))
        if not names:
            store.close()
            if fmt is OutFormat.json:
                print_json({"as_of": None, "runs": []})
            return
    wh = Warehouse.open(get_settings().warehouse)
    try:
        day = day or data_as_of(wh=wh, dataset=dataset)
        runs = run_tags(
            store=store,
            wh=wh,
            names=None if all_ else names,
            as_of=day,
            principal=LOCAL_OPERATOR,
            dataset=dataset,
            retention_days=get_settings().tag_retention_days,
        )
    finally:
        wh.close()
        store.close()
    if fmt is OutFormat.json:
        print_json({"as_of": day.isoformat(), "runs": [r.model_dump(mode="json") for r in runs]})
        return
    t = RichTable("tag", "as of", "with value", "coverage", "distribution", title=f"tags {day}")
    for r in runs:
        dist = orjson.dumps(r.distribution).decode()
        t.add_row(
            r.tag,
            str(r.as_of),
            str(r.with_value),
            f"{r.coverage:.1%}",
            dist[:80] + ("…" if len(dist) > 80 else ""),
        )
    Console(file=sys.stdout).print(t)


@app.command("import")
def import_cmd(
    name: Annotated[str, typer.Argument(help="a manual tag")],
    file: Annotated[
        Path, typer.Argument(help="customer ids: one per line (CSV, header ok)", exists=True)
    ],
) -> None:
    """Replace a manual tag's customer list with the ids in FILE."""
    from opsloop.insight.tags.service import import_ids

    ids = _ids(file)
    store = _store()
    try:
        n = import_ids(store=store, name=name, ids=ids, principal=LOCAL_OPERATOR)
    finally:
        store.close()
    print_json({"tag": name, "customer_ids": n})


def _day(text: str | None, option: str = "--as-of") -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a date (YYYY-MM-DD)", where=option) from None


def _ids(file: Path) -> list[int]:
    out = []
    for i, line in enumerate(file.read_text(encoding="utf-8-sig").splitlines(), start=1):
        cell = line.split(",")[0].strip()
        if not cell or (i == 1 and not cell.isdigit()):
            continue  # blank lines and a header
        if not cell.isdigit():
            raise InvalidInputError(f"{cell!r} is not a customer id", where=f"{file}:{i}")
        out.append(int(cell))
    return out
