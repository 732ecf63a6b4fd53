"""Health: the verdict of each check and of the whole service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    UNHEALTHY = "Unhealthy"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """The outcome of one health check; `detail` is safe to show (no secrets, no SQL)."""

    name: str
    status: HealthStatus
    duration_ms: float
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthReport:
    """All checks of one health run; the overall status is the worst of them."""

    checks: tuple[CheckResult, ...]

    @property
    def status(self) -> HealthStatus:
        return worst(check.status for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `GET /api/health`."""
        return {
            "status": self.status.value,
            "checks": {
                check.name: {
                    "status": check.status.value,
                    "duration_ms": round(check.duration_ms, 1),
                    "detail": dict(check.detail),
                }
                for check in self.checks
            },
        }


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The most severe status; Healthy when there is none."""
    return max(statuses, key=lambda status: status.rank, default=HealthStatus.HEALTHY)
