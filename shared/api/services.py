"""What the API's routes use: the monitoring engine, the clock, settings and the use cases over them.

Production builds one `ApiServices` lazily from `shared.runtime` on the first request; tests build their own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from shared.services.alert_actions import AlertActions
from shared.services.execution import Executor
from shared.services.manual_run import run_now
from shared.settings import Settings

Clock = Callable[[], datetime]


class DryRunUnsupported(Exception):
    """`run_now` of this tree cannot run a KPI without writing (another change adds `dry_run`)."""


@dataclass(frozen=True, kw_only=True)
class ApiServices:
    engine: Engine
    settings: Settings
    clock: Clock = field(default=lambda: datetime.now(UTC))
    executor: Callable[[], Executor] | None = None
    owner: str = "api"

    def alert_actions(self) -> AlertActions:
        return AlertActions(self.engine, clock=self.clock)

    def run_kpi(self, reference: str, *, dry_run: bool) -> dict[str, Any]:
        """The `mgrid kpi run` JSON of running the KPI now."""
        if self.executor is None:
            raise RuntimeError("this API was built without an executor")
        extra: dict[str, Any] = {}
        if dry_run:
            if "dry_run" not in inspect.signature(run_now).parameters:
                raise DryRunUnsupported
            extra["dry_run"] = True
        report = run_now(self.engine, self.executor(), reference, now=self.clock(), owner=self.owner, **extra)
        result = dict(report.to_dict())
        result.setdefault("dry_run", dry_run)
        return result


def from_runtime() -> ApiServices:
    from shared import runtime  # imported on the first request, never at import time
    from shared.settings import get_settings

    return ApiServices(
        engine=runtime.monitoring_engine(),
        settings=get_settings(),
        executor=runtime.executor,
        owner=runtime.owner(),
    )
