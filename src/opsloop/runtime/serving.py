"""``serve --workers N``: N API processes behind one socket (uvicorn's process manager).

Each worker builds its own app from the environment (settings, the per-start local
operator token), so nothing but the shared servers connects them. Only the production
profile may run more than one: the embedded DuckDB file and event log have one writer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from opsloop.errors import OpsloopError
from opsloop.settings import Settings

LOCAL_TOKEN_ENV = "OPSLOOP_LOCAL_TOKEN"  # noqa: S105 - the variable's name, not a secret
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def check_workers(settings: Settings, workers: int) -> None:
    if workers < 1:
        raise OpsloopError(f"--workers must be at least 1 (got {workers})", where="--workers")
    if workers > 1 and settings.profile != "production":
        raise OpsloopError(
            "more than one API process needs OPSLOOP_PROFILE=production (PostgreSQL and "
            "Redis): the embedded DuckDB file and event log allow one writer",
            where="--workers",
        )


def prepare_metrics_dir(home: Path) -> Path:
    """A fresh directory where every worker writes its metric samples (summed on scrape)."""
    directory = home / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    return directory
