"""The cost model's arithmetic: daily volumes and a monthly price for one design at one rate.

Pure functions of the inputs in `_cost_inputs`; nothing is measured or read here. Per day:

- executions = KPIs a minute x 1,440; messages = per scheduler tick, per source, ceil(due / ids per message);
- invocations: one per message (and per redelivery), one per alert event, one per timer run;
- queue transactions: a Put and a Delete per message and per alert event, a Get Messages per batch of
  messages fetched, an Update Message per failed attempt, a Put and two Deletes per poisoned message, the
  listeners' polls of an empty queue (every maxPollingInterval) and the scale controller's (every 10 s);
- blob transactions: each timer run's status blob and singleton lock, the host's lock renewals;
- CPU seconds: per execution and per invocation, plus the scheduler's per due KPI;
- billed GB-s: an executor instance is billed while it executes, taken as its CPU time over the usable
  share of its core, at least one billed second per instance per scheduler tick; timers and rare
  invocations at least one second each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmarks._cost_inputs import Design, Platform, Prices, Scheduler, Workload

DAY_S = 86_400
TICKS_PER_DAY = 1_440  # the scheduler runs every minute and takes what is due


@dataclass(frozen=True, kw_only=True, slots=True)
class Daily:
    """One design's volumes for one day at one rate."""

    executions: float
    messages: float
    invocations: dict[str, float]
    queue_class1: dict[str, float]
    queue_class2: dict[str, float]
    blob: dict[str, float]
    statements: float
    round_trips: float
    cpu_s: float
    instances: int
    billed_gb_s: float

    @property
    def total_invocations(self) -> float:
        return sum(self.invocations.values())

    @property
    def queue_transactions(self) -> float:
        return sum(self.queue_class1.values()) + sum(self.queue_class2.values())

    @property
    def storage_transactions(self) -> float:
        return self.queue_transactions + sum(self.blob.values())


@dataclass(frozen=True, kw_only=True, slots=True)
class Monthly:
    """USD a month, after the free grants."""

    execution_time: float
    executions: float
    always_ready: float
    queue: float
    blob: float

    @property
    def total(self) -> float:
        return self.execution_time + self.executions + self.always_ready + self.queue + self.blob


def executions_per_day(workload: Workload) -> float:
    return float(workload.kpis_per_minute * TICKS_PER_DAY)


def messages_per_day(workload: Workload, design: Design) -> float:
    due_per_source = math.ceil(workload.kpis_per_minute / workload.sources)
    per_tick = workload.sources * math.ceil(due_per_source / design.ids_per_message)
    return float(per_tick * TICKS_PER_DAY)


def timer_runs_per_day(platform: Platform) -> float:
    return sum(DAY_S / period_s for period_s in platform.timers.values())


def executor_invocations(workload: Workload, design: Design) -> float:
    """One per message, and one more per failed attempt (redelivery)."""
    return messages_per_day(workload, design) * (1 + workload.failed_attempts_per_message)


def invocations(workload: Workload, design: Design, platform: Platform) -> dict[str, float]:
    messages = messages_per_day(workload, design)
    return {
        "executor": executor_invocations(workload, design),
        "executor poison": messages * workload.poisoned_per_message,
        "alert escalation": executions_per_day(workload) * workload.alert_events_per_execution,
        "timers": timer_runs_per_day(platform),
    }


def queue_class1(workload: Workload, design: Design) -> dict[str, float]:
    """Put, Delete and Update Message a day (`storage-billing`)."""
    messages = messages_per_day(workload, design)
    alerts = executions_per_day(workload) * workload.alert_events_per_execution
    poisoned = messages * workload.poisoned_per_message
    return {
        "put": messages + alerts + poisoned,
        "delete": messages + alerts + 2 * poisoned,
        "update (failed attempt)": messages * workload.failed_attempts_per_message,
    }


def queue_class2(workload: Workload, design: Design, platform: Platform, instances: int) -> dict[str, float]:
    """Get Messages a day: batches while busy, empty polls when idle, the scale controller's polls."""
    messages = executor_invocations(workload, design)
    alerts = executions_per_day(workload) * workload.alert_events_per_execution
    listeners = instances + platform.idle_listeners
    return {
        "get (batches)": messages / platform.batch_size + alerts,
        "get (empty polls)": listeners * DAY_S / platform.max_polling_interval_s,
        "scale controller": platform.trigger_queues * DAY_S / platform.scale_controller_poll_s,
    }


def blob(platform: Platform) -> dict[str, float]:
    runs = timer_runs_per_day(platform)
    renewals = DAY_S / platform.host_lock_renewal_s
    renewals += len(platform.timers) * DAY_S / platform.listener_lock_renewal_s
    return {
        "read": runs * platform.blob_reads_per_timer_run,
        "write": runs * platform.blob_writes_per_timer_run,
        "other (leases)": runs * platform.blob_leases_per_timer_run + renewals,
    }


def statements(workload: Workload, design: Design, scheduler: Scheduler) -> tuple[float, float]:
    """Monitoring-database statements and round trips a day: executions and scheduler ticks."""
    executions = executions_per_day(workload)
    batches = math.ceil(workload.kpis_per_minute / scheduler.batch)
    tick_statements = scheduler.statements_per_tick + batches * scheduler.statements_per_batch
    tick_round_trips = scheduler.round_trips_per_tick + batches * scheduler.round_trips_per_batch
    return (
        executions * design.statements_per_execution + TICKS_PER_DAY * tick_statements,
        executions * design.round_trips_per_execution + TICKS_PER_DAY * tick_round_trips,
    )


def executor_cpu_s(workload: Workload, design: Design) -> float:
    runs = executions_per_day(workload) * design.cpu_ms_per_execution
    handling = executor_invocations(workload, design) * design.cpu_ms_per_invocation
    return (runs + handling) / 1000


def scheduler_tick_s(workload: Workload, scheduler: Scheduler) -> float:
    return workload.kpis_per_minute * scheduler.ms_per_due_kpi / 1000


def instances_needed(cpu_s: float, platform: Platform) -> int:
    """Executor instances to keep the day's CPU at the usable share of their cores."""
    usable = platform.cores_per_instance * platform.utilisation
    return max(1, math.ceil(cpu_s / DAY_S / usable))


def billed_s(seconds: float, platform: Platform) -> float:
    """One activity period as billed: at least the minimum, then rounded up to the step."""
    steps = math.ceil(round(max(seconds, platform.min_billed_s) / platform.billed_step_s, 9))
    return steps * platform.billed_step_s


def billed_gb_s(workload: Workload, design: Design, platform: Platform, scheduler: Scheduler) -> float:
    cpu_s = executor_cpu_s(workload, design)
    instances = instances_needed(cpu_s, platform)
    busy_s = cpu_s / (platform.cores_per_instance * platform.utilisation)
    executor_s = max(busy_s, TICKS_PER_DAY * instances * platform.min_billed_s)
    timers_s = sum(
        (DAY_S / period_s) * billed_s(_timer_run_s(name, workload, scheduler), platform)
        for name, period_s in platform.timers.items()
    )
    calls = invocations(workload, design, platform)
    rare_s = min(DAY_S, calls["alert escalation"] * platform.min_billed_s)
    rare_s += min(DAY_S, calls["executor poison"] * platform.min_billed_s)
    return (executor_s + timers_s + rare_s) * platform.instance_memory_gb


def _timer_run_s(name: str, workload: Workload, scheduler: Scheduler) -> float:
    return scheduler_tick_s(workload, scheduler) if name == "kpi_scheduler" else 0.0


def daily(
    workload: Workload,
    design: Design,
    *,
    platform: Platform | None = None,
    scheduler: Scheduler | None = None,
) -> Daily:
    platform = platform or Platform()
    scheduler = scheduler or Scheduler()
    executor_s = executor_cpu_s(workload, design)
    instances = instances_needed(executor_s, platform)
    statement_count, round_trip_count = statements(workload, design, scheduler)
    calls = invocations(workload, design, platform)
    other_cpu_s = (calls["alert escalation"] + calls["timers"]) * design.cpu_ms_per_invocation / 1000
    return Daily(
        executions=executions_per_day(workload),
        messages=messages_per_day(workload, design),
        invocations=calls,
        queue_class1=queue_class1(workload, design),
        queue_class2=queue_class2(workload, design, platform, instances),
        blob=blob(platform),
        statements=statement_count,
        round_trips=round_trip_count,
        cpu_s=executor_s + TICKS_PER_DAY * scheduler_tick_s(workload, scheduler) + other_cpu_s,
        instances=instances,
        billed_gb_s=billed_gb_s(workload, design, platform, scheduler),
    )


def monthly(day: Daily, *, prices: Prices | None = None, platform: Platform | None = None) -> Monthly:
    prices = prices or Prices()
    platform = platform or Platform()
    days = prices.days_per_month
    gb_s = max(0.0, day.billed_gb_s * days - prices.free_gb_s_per_month)
    calls = max(0.0, day.total_invocations * days - prices.free_executions_per_month)
    baseline_gb_s = platform.always_ready_instances * platform.instance_memory_gb * DAY_S * days
    queue = sum(day.queue_class1.values()) * prices.queue_class1_per_10k
    queue += sum(day.queue_class2.values()) * prices.queue_class2_per_10k
    blob_cost = day.blob["read"] * prices.blob_read_per_10k + day.blob["write"] * prices.blob_write_per_10k
    blob_cost += day.blob["other (leases)"] * prices.blob_other_per_10k
    return Monthly(
        execution_time=gb_s * prices.on_demand_per_gb_s,
        executions=calls * prices.per_million_executions / 1_000_000,
        always_ready=baseline_gb_s * prices.always_ready_baseline_per_gb_s,
        queue=queue * days / 10_000,
        blob=blob_cost * days / 10_000,
    )
