"""What the API's routes use: the monitoring engine, the clock, settings and the use cases over them.

Production builds one `ApiServices` lazily from `shared.runtime` on the first request; tests build their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from shared.domain.clock import Clock, utc_now
from shared.services.alerts.actions import AlertActions
from shared.services.execution import Executor
from shared.services.manual_run import dry_run, run_now
from shared.settings import Settings
from shared.sources import SourceRunner


@dataclass(frozen=True, kw_only=True)
class ApiServices:
    engine: Engine
    settings: Settings
    clock: Clock = field(default=utc_now)
    executor: Callable[[], Executor] | None = None
    runner: Callable[[], SourceRunner] | None = None
    owner: str = "api"

    def alert_actions(self) -> AlertActions:
        return AlertActions(self.engine, clock=self.clock)

    def run_kpi(self, reference: str, *, dry: bool) -> dict[str, Any]:
        """The `mgrid kpi run` JSON of running the KPI now; `dry` runs it without writing anything (and runs
        an inactive KPI too), as `mgrid kpi run --dry-run` does."""
        if dry:
            if self.runner is None:
                raise RuntimeError("this API was built without a source runner")
            return dry_run(self.engine, self.runner(), self.settings, reference, now=self.clock()).to_dict()
        if self.executor is None:
            raise RuntimeError("this API was built without an executor")
        report = run_now(self.engine, self.executor(), reference, now=self.clock(), owner=self.owner)
        return {**report.to_dict(), "dry_run": False}


def from_runtime() -> ApiServices:
    from shared import runtime  # imported on the first request, never at import time
    from shared.settings import get_settings

    return ApiServices(
        engine=runtime.monitoring_engine(),
        settings=get_settings(),
        executor=runtime.executor,
        runner=runtime.source_runner,
        owner=runtime.owner(),
    )
