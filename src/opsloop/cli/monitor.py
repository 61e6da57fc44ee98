"""`opsloop monitor …`: uplift reports, saved-report refresh and metric alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from opsloop.cli.output import print_json
from opsloop.settings import get_settings

app = typer.Typer(help="Monitoring center (运营监控中心).", no_args_is_help=True)


@app.command("uplift")
def uplift(
    treatment: Annotated[str, typer.Option(help="treated arm, e.g. 'Womens E-Mail'")],
    control: Annotated[str, typer.Option(help="control arm, e.g. 'No E-Mail'")],
    outcome: Annotated[str, typer.Option(help="outcome metric, e.g. visit")],
    dataset: Annotated[str | None, typer.Option(help="dataset, e.g. hillstrom")] = None,
    experiment: Annotated[str | None, typer.Option(help="experiment id (default: all)")] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="customer column (repeatable)")
    ] = None,
    test_share: Annotated[float, typer.Option(help="held-out share")] = 0.3,
    seed: Annotated[int, typer.Option(help="split and model seed")] = 0,
    points: Annotated[int, typer.Option(help="Qini curve points in the output")] = 20,
) -> None:
    """Fit T-learner and class-transformation uplift models; Qini/AUUC on the held-out part."""
    from opsloop.monitor.uplift.service import uplift_report
    from opsloop.warehouse import Warehouse

    wh = Warehouse.open(get_settings().warehouse, read_only=True)
    try:
        report = uplift_report(
            wh=wh,
            dataset=dataset,
            experiment_id=experiment,
            treatment=treatment,
            control=control,
            outcome=outcome,
            features=feature or None,
            test_share=test_share,
            seed=seed,
            points=points,
        )
    finally:
        wh.close()
    print_json(report)
