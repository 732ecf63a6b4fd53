"""The cost model's RESULTS.md section: volumes, prices, where the transactions come from, inputs, sources."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks import _cost_inputs as inputs
from benchmarks._cost_model import Daily, Monthly

TARGET_RATE = 10_000
TARGET_PER_EXECUTION = 0.1


def render(
    days: dict[tuple[int, str], Daily],
    prices: dict[tuple[int, str], Monthly],
    *,
    designs: Sequence[inputs.Design],
    rates: Sequence[int],
    command: str,
) -> str:
    keys = [(rate, design.name) for rate in rates for design in designs]
    parts = [
        "## Cost model: today's fan-out against batched messages (`make bench-cost`)\n",
        f"Arithmetic, nothing measured: `{command}`, inputs read on {inputs.READ_ON}. "
        "Per day unless a column says otherwise; per execution in brackets. "
        "Today: one queue message and one invocation per execution. Batched: messages of up to N execution "
        "ids per source, one invocation per message.\n",
        _target(days, designs[-1]),
        _volumes(days, keys),
        _prices(prices, keys),
        _breakdown(days, designs),
        _reading(days, prices, designs, rates),
        _inputs(designs),
        _sources(),
    ]
    return "\n".join(parts)


def _per(value: float, executions: float) -> str:
    return f"{value:,.0f} ({value / executions:.3f})"


def _target(days: dict[tuple[int, str], Daily], batched: inputs.Design) -> str:
    day = days[(TARGET_RATE, batched.name)]
    storage = day.storage_transactions / day.executions
    calls = day.total_invocations / day.executions
    verdict = "PASS" if storage <= TARGET_PER_EXECUTION and calls <= TARGET_PER_EXECUTION else "FAIL"
    return (
        f"**Target ({batched.name}, {TARGET_RATE:,} KPIs a minute): storage transactions and invocations per "
        f"execution <= {TARGET_PER_EXECUTION}: {verdict} ({storage:.3f} and {calls:.3f}).**\n"
    )


def _volumes(days: dict[tuple[int, str], Daily], keys: list[tuple[int, str]]) -> str:
    lines = [
        "| KPIs a minute | Design | Executions | Queue messages | Invocations | Storage transactions "
        "(queue + blob) | Monitoring statements | Monitoring round trips | CPU-seconds | Executor instances "
        "| Billed GB-s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate, name in keys:
        day = days[(rate, name)]
        runs = day.executions
        lines.append(
            f"| {rate:,} | {name} | {runs:,.0f} | {_per(day.messages, runs)} | "
            f"{_per(day.total_invocations, runs)} | {_per(day.storage_transactions, runs)} | "
            f"{_per(day.statements, runs)} | {_per(day.round_trips, runs)} | {day.cpu_s:,.0f} | "
            f"{day.instances} | {day.billed_gb_s:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def _prices(prices: dict[tuple[int, str], Monthly], keys: list[tuple[int, str]]) -> str:
    lines = [
        "USD a month (30 days), after the monthly free grants of Flex Consumption on demand:\n",
        "| KPIs a minute | Design | Execution time (GB-s) | Executions | Always ready | Queue | Blob "
        "| **Total** |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rate, name in keys:
        cost = prices[(rate, name)]
        cells = (cost.execution_time, cost.executions, cost.always_ready, cost.queue, cost.blob)
        money = " | ".join(f"{value:,.2f}" for value in cells)
        lines.append(f"| {rate:,} | {name} | {money} | **{cost.total:,.2f}** |")
    return "\n".join(lines) + "\n"


def _breakdown(days: dict[tuple[int, str], Daily], designs: Sequence[inputs.Design]) -> str:
    columns = [days[(TARGET_RATE, design.name)] for design in designs]
    head = " | ".join(design.name for design in designs)
    lines = [
        f"Where they come from at {TARGET_RATE:,} KPIs a minute (a day):\n",
        f"| Kind | Item | {head} |",
        "|---|---|" + "---|" * len(designs),
    ]
    for kind, items in _groups(columns[0]).items():
        for item in items:
            cells = " | ".join(f"{_groups(day)[kind][item]:,.0f}" for day in columns)
            lines.append(f"| {kind} | {item} | {cells} |")
    return "\n".join(lines) + "\n"


def _reading(
    days: dict[tuple[int, str], Daily],
    prices: dict[tuple[int, str], Monthly],
    designs: Sequence[inputs.Design],
    rates: Sequence[int],
) -> str:
    today, batched = (days[(TARGET_RATE, design.name)] for design in designs)
    cost_today, cost_batched = (prices[(TARGET_RATE, design.name)].total for design in designs)
    smallest = days[(rates[0], designs[-1].name)]
    largest = [days[(rates[-1], design.name)].messages / 86_400 for design in designs]
    return (
        f"**Reading.** At {TARGET_RATE:,} KPIs a minute, {designs[-1].name} cuts invocations "
        f"{today.total_invocations / batched.total_invocations:.0f}-fold and storage transactions "
        f"{today.storage_transactions / batched.storage_transactions:.0f}-fold, CPU by "
        f"{1 - batched.cpu_s / today.cpu_s:.0%} (the per-invocation CPU shared by N executions) and the "
        f"price from {cost_today:,.0f} to "
        f"{cost_batched:,.0f} USD a month. Today each execution costs a Put and a Delete Message "
        "plus an eighth of a Get Messages (host.json fetches 8 at a time): about 2.1 storage "
        "transactions. Batched, what is left is mostly fixed a day (timers and their blobs, empty "
        "polls, the scale controller), so per execution it grows as the rate falls "
        f"({smallest.storage_transactions / smallest.executions:.3f} at {rates[0]:,} KPIs a minute). "
        "The batched executor also claims, records and reads baselines for a wave of executions in one "
        "statement each, hence its fewer statements, round trips and CPU per execution (measured, "
        "pipeline benchmark). Throughput as well as price: at "
        f"{rates[-1]:,} KPIs a minute today's design puts {largest[0]:,.0f} messages a second on average on "
        f"kpi-executions (each also got and deleted, and sent in bursts at each tick), against Microsoft's "
        f"target of up to {inputs.QUEUE_TARGET_PER_S:,} a second for a single queue (`queue-scale`); "
        f"batched, {largest[-1]:,.0f}.\n"
    )


def _groups(day: Daily) -> dict[str, dict[str, float]]:
    return {
        "invocation": day.invocations,
        "queue, class 1": day.queue_class1,
        "queue, class 2": day.queue_class2,
        "blob": day.blob,
    }


def _inputs(designs: Sequence[inputs.Design]) -> str:
    platform, workload, scheduler = inputs.Platform(), inputs.Workload(kpis_per_minute=0), inputs.Scheduler()
    baseline = platform.instance_memory_gb * 86_400 * 30 * inputs.Prices().always_ready_baseline_per_gb_s
    lines = ["**Inputs.** Per execution, by design:\n"]
    lines += [
        f"- {d.name}: {d.ids_per_message} id(s) a message; {d.statements_per_execution:g} monitoring "
        f"statements in {d.round_trips_per_execution:g} round trips; {d.cpu_ms_per_execution:g} ms of CPU "
        f"per execution and {d.cpu_ms_per_invocation:.2f} ms per invocation"
        for d in designs
    ]
    lines += [
        "",
        "Today's figures are this file's PostgreSQL measurements on the trivial query (run of 2026-11-28 "
        "18:09 UTC): 9 statements in 13 round trips (Statements and round trips), 2.48 ms of client CPU "
        "(Executor overhead, pipeline); per invocation 6.32 ms (devhost CPU per execution end to end, 3 "
        "processes) less 2.48 ms. The batched design's are the batched executor's, measured in the same "
        "pipeline benchmark (run of 2026-12-02 06:22 UTC, batches of 16): 1.25 statements in 2.0 round trips "
        "and 0.83 ms of client CPU (`--batched-statements`, `--batched-round-trips`, `--batched-cpu-ms`); "
        "its per-invocation cost is divided by N.",
        "",
        f"Platform: {platform.instance_memory_gb:g} GB instances with {platform.cores_per_instance:g} core, "
        f"busy at {platform.utilisation:.0%} of it (assumption), billed while executing, at least "
        f"{platform.min_billed_s:g} s per activity period in steps of {platform.billed_step_s:g} s; "
        f"{platform.always_ready_instances} always-ready instances (one would cost "
        f"{baseline:.2f} USD a month of baseline); host.json batchSize {platform.batch_size}, "
        f"maxPollingInterval {platform.max_polling_interval_s:g} s; the scale controller polls "
        f"{platform.trigger_queues} queues every {platform.scale_controller_poll_s:g} s; timers: "
        + ", ".join(f"{name} every {period:,.0f} s" for name, period in platform.timers.items())
        + ".",
        "",
        f"Workload (assumptions): KPIs spread over {workload.sources} sources, "
        f"{workload.alert_events_per_execution:g} alert events and {workload.failed_attempts_per_message:g} "
        f"failed attempts per message or execution, {workload.poisoned_per_message:g} poisoned; scheduler "
        f"batches of {scheduler.batch} ({scheduler.statements_per_batch} statements each, plus "
        f"{scheduler.statements_per_tick} a tick), {scheduler.ms_per_due_kpi} ms per due KPI "
        "(Scheduler tick, 10k all due).",
        "",
        "Left out: the HTTP API and /metrics, Application Insights, the status page, egress; queue capacity "
        "(messages are deleted within seconds); the back-off ramp's extra polls after each burst (at most "
        "a few a minute); visibility renewals (the host renews a message's lease only for runs of minutes).",
    ]
    return "\n".join(lines) + "\n"


def _sources() -> str:
    lines = [f"**Sources** (read {inputs.READ_ON}):\n"]
    lines += [f"- `{key}`: {what}. {where}" for key, (what, where) in inputs.SOURCES.items()]
    lines += ["", inputs.PRICE_CAVEAT]
    return "\n".join(lines) + "\n"
