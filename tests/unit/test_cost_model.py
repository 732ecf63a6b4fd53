"""The cost model's arithmetic (`benchmarks/_cost_model.py`) on a case computed by hand, and its command."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import cost
from benchmarks._cost_inputs import Design, Platform, Prices, Scheduler, Workload
from benchmarks._cost_model import billed_s, daily, monthly

# 100 KPIs a minute from one source, 10 ids a message: 144,000 executions and 14,400 messages a day.
WORKLOAD = Workload(
    kpis_per_minute=100,
    sources=1,
    alert_events_per_execution=0.01,
    failed_attempts_per_message=0.0,
    poisoned_per_message=0.0,
)
DESIGN = Design(
    name="hand",
    ids_per_message=10,
    statements_per_execution=2,
    round_trips_per_execution=3,
    cpu_ms_per_execution=1.0,
    cpu_ms_per_invocation=4.0,
)
PLATFORM = Platform(
    instance_memory_gb=2.0,
    cores_per_instance=1.0,
    utilisation=0.5,
    always_ready_instances=1,
    batch_size=5,
    max_polling_interval_s=10,
    scale_controller_poll_s=20,
    trigger_queues=2,
    idle_listeners=0,
    timers={"kpi_scheduler": 60, "hourly": 3600},
    blob_reads_per_timer_run=1,
    blob_writes_per_timer_run=1,
    blob_leases_per_timer_run=2,
    host_lock_renewal_s=60,
    listener_lock_renewal_s=120,
)
SCHEDULER = Scheduler(
    batch=50,
    statements_per_batch=3,
    round_trips_per_batch=5,
    statements_per_tick=1,
    round_trips_per_tick=2,
    ms_per_due_kpi=12.3,
)
PRICES = Prices(
    on_demand_per_gb_s=0.00002,
    per_million_executions=0.5,
    free_gb_s_per_month=100_000,
    free_executions_per_month=250_000,
    always_ready_baseline_per_gb_s=0.000004,
    queue_class1_per_10k=0.01,
    queue_class2_per_10k=0.002,
    blob_write_per_10k=0.05,
    blob_read_per_10k=0.004,
    blob_other_per_10k=0.001,
    days_per_month=30,
)


@pytest.fixture(name="day")
def hand_day():
    return daily(WORKLOAD, DESIGN, platform=PLATFORM, scheduler=SCHEDULER)


def test_messages_and_invocations_follow_the_ids_per_message(day):
    assert day.executions == 144_000
    assert day.messages == 14_400
    # executor 14,400 + alert escalation 1,440 + timers 1,440 + 24
    assert day.invocations == {
        "executor": 14_400,
        "executor poison": 0,
        "alert escalation": 1_440,
        "timers": 1_464,
    }
    assert day.total_invocations == 17_304


def test_every_queue_and_blob_transaction_is_counted(day):
    assert day.queue_class1 == {"put": 15_840, "delete": 15_840, "update (failed attempt)": 0}
    # 14,400 / 5 + 1,440; one listener polling every 10 s; 2 queues every 20 s
    assert day.queue_class2 == {"get (batches)": 4_320, "get (empty polls)": 8_640, "scale controller": 8_640}
    # 1,464 runs; leases: 2 a run + host lock every 60 s + 2 listener locks every 120 s
    assert day.blob == {"read": 1_464, "write": 1_464, "other (leases)": 5_808}
    assert day.storage_transactions == 62_016


def test_statements_count_executions_and_scheduler_ticks(day):
    # 144,000 x 2 + 1,440 ticks x (1 + 2 batches x 3); round trips 144,000 x 3 + 1,440 x (2 + 2 x 5)
    assert day.statements == 298_080
    assert day.round_trips == 449_280


def test_cpu_and_billed_gb_s(day):
    # executor (144,000 x 1 ms + 14,400 x 4 ms) + ticks 1,440 x 1.23 s + (1,440 + 1,464) x 4 ms
    assert day.cpu_s == pytest.approx(1_984.416)
    assert day.instances == 1
    # 2 GB x (executor max(201.6 / 0.5, 1,440 x 1 s) + ticks 1,440 x 1.3 s + hourly 24 x 1 s
    # + alerts 1,440 x 1 s)
    assert day.billed_gb_s == pytest.approx(9_552)


def test_monthly_price_after_the_free_grants(day):
    price = monthly(day, prices=PRICES, platform=PLATFORM)
    assert price.execution_time == pytest.approx((9_552 * 30 - 100_000) * 0.00002)
    assert price.executions == pytest.approx((17_304 * 30 - 250_000) * 0.5 / 1e6)
    assert price.always_ready == pytest.approx(2 * 86_400 * 30 * 0.000004)
    assert price.queue == pytest.approx((31_680 * 0.01 + 21_600 * 0.002) * 30 / 10_000)
    assert price.blob == pytest.approx((1_464 * 0.004 + 1_464 * 0.05 + 5_808 * 0.001) * 30 / 10_000)
    assert price.total == pytest.approx(25.936352)


@pytest.mark.parametrize(
    ("seconds", "billed"),
    [(0.0, 1.0), (0.2, 1.0), (1.0, 1.0), (1.01, 1.1), (1.1, 1.1), (11.4, 11.4), (11.41, 11.5)],
)
def test_an_activity_period_is_billed_for_a_second_at_least_then_in_tenths(seconds, billed):
    assert billed_s(seconds, PLATFORM) == pytest.approx(billed)


def test_the_command_rewrites_only_its_section(tmp_path: Path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# Before\n\n{cost.START}\nstale figures\n{cost.END}\n\n## After\n", encoding="utf-8")
    assert cost.main(["--output", str(results)]) == 0
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Before\n\n<!-- cost:start -->\n## Cost model")
    assert text.endswith("<!-- cost:end -->\n\n## After\n")
    assert "stale figures" not in text
    # The default N (30) meets the storage target at 10,000 KPIs a minute; N=16 misses it.
    assert "N=30, 10,000 KPIs a minute): storage transactions and invocations per execution <= 0.1: PASS" in (
        capsys.readouterr().out
    )
    assert cost.main(["--output", str(results), "--ids-per-message", "16"]) == 0
    assert "FAIL" in capsys.readouterr().out
