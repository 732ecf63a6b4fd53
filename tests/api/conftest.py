"""An API app over a fresh monitoring database (SQLite and PostgreSQL) with the demo rows of `seed.Demo`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from shared.api.app import create_app
from shared.api.services import ApiServices
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.api.seed import Demo
from tests.conftest import Database
from tests.factories import NOW, Clock

ACK_SECRET = "test-ack-secret"


@pytest.fixture
def demo(database: Database) -> Demo:
    with database.engine.begin() as connection:
        return Demo(connection)


@pytest.fixture
def services(database: Database, tmp_path: Path) -> Iterator[ApiServices]:
    source = f"sqlite:///{tmp_path}/source.db"
    create_engine(source).dispose()
    settings = Settings.load(
        Notifications={"AckTokenSecret": ACK_SECRET}, ConnectionStrings={"Sources": {"main": source}}
    )
    runner = SourceRunner(settings.connection_strings.sources, pool_size=2)
    executor = Executor(database.engine, runner, settings)
    yield ApiServices(
        engine=database.engine,
        settings=settings,
        clock=Clock(NOW + timedelta(seconds=30)),
        executor=lambda: executor,
    )
    runner.dispose()


@pytest.fixture
def client(services: ApiServices) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: services), raise_server_exceptions=False) as test_client:
        yield test_client
