"""`GET /api/metrics`: the service's state in Prometheus text exposition format (version 0.0.4).

Computed from the monitoring database on each request, so every instance answers the same. Every family is a
gauge (HELP and TYPE lines first); label values are escaped as the format requires (backslash, double quote,
newline). Series with a closed set of label values (KPI states, execution outcomes, channels, severity and
status at level 0) are always present, with 0 when nothing matches, so sums never come back empty.

- `mgrid_kpis{state="active"|"inactive"}`: KPI definitions.
- `mgrid_kpis_stale`: active, scheduled KPIs overdue for a success, by the rule of the kpi-execution health
  check (`shared.domain.health.stale_after`): no success for twice the period plus
  `Worker__HealthChecks__StaleGraceMinutes`, or for a cron KPI two firings in a row plus that grace, counted
  from the last success or the KPI's last change, whichever is later.
- `mgrid_kpi_last_success_age_seconds{kpi}`: per active KPI that has succeeded at least once.
- `mgrid_alerts_open{severity,status,level}`: unresolved alerts (status `open` or `acknowledged`) by
  severity, status and escalation level.
- `mgrid_executions_last_5m{outcome}`: executions that finished in the last 5 minutes, by outcome.
- `mgrid_outbox_backlog`, `mgrid_outbox_oldest_age_seconds`: alert events not dispatched yet, and the age of
  the oldest (0 when there is none).
- `mgrid_notifications_failed_24h{channel}`: deliveries created in the last 24 hours that failed for good.
  A gauge over a window rather than a `_total` counter: cleanup deletes old rows, so an all-time count taken
  from the table would go down, which a counter must never do.
- `mgrid_notifications_retrying{channel}`: deliveries whose last try failed, waiting for a retry.
- `mgrid_notifications_skipped_24h{channel}`, `mgrid_notifications_dropped_24h{channel}`: deliveries created
  in the last 24 hours never tried because their channel is switched off or not configured (skipped), or
  because their alert was acknowledged or resolved first (dropped). Neither counts as failed.
- `mgrid_heartbeat_age_seconds{component}`: time since each periodic component (the alert processor)
  last reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine

from shared.db import metrics as store
from shared.db.metrics import KpiFreshness
from shared.domain.alert import UNRESOLVED, Severity
from shared.domain.execution import ExecutionStatus
from shared.domain.health import KpiClock, stale_after, staleness_since
from shared.domain.notification import Channel, DeliveryStatus
from shared.settings import Settings

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXECUTIONS_WINDOW = timedelta(minutes=5)
FAILURES_WINDOW = timedelta(hours=24)
_OUTCOMES = tuple(status.value for status in ExecutionStatus if status.finished)

Sample = tuple[Mapping[str, str], float]


def render_metrics(engine: Engine, *, now: datetime, settings: Settings) -> str:
    """The exposition text of the database's state at `now`."""
    grace = timedelta(minutes=settings.worker.health_checks.stale_grace_minutes)
    with engine.connect() as connection:
        kpis = store.kpi_freshness(connection)
        alerts = store.unresolved_alerts(connection)
        executions = store.finished_executions(connection, since=now - EXECUTIONS_WINDOW)
        backlog = store.outbox_backlog(connection)
        failed = store.deliveries_by_channel(
            connection, status=DeliveryStatus.FAILED, created_since=now - FAILURES_WINDOW
        )
        retrying = store.deliveries_by_channel(connection, status=DeliveryStatus.PENDING)
        unsent = {
            status: store.deliveries_by_channel(
                connection, status=status, created_since=now - FAILURES_WINDOW
            )
            for status in (DeliveryStatus.SKIPPED, DeliveryStatus.DROPPED)
        }
        heartbeats = store.heartbeats(connection)
    return "".join(
        [
            *_kpi_families(kpis, now=now, grace=grace),
            family(
                "mgrid_alerts_open",
                "Unresolved alerts (open or acknowledged) by severity, status and escalation level.",
                _alert_samples(alerts),
            ),
            family(
                "mgrid_executions_last_5m",
                "KPI executions finished in the last 5 minutes, by outcome.",
                [({"outcome": outcome}, executions.get(outcome, 0)) for outcome in _OUTCOMES],
            ),
            family("mgrid_outbox_backlog", "Alert events not dispatched yet.", [({}, backlog.size)]),
            family(
                "mgrid_outbox_oldest_age_seconds",
                "Age of the oldest undispatched alert event (0 when there is none).",
                [({}, _age_s(backlog.oldest_at, now) if backlog.oldest_at else 0)],
            ),
            family(
                "mgrid_notifications_failed_24h",
                "Deliveries created in the last 24 hours that failed for good, by channel.",
                _by_channel(failed),
            ),
            family(
                "mgrid_notifications_retrying",
                "Deliveries whose last try failed, waiting for a retry, by channel.",
                _by_channel(retrying),
            ),
            family(
                "mgrid_notifications_skipped_24h",
                "Deliveries created in the last 24 hours whose channel is switched off or not configured.",
                _by_channel(unsent[DeliveryStatus.SKIPPED]),
            ),
            family(
                "mgrid_notifications_dropped_24h",
                "Deliveries created in the last 24 hours not sent: their alert was acknowledged or resolved.",
                _by_channel(unsent[DeliveryStatus.DROPPED]),
            ),
            family(
                "mgrid_heartbeat_age_seconds",
                "Seconds since each periodic component last reported.",
                [({"component": name}, _age_s(at, now)) for name, at in sorted(heartbeats.items())],
            ),
        ]
    )


def is_stale(kpi: KpiFreshness, *, now: datetime, grace: timedelta) -> bool:
    """Whether an active, scheduled KPI is overdue for a success; the same rule as the health check's."""
    since = staleness_since(kpi.last_success_at, kpi.updated_at)
    clock = KpiClock(indicator=kpi.indicator, schedule=kpi.schedule, since=since)
    return kpi.is_active and kpi.scheduled and now > stale_after(clock, grace=grace)


def family(name: str, help_text: str, samples: Iterable[Sample]) -> str:
    """One gauge family: its HELP and TYPE lines and a line per sample."""
    escaped_help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    lines = [f"# HELP {name} {escaped_help}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _kpi_families(kpis: list[KpiFreshness], *, now: datetime, grace: timedelta) -> list[str]:
    active = [kpi for kpi in kpis if kpi.is_active]
    return [
        family(
            "mgrid_kpis",
            "KPI definitions by state.",
            [({"state": "active"}, len(active)), ({"state": "inactive"}, len(kpis) - len(active))],
        ),
        family(
            "mgrid_kpis_stale",
            "Active KPIs without a success for twice their period (two cron firings) plus the stale grace.",
            [({}, sum(is_stale(kpi, now=now, grace=grace) for kpi in kpis))],
        ),
        family(
            "mgrid_kpi_last_success_age_seconds",
            "Seconds since each active KPI last succeeded.",
            [
                ({"kpi": kpi.indicator}, _age_s(kpi.last_success_at, now))
                for kpi in active
                if kpi.last_success_at is not None
            ],
        ),
    ]


def _alert_samples(counts: Mapping[tuple[str, str, int], int]) -> list[Sample]:
    zeros = {(severity.value, status.value, 0): 0 for severity in Severity for status in UNRESOLVED}
    merged = {**zeros, **counts}
    return [
        ({"severity": severity, "status": status, "level": str(level)}, count)
        for (severity, status, level), count in sorted(merged.items())
    ]


def _by_channel(counts: Mapping[str, int]) -> list[Sample]:
    return [({"channel": channel.value}, counts.get(channel.value, 0)) for channel in Channel]


def _age_s(moment: datetime, now: datetime) -> float:
    """Seconds from `moment` to `now`; never negative, whatever the clocks of two instances say."""
    return max(0.0, (now - moment).total_seconds())


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{name}="{_escape_label(value)}"' for name, value in labels.items())
    return "{" + pairs + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(round(value, 3))
