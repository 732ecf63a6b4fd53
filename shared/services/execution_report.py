"""What happened to one execution: the report the executor returns and `mgrid kpi run --json` prints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from shared.domain.alert import EventRef
from shared.domain.evaluation import Evaluation
from shared.domain.execution import ExecutionOutcome
from shared.services.alerts.transitions import Transitioned


@dataclass(kw_only=True, slots=True)
class ExecutionReport:
    """What happened to one execution (the JSON of `mgrid kpi run`)."""

    execution_id: uuid.UUID
    kpi: str | None = None
    status: ExecutionOutcome = ExecutionOutcome.NOT_STARTED
    duration_ms: int | None = None
    error: str | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    transitions: list[Transitioned] = field(default_factory=list)
    events: list[EventRef] = field(default_factory=list)
    deferred: bool = False  #: no concurrency slot was free: send the message again, later
    #: why alert transitions were skipped (a newer slot of the KPI was recorded first), or None
    alerts_skipped: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "execution_id": str(self.execution_id),
            "kpi": self.kpi,
            "status": self.status.value,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "metrics": [
                {
                    "key": e.key,
                    "current": None if e.no_data else e.current,
                    "baseline": e.baseline,
                    "deviation_percent": e.deviation_percent,
                    "expected": e.expected,
                    "lower": e.lower,
                    "upper": e.upper,
                    "breach": e.breach,
                    "no_data": e.no_data,
                }
                for e in self.evaluations
            ],
            "alerts": [{"id": t.alert_id, "transition": t.transition.value} for t in self.transitions],
        }
