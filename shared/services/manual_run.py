"""Running a KPI now, outside its schedule (`mgrid kpi run`), through the executor's own path."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select

from shared.db import executions
from shared.db.tables import kpis
from shared.errors import KpiNotFound
from shared.services.execution import ExecutionReport, Executor

#: How long a manual run waits for a free concurrency slot of its source before giving up.
WAIT_FOR_SLOT_S = 60.0


def run_now(
    engine: Engine,
    executor: Executor,
    reference: str,
    *,
    now: datetime,
    owner: str,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionReport:
    """Queue a manual execution of the KPI named by id or indicator and run it here, waiting for a free slot
    of its source when every slot is busy."""
    with engine.begin() as connection:
        kpi_id = find_kpi(connection, reference)
        execution_id = executions.create_manual(connection, kpi_id, now=now)
    deadline = time.monotonic() + WAIT_FOR_SLOT_S
    report = executor.execute(execution_id, owner=owner)
    while report.deferred and time.monotonic() < deadline:
        sleep(1.0)
        report = executor.execute(execution_id, owner=owner)
    return report


def find_kpi(connection: Connection, reference: str) -> int:
    """The id of the KPI whose id or indicator (case-insensitive) is `reference`."""
    condition = (
        kpis.c.id == int(reference)
        if reference.isdigit()
        else func.lower(kpis.c.indicator) == reference.lower()
    )
    kpi_id = connection.scalar(select(kpis.c.id).where(condition))
    if kpi_id is None:
        raise KpiNotFound(reference)
    return int(kpi_id)
