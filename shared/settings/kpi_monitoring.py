"""`Worker__KpiMonitoring__*`: the scheduler timer and the executor, with the bounds on a batch."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.settings.section import Section, check_interval, empty_is_none, valid_cron

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
    execution_batch_size: int | None = Field(
        None,
        ge=1,
        le=MAX_EXECUTION_BATCH,
        alias="ExecutionBatchSize",
        description="Most executions per kpi-executions message (packed per source); 1: a message each. "
        "Unset: the largest batch whose worst case (below) fits 1800 s, at most 32 (30 with the defaults).",
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
    _unset = field_validator("execution_batch_size", mode="before")(empty_is_none)

    @model_validator(mode="after")
    def _agree(self) -> KpiMonitoringSettings:
        check_interval("KpiMonitoring", self.interval_seconds, self.schedule)
        worst = self.batch_worst_case_seconds
        if worst > MAX_BATCH_SECONDS:
            raise ValueError(
                f"a batch's worst case, ceil(ExecutionBatchSize {self.batch_size} / min("
                f"ExecutionBatchParallelism {self.execution_batch_parallelism}, MaxParallelKpis "
                f"{self.max_parallel_kpis})) x ExecutionTimeoutSeconds {self.execution_timeout_seconds} = "
                f"{worst} s, must be at most {MAX_BATCH_SECONDS} s (host.json functionTimeout is 35 min): "
                "lower the batch size or the timeout, or raise the parallelism"
            )
        return self

    @property
    def batch_size(self) -> int:
        """Most execution ids per message: ExecutionBatchSize, or unset the largest batch that fits the bound
        on its worst case (every wave running into the timeout), at most MAX_EXECUTION_BATCH."""
        if self.execution_batch_size is not None:
            return self.execution_batch_size
        waves = MAX_BATCH_SECONDS // self.execution_timeout_seconds
        return max(1, min(MAX_EXECUTION_BATCH, waves * self._at_once))

    @property
    def batch_worst_case_seconds(self) -> int:
        """The longest one message's executions can take when each runs into its timeout: in waves of at most
        ExecutionBatchParallelism, and of at most MaxParallelKpis when they share a source."""
        waves = -(-self.batch_size // self._at_once)
        return waves * self.execution_timeout_seconds

    @property
    def _at_once(self) -> int:
        return min(self.execution_batch_parallelism, self.max_parallel_kpis)
