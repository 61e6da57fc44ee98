"""``opsloop worker``: background jobs (dispatch, journeys, schedulers) in their own process."""

from __future__ import annotations

from typing import Annotated

import typer

from opsloop.cli.output import console
from opsloop.errors import OpsloopError
from opsloop.settings import get_settings


def worker(
    jobs: Annotated[
        str | None,
        typer.Option(help="comma-separated job names (default: all); see --list"),
    ] = None,
    list_jobs: Annotated[bool, typer.Option("--list", help="list the jobs and exit")] = False,
    seconds: Annotated[
        float | None, typer.Option(help="stop after this many seconds (default: run until SIGTERM)")
    ] = None,
) -> None:
    """Run background jobs until SIGTERM; start as many workers as you like."""
    from opsloop.runtime.jobs import JOB_FACTORIES, open_runtime
    from opsloop.runtime.profile import check_profile
    from opsloop.runtime.singleton import leadership
    from opsloop.runtime.worker import Worker

    if list_jobs:
        for name, (doc, singleton, _) in JOB_FACTORIES.items():
            console.print(f"{name:<20} {'singleton ' if singleton else ''}{doc}")
        return
    settings = get_settings()
    check_profile(settings)
    names = [n.strip() for n in jobs.split(",")] if jobs else list(JOB_FACTORIES)
    unknown = [n for n in names if n not in JOB_FACTORIES]
    if unknown:
        raise OpsloopError(
            f"unknown job(s) {', '.join(unknown)}; known: {', '.join(JOB_FACTORIES)}",
            where="--jobs",
        )
    runtime = open_runtime(settings)
    try:
        built = [JOB_FACTORIES[n][2](runtime) for n in names]
        w = Worker(
            built,
            make_leadership=lambda name: leadership(settings.database_url, settings.home, name),
        )
        w.install_signal_handlers()
        console.print(f"opsloop worker running: {', '.join(names)} — SIGTERM to stop")
        w.run(max_seconds=seconds)
    finally:
        runtime.close()
