"""The app factory uvicorn calls in each worker of ``opsloop serve --workers N``."""

from __future__ import annotations

import os

from fastapi import FastAPI

from opsloop.api.app import create_app
from opsloop.logging import configure_logging
from opsloop.runtime.serving import LOCAL_TOKEN_ENV
from opsloop.settings import get_settings


def app_factory() -> FastAPI:
    """Each worker builds its own app from the environment the parent set."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings, local_token=os.environ.get(LOCAL_TOKEN_ENV))
