"""`opsloop model train ...`: fit a model, print its held-out quality, write its scores."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from opsloop.cli.output import print_json
from opsloop.settings import get_settings

app = typer.Typer(help="Models: churn warning, propensity, real-data checks.", no_args_is_help=True)


class Task(StrEnum):
    churn = "churn"
    propensity = "propensity"
    bank_marketing = "bank-marketing"
    berka_default = "berka-default"


class OutFormat(StrEnum):
    json = "json"
    table = "table"


@app.command("train")
def train_cmd(
    task: Annotated[
        Task, typer.Argument(help="churn | propensity | bank-marketing | berka-default")
    ],
    dataset: Annotated[str | None, typer.Option(help="dataset (schema) to learn from")] = None,
    write: Annotated[
        bool, typer.Option("--write/--no-write", help="write model_scores (customer models)")
    ] = True,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")] = (
        OutFormat.table
    ),
) -> None:
    """Train TASK, print held-out ROC AUC / PR-AUC / top-decile lift and feature gains."""
    from opsloop.insight.models import train
    from opsloop.warehouse import Warehouse

    wh = Warehouse.open(get_settings().warehouse)
    try:
        report, _ = train(task.value, wh=wh, dataset=dataset, write=write)
    finally:
        wh.close()
    if fmt is OutFormat.json:
        print_json(report.as_dict())
        return
    out = Console(file=sys.stdout)
    out.print(f"{report.task}: {report.rows} rows; {report.split}")
    t = RichTable("split", "n", "positives", "ROC AUC", "PR-AUC", "lift@10%")
    for name, m in report.metrics.items():
        t.add_row(name, str(m.n), str(m.positives), f"{m.roc_auc:.3f}", f"{m.pr_auc:.3f}",
                  f"{m.lift_top_decile:.2f}")  # fmt: skip
    out.print(t)
    g = RichTable("feature", "gain", title="feature importance (gain)")
    for name, gain in report.importance.items():
        g.add_row(name, f"{gain:.1f}")
    out.print(g)
    for note in report.notes:
        out.print(f"note: {note}")
    if report.scored:
        out.print(f"wrote {report.scored} rows to model_scores")
