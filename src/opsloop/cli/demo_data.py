"""What the demo bank needs so every page of the console shows something on `make run`.

A bank loads its own campaign exposure tables and trains its own models; the demo bank
has neither until someone runs the commands. So ``opsloop demo`` makes them once, when
missing: the fund-reach campaign's exposure table (read by 实验结果 and 活动ROI, see
:mod:`opsloop.synth.exposure`) and the churn and propensity scores (流失预警 / 高潜客户,
``opsloop model train churn|propensity``). A second `make run` finds them and skips this.
"""

from __future__ import annotations

from collections.abc import Callable

from opsloop.settings import Settings


def ensure_demo_data(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """Write what is missing of the exposure table and model scores; returns what was made."""
    from opsloop.insight.models import train
    from opsloop.insight.models.scores import TABLE as SCORES
    from opsloop.synth.exposure import EXPOSURE_TABLE, write_exposure_table
    from opsloop.warehouse import Warehouse

    made: list[str] = []
    wh = Warehouse.open(settings.warehouse)
    try:
        tables = set(wh.tables())
        if {"experiment_assignments", "experiment_outcomes"} <= tables and (
            EXPOSURE_TABLE not in tables
        ):
            say(f"writing {EXPOSURE_TABLE} (the demo campaign, for the experiment and ROI pages)")
            write_exposure_table(wh)
            made.append(EXPOSURE_TABLE)
        if SCORES not in tables:
            for task in ("churn", "propensity"):
                say(f"training the {task} model (the console's churn / high-potential lists) …")
                train(task, wh=wh, write=True)
                made.append(f"{SCORES}:{task}")
    finally:
        wh.close()
    return made
