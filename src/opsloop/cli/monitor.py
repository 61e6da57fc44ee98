"""`opsloop monitor …`: uplift reports, saved-report refresh and metric alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from opsloop.cli.local import open_local
from opsloop.cli.output import print_json
from opsloop.settings import get_settings

if TYPE_CHECKING:
    pass

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


@app.command("refresh")
def refresh() -> None:
    """Refresh every saved report whose schedule is due (run it from cron or a timer)."""
    from opsloop.access.clock import utcnow
    from opsloop.monitor.dashboards.reports import refresh_due

    with open_local() as (store, wh):
        print_json({"refreshed": refresh_due(store=store, wh=wh, now=utcnow())})


@app.command("alerts")
def check_alerts() -> None:
    """Check every enabled metric alert for yesterday; fired ones go to the Reach outbox."""
    from opsloop.access.clock import utcnow
    from opsloop.monitor.dashboards.alerts import check_due

    with open_local() as (store, wh):
        print_json({"checks": check_due(store=store, wh=wh, now=utcnow())})


@app.command("health")
def health(
    grace_minutes: Annotated[int, typer.Option(help="overdue timers beyond this are stuck")] = 60,
    days: Annotated[int, typer.Option(help="days of suppression history")] = 14,
) -> None:
    """Journey health: stuck customers, failed sends, suppression spikes."""
    from opsloop.access.clock import utcnow
    from opsloop.monitor.dashboards.health import journey_health
    from opsloop.store import Store

    store = Store.open(get_settings().database_url)
    try:
        print_json(
            journey_health(store=store, now=utcnow(), grace_minutes=grace_minutes, days=days)
        )
    finally:
        store.close()


@app.command("campaign")
def campaign(
    table: Annotated[str, typer.Option(help="exposure table, one row per customer")],
    campaign: Annotated[str, typer.Option(help="campaign name in the Reach outbox")],
    treated: Annotated[str, typer.Option(help="treated arm")],
    holdout: Annotated[str, typer.Option(help="holdout arm")],
    activity: Annotated[str | None, typer.Option(help="activity id of its benefits")] = None,
    dataset: Annotated[str | None, typer.Option(help="dataset")] = None,
    fixed_cost: Annotated[float, typer.Option(help="set-up cost")] = 0.0,
) -> None:
    """Incremental effect vs the holdout, costs from the ledgers, ROI."""
    from opsloop.monitor.campaign import campaign_evaluation

    with open_local() as (store, wh):
        print_json(
            campaign_evaluation(
                wh=wh,
                store=store,
                table=table,
                campaign=campaign,
                treated=treated,
                holdout=holdout,
                activity_id=activity,
                dataset=dataset,
                fixed_cost=fixed_cost,
            )
        )
