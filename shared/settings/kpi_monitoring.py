"""`Worker__KpiMonitoring__*`: the scheduler timer and the executor, with the bounds on a batch."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.settings.section import Section, check_interval, valid_cron

#: Most execution ids in one `kpi-executions` message (about 1.5 KB of JSON, far below the 64 KB limit).
MAX_EXECUTION_BATCH = 32
#: Bound on a batch's worst case (every execution running into its timeout, wave after wave): host.json's
#: functionTimeout (35 min) less 5 min for claiming and recording; the host keeps the message invisible
#: (renewing its visibility) while the invocation runs, so the function timeout is the binding limit.
MAX_BATCH_SECONDS = 1800


class KpiMonitoringSettings(Section):
    """`Worker__KpiMonitoring__*`: the scheduler timer and the executor."""

    interval_seconds: int = Field(
        60,
        ge=10,
        le=3600,
        alias="IntervalSeconds",
        description="Period of the kpi_scheduler timer in seconds (must agree with Schedule).",
    )
    max_parallel_kpis: int = Field(
        5,
        ge=1,
        le=50,
        alias="MaxParallelKpis",
        description="Concurrent KPI queries per source, across all instances.",
    )
    execution_timeout_seconds: int = Field(
        300,
        ge=30,
        le=1800,
        alias="ExecutionTimeoutSeconds",
        description="Bound on one KPI execution; the statement is cancelled on the server.",
    )
    process_only_active_kpis: bool = Field(
        True, alias="ProcessOnlyActiveKpis", description="Schedule only KPIs marked active."
    )
    skip_running_kpis: bool = Field(
        True,
        alias="SkipRunningKpis",
        description="Do not queue a new slot while the KPI's previous execution still holds a live lease.",
    )
    resend_after_seconds: int = Field(
        600,
        ge=60,
        le=86400,
        alias="ResendAfterSeconds",
        description="Seconds before a queued execution not yet picked up has its message sent again.",
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        alias="MaxAttempts",
        description="Attempts at an execution whose executor died (lease expired) before it is failed.",
    )
    execution_batch_size: int = Field(
        16,
        ge=1,
        le=MAX_EXECUTION_BATCH,
        alias="ExecutionBatchSize",
        description="Most executions per kpi-executions message (packed per source); 1: a message each.",
    )
    execution_batch_parallelism: int = Field(
        16,
        ge=1,
        le=MAX_EXECUTION_BATCH,
        alias="ExecutionBatchParallelism",
        description="Executions of one message that run at once. A batch's worst case, "
        "ceil(ExecutionBatchSize / min(this, MaxParallelKpis)) x ExecutionTimeoutSeconds, is at most 1800 s.",
    )
    schedule: str = Field(
        "0 * * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the kpi_scheduler timer (old name Worker__KpiMonitoring__Schedule).",
    )

    _valid_schedule = field_validator("schedule")(valid_cron)

    @model_validator(mode="after")
    def _agree(self) -> KpiMonitoringSettings:
        check_interval("KpiMonitoring", self.interval_seconds, self.schedule)
        worst = self.batch_worst_case_seconds
        if worst > MAX_BATCH_SECONDS:
            raise ValueError(
                f"a batch's worst case, ceil(ExecutionBatchSize {self.execution_batch_size} / min("
                f"ExecutionBatchParallelism {self.execution_batch_parallelism}, MaxParallelKpis "
                f"{self.max_parallel_kpis})) x ExecutionTimeoutSeconds {self.execution_timeout_seconds} = "
                f"{worst} s, must be at most {MAX_BATCH_SECONDS} s (host.json functionTimeout is 35 min): "
                "lower the batch size or the timeout, or raise the parallelism"
            )
        return self

    @property
    def batch_worst_case_seconds(self) -> int:
        """The longest one message's executions can take when each runs into its timeout: in waves of at most
        ExecutionBatchParallelism, and of at most MaxParallelKpis when they share a source."""
        at_once = min(self.execution_batch_parallelism, self.max_parallel_kpis)
        waves = -(-self.execution_batch_size // at_once)
        return waves * self.execution_timeout_seconds
