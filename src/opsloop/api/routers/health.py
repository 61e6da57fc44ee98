"""Liveness: public, says only that the process is up and which version it runs."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from opsloop import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


@router.get("/health")
def health() -> Health:
    return Health(status="ok", version=__version__)
