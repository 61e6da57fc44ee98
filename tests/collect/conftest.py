"""A running app (lifespan and all) with the collection routers and one write key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsloop.api.app import create_app
from opsloop.collect import sources
from opsloop.collect.service import Collector
from opsloop.settings import get_settings


@dataclass
class Ingest:
    client: TestClient
    app: FastAPI
    key: str
    token: str

    @property
    def collector(self) -> Collector:
        c: Collector = self.app.state.collector
        return c

    def stored(self) -> list[dict[str, object]]:
        import orjson

        return [orjson.loads(r.payload) for r in self.collector.log.read(0, 10**9)]

    @property
    def auth(self) -> tuple[str, str]:
        return (self.key, "")


@pytest.fixture
def ingest(home: Path) -> Iterator[Ingest]:
    app = create_app(get_settings(), local_token="staff-token")  # mounts collect's routers
    with TestClient(app) as client:
        _, key = sources.create_source(app.state.store, name="app-ios")
        yield Ingest(client, app, key, "staff-token")
