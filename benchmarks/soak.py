"""Soak: three devhosts, 300 KPIs every minute for 20 minutes, with the fault suite's faults at random times.

`python -m benchmarks.soak [--minutes 20] [--kpis 300] [--alerting 100] [--hosts 3] [--faults ...]
[--seed N] [--output benchmarks/RESULTS.md]` (`make bench-soak`; a smoke run: `--minutes 3 --kpis 60
--faults mail,azurite`). Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`), PostgreSQL on
127.0.0.1:5432 for the source (another server: `MGRID_BENCH_POSTGRES_URL`) and Azurite from `npm ci`.

Everything is a real process, as in the fault suite (`tests/faults/`), whose helpers this reuses: Azurite in
memory (`processes.Azurite`), the demo mailbox (`processes.Mailbox`), an HTTP webhook receiver
(`tests/receivers.py`), a monitoring PostgreSQL cluster the run owns (`cluster.Cluster`, so it can be
restarted) and `python -m devhost` hosts with the fault suite's settings (`conftest.fault_env`: ticks every
10 s, the resend sweep and leases at their least allowed values). The source is a scratch database on the
shared server. Every KPI runs every minute; `--alerting` of them alternate between breach and clean on every
slot (each slot opens or resolves an alert, so each sends one email and one webhook call), the others stay
clean.

The faults (each once, in a random order, at random times spread over the run, after a minute of warm-up):
`azurite` killed and restarted empty; `mail` server down for 60 s; `webhook` answering 500 for 30 s, then
hanging past the timeout for 30 s; `database`: the monitoring cluster restarted (`pg_ctl restart -m fast`);
`host`: a devhost SIGKILLed and replaced by a new one. A fault's recovery is the time from its end (the
restart, the server back, the replacement up) until nothing created before that end is unfinished
(`figures.unfinished_before`). Its window, for latency, runs from a minute before it starts (a slot in
flight) to that recovery.

Counted at the end, as the fault suite counts (`figures.py`): slots expected / executed / duplicated,
notices expected / sent / duplicated (repeats in the crash window of the killed host apart), alert
transitions from a slot older than its KPI's latest; latency from slot to the first accepted notice (p50,
p99, max), outside the fault windows and overall; the resident memory of each host, sampled every 10 s, as a
least-squares slope per 10 minutes after the first two minutes; the machine's load. The section is written
between `<!-- soak:start -->` and `<!-- soak:end -->` in RESULTS.md; the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, select, true, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from benchmarks._databases import Scratch
from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from shared.db.tables import alert_events, alerts, kpi_executions, kpis, notifications, outbox
from tests.conftest import Database
from tests.e2e.harness import Devhost, start_devhost
from tests.faults.cluster import Cluster, binaries
from tests.faults.conftest import add_alerting_kpis, fault_env, first_slot_soon
from tests.faults.figures import (
    Figures,
    Key,
    count_notices,
    count_slots,
    delivery_keys,
    delivery_statuses,
    expected_notices,
    expected_slots,
    late_slots,
    nothing_unfinished,
    stale_transitions,
    stop_scheduling,
    unfinished,
    unfinished_before,
    unmarked_keys,
)
from tests.faults.processes import Azurite, Mailbox
from tests.receivers import HttpReceiver, ReceivedRequest, Reply, http_capture
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
FAULTS = ("azurite", "mail", "webhook", "database", "host")
HTTP_TIMEOUT_S = 2
MAIL_DOWN_S = 60
WEBHOOK_FAILING_S = 30
WEBHOOK_HANGING_S = 30
WARM_UP_S = 60
SAMPLE_S = 10
MEMORY_SKIP_S = 120  #: the first samples are left out of the memory slope (imports, pools, caches filling)
RECOVERY_TIMEOUT_S = 300
CLEAN = "SELECT 'k' AS key, 10 AS current_value, 10 AS historical_value FROM pg_sleep({sleep})"
QUERY_SLEEP_S = 0.05


@dataclass(kw_only=True)
class Fault:
    kind: str
    planned_s: float
    started_s: float = 0.0
    ended_s: float = 0.0
    recovered_s: float | None = None
    note: str = ""

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_s is None else round(self.recovered_s - self.ended_s, 1)


@dataclass(kw_only=True)
class Host:
    devhost: Devhost
    name: str
    rss: list[tuple[float, int]] = field(default_factory=list)  #: (seconds since start, bytes)
    killed: bool = False


@dataclass(kw_only=True)
class Delivery:
    key: Key
    at: datetime


class Webhooks:
    """What the HTTP receiver accepted (a 200 in time), with when; failures and hangs are not counted."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        self.accepted: list[Delivery] = []
        self.refused = 0
        self._lock = threading.Lock()
        original = receiver._record

        def record(request: ReceivedRequest) -> Reply:
            reply = original(request)
            at = datetime.now(UTC)
            with self._lock:
                if reply.status == 200 and reply.delay_s < HTTP_TIMEOUT_S:
                    event = int(str(request.headers["X-MonitoringGrid-Event"]))
                    self.accepted.append(Delivery(key=(event, receiver.url(request.path).lower()), at=at))
                else:
                    self.refused += 1
            return reply

        receiver._record = record  # type: ignore[method-assign]

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self.accepted)


class Mails:
    """The mailbox's accepted messages with when (from the `.eml` names), read incrementally."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.directory = mailbox.directory
        self._seen: dict[str, Delivery] = {}
        self._parser = BytesParser(policy=policy.default)

    def deliveries(self) -> list[Delivery]:
        if self.directory.exists():
            for path in sorted(self.directory.glob("*.eml")):
                if path.name not in self._seen:
                    headers = self._parser.parsebytes(path.read_bytes(), headersonly=True)
                    at = datetime.strptime(path.name.split("-")[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
                    key = (int(str(headers["X-MonitoringGrid-Event"])), str(headers["To"]).lower())
                    self._seen[path.name] = Delivery(key=key, at=at)
        return list(self._seen.values())


class Sampler(threading.Thread):
    """Every `SAMPLE_S`: each live host's resident memory and the machine's load average."""

    def __init__(self, hosts: list[Host], began: float) -> None:
        super().__init__(daemon=True)
        self.hosts, self.began = hosts, began
        self.load: list[float] = []
        self.stopping = threading.Event()
        psutil.cpu_percent()  # starts the machine-wide CPU count

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_S):
            elapsed = time.monotonic() - self.began
            for host in list(self.hosts):
                if host.killed or host.devhost.process.poll() is not None:
                    continue
                with contextlib.suppress(psutil.Error):
                    host.rss.append((elapsed, psutil.Process(host.devhost.process.pid).memory_info().rss))
            self.load.append(os.getloadavg()[0])


class Observer:
    """The run's own view of the monitoring database: no pooled connection, so a restart cuts nothing."""

    def __init__(self, url: str) -> None:
        self.database = Database(backend="postgresql", url=url, engine=create_engine(url, poolclass=NullPool))

    def retrying(self, read: Callable[[Database], Any], default: Any) -> Any:
        try:
            return read(self.database)
        except OperationalError:  # the cluster is restarting
            return default


def expected_under_load(database: Database) -> tuple[set[Key], int]:
    """The notices the service owes, and the events it rightly told nobody about.

    The fault suite expects every channel of every contact for each event with an outbox entry
    (`figures.expected_notices`); its scenarios never let an alert move on before its notice went out. Under
    load with outages it does, and then the service by design sends less: an opened (or re-notified) alert
    that was resolved or acknowledged before its event was dispatched tells nobody, a delivery still waiting
    then is dropped, and a resolution goes only to the channels its opening reached. So here the expected
    notices are the (event, address) delivery rows the service planned and did not drop (a delivery that
    gave up counts as expected, so as lost), plus every channel of each event without a delivery row whose
    alert was still open and unacknowledged when the event was dispatched (rows never planned: lost). The
    events without rows whose alert had moved on are counted apart."""
    planned = delivery_keys(database, "pending", "sent", "failed")
    with database.engine.connect() as connection:
        with_rows = set(connection.scalars(select(notifications.c.event_id).distinct()))
        unplanned = connection.execute(
            select(outbox.c.event_id, outbox.c.dispatched_at, alerts.c.resolved_at, alerts.c.acknowledged_at)
            .join(alert_events, alert_events.c.id == outbox.c.event_id)
            .join(alerts, alerts.c.id == alert_events.c.alert_id)
            .where(outbox.c.event_id.not_in(with_rows) if with_rows else true())
        ).all()

    def moved_on(dispatched: datetime | None, *changes: datetime | None) -> bool:
        return dispatched is not None and any(at is not None and at <= dispatched for at in changes)

    lost = {event_id for event_id, dispatched, *changes in unplanned if not moved_on(dispatched, *changes)}
    owed = {key for key in expected_notices(database) if key[0] in lost}
    return planned | owed, len(unplanned) - len(lost)


def _in_flight(database: Database) -> bool:
    return unfinished(database)["executions"] > 0


def plan_faults(kinds: Sequence[str], minutes: float, rng: random.Random) -> list[Fault]:
    """One fault of each kind, in a random order, each at a random time in the first half of its share of
    the run (after the warm-up, leaving the last quarter for the last recovery)."""
    order = list(kinds)
    rng.shuffle(order)
    begin, end = WARM_UP_S, max(WARM_UP_S + 1.0, minutes * 60 * 0.75)
    share = (end - begin) / max(1, len(order))
    return [
        Fault(kind=kind, planned_s=begin + i * share + rng.uniform(0, share / 2))
        for i, kind in enumerate(order)
    ]


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.hosts: list[Host] = []
        self.crash_window: set[Key] = set()
        self.began = time.monotonic()
        self.began_at = datetime.now(UTC)

    # ------------------------------------------------------------------------------------------- faults

    def inject(self, fault: Fault, *, azurite: Azurite, mailbox: Mailbox, webhook: HttpReceiver) -> None:
        # Strike while executions are in flight (queued or running: the seconds after a tick), not between
        # the minute's slots, when a fault would find nothing to lose.
        wait_until(lambda: self.observer.retrying(_in_flight, False), timeout_s=70, interval_s=0.2)
        fault.started_s = self.elapsed()
        if fault.kind == "azurite":
            azurite.kill()
            time.sleep(5)
            azurite.start()  # in memory: no queue, no message
        elif fault.kind == "mail":
            mailbox.kill()
            time.sleep(MAIL_DOWN_S)
            mailbox.start()
        elif fault.kind == "webhook":
            webhook.reply_with(Reply(status=500))
            time.sleep(WEBHOOK_FAILING_S)
            webhook.reply_with(Reply(status=503, delay_s=HTTP_TIMEOUT_S + 2))
            time.sleep(WEBHOOK_HANGING_S)
            webhook.reply_with(Reply(status=200))
        elif fault.kind == "database":
            self.cluster.restart()
        elif fault.kind == "host":
            self.kill_a_host(fault)  # sets `ended_s` at the kill: what the victim held must be taken over
            return
        else:
            raise ValueError(fault.kind)
        fault.ended_s = self.elapsed()

    def kill_a_host(self, fault: Fault) -> None:
        victim = self.rng.choice([host for host in self.hosts if not host.killed])
        held = self.observer.retrying(unfinished, {})
        victim.devhost.stop(signal.SIGKILL)
        victim.killed = True
        fault.ended_s = self.elapsed()
        # accepted by a receiver, not marked sent: the window no bookkeeping can close
        accepted = {d.key for d in [*self.webhooks.deliveries(), *self.mails.deliveries()]}
        window = accepted & self.observer.retrying(unmarked_keys, set())
        self.crash_window |= window
        replacement = Host(devhost=start_devhost(self.env, self.workdir), name=f"{victim.name}'")
        self.hosts.append(replacement)
        fault.note = (
            f"{victim.name} SIGKILLed with {held} unfinished; {replacement.name} up"
            f" {self.elapsed() - fault.ended_s:.0f} s later; {len(window)} notices in the crash window"
        )

    def wait_recovered(self, fault: Fault) -> None:
        moment = self.began_at + timedelta(seconds=fault.ended_s)

        def recovered() -> bool:
            return bool(self.observer.retrying(lambda d: unfinished_before(d, moment) == 0, False))

        if wait_until(recovered, timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.5):
            fault.recovered_s = self.elapsed()
        else:
            fault.note += (
                f"; not recovered after {RECOVERY_TIMEOUT_S} s: {unfinished(self.observer.database)}"
            )

    def elapsed(self) -> float:
        return round(time.monotonic() - self.began, 1)

    # ---------------------------------------------------------------------------------------------- run

    def run(self) -> dict[str, Any]:
        args = self.args
        self.rng = random.Random(args.seed)  # noqa: S311 - fault times and order, not secrets
        found = binaries()
        if found is None:
            raise SystemExit(
                "the PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql"
            )
        self.cluster = Cluster(found)
        azurite, mailbox = Azurite(self.workdir), Mailbox(self.workdir)
        try:
            self.cluster.start()
            url = self.cluster.create_database("mgrid_soak")
            engine = create_monitoring_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            self.observer = Observer(url)
            with Scratch("postgresql") as scratch, http_capture() as webhook:
                source = scratch.url("source")
                azurite.start()
                mailbox.start()
                self.webhooks, self.mails = Webhooks(webhook), Mails(mailbox)
                self.env = fault_env(
                    self.observer.database,
                    azurite.connection_string,
                    **{
                        "ConnectionStrings__Sources__main": source,
                        "Worker__KpiMonitoring__MaxParallelKpis": "20",
                        "Notifications__HttpTimeoutSeconds": str(HTTP_TIMEOUT_S),
                        **mailbox.environment(),
                        # the devhost's opt-in memory diagnostics (devhost/diagnostics.py), passed through
                        **{k: v for k, v in os.environ.items() if k.startswith("MGRID_TRACEMALLOC")},
                    },
                )
                return self.scheduled(azurite, mailbox, webhook)
        finally:
            for host in self.hosts:
                if host.devhost.process.poll() is None:
                    host.devhost.stop(signal.SIGKILL)
            mailbox.stop()
            azurite.stop()
            self.cluster.destroy()

    def scheduled(self, azurite: Azurite, mailbox: Mailbox, webhook: HttpReceiver) -> dict[str, Any]:
        args = self.args
        self.hosts.extend(
            Host(devhost=start_devhost(self.env, self.workdir), name=f"host{i + 1}")
            for i in range(args.hosts)
        )
        first = first_slot_soon()
        with self.observer.database.engine.begin() as connection:
            ids = add_alerting_kpis(
                connection, args.kpis, first_slot=first, sleep_s=QUERY_SLEEP_S, webhook=webhook.base_url
            )
            clean = CLEAN.format(sleep=QUERY_SLEEP_S)
            connection.execute(update(kpis).where(kpis.c.id.in_(ids[args.alerting :])).values(sql_text=clean))
        self.began, self.began_at = time.monotonic(), datetime.now(UTC)
        sampler = Sampler(self.hosts, self.began)
        sampler.start()
        faults = plan_faults(args.faults, args.minutes, self.rng)
        log(f"first slot {first:%H:%M:%S}; faults planned: {[(f.kind, round(f.planned_s)) for f in faults]}")
        for fault in faults:
            time.sleep(max(0.0, fault.planned_s - self.elapsed()))
            log(f"fault {fault.kind} at {self.elapsed()} s")
            self.inject(fault, azurite=azurite, mailbox=mailbox, webhook=webhook)
            self.wait_recovered(fault)
            log(
                f"fault {fault.kind}: ended {fault.ended_s} s, recovered in {fault.recovery_s} s {fault.note}"
            )
        time.sleep(max(0.0, args.minutes * 60 - self.elapsed()))
        stops = stop_scheduling(self.observer.database)
        drained = wait_until(lambda: self.observer.retrying(nothing_unfinished, False), timeout_s=300)
        sampler.stopping.set()
        left = unfinished(self.observer.database)
        exit_codes = [host.devhost.stop() for host in self.hosts if not host.killed]
        cpu_busy = psutil.cpu_percent()
        return self.count(
            first, stops, faults, sampler, drained=drained, left=left, exit_codes=exit_codes
        ) | {"cpu_busy_percent": cpu_busy}

    # -------------------------------------------------------------------------------------------- count

    def count(
        self,
        first: datetime,
        stops: dict[int, datetime],
        faults: list[Fault],
        sampler: Sampler,
        *,
        drained: bool,
        left: dict[str, int],
        exit_codes: list[int],
    ) -> dict[str, Any]:
        database = self.observer.database
        figures = Figures(scenario="soak")
        count_slots(figures, database, expected_slots(first, stops))
        delivered = [*self.webhooks.deliveries(), *self.mails.deliveries()]
        expected, moved_on = expected_under_load(database)
        dropped = delivery_keys(database, "dropped", "skipped")
        missing, unexpected = count_notices(
            figures, expected, [d.key for d in delivered], crash_window=self.crash_window
        )
        latency = self.latency(delivered, faults)
        return {
            "figures": asdict(figures),
            "missing_notices": len(missing),
            "dropped_notices": len(dropped),
            "events_moved_on": moved_on,
            "missing_by_status": {
                status: len(missing & delivery_keys(database, status))
                for status in ("pending", "sent", "failed", "skipped", "dropped")
                if missing & delivery_keys(database, status)
            },
            "delivery_statuses": dict(delivery_statuses(database)),
            "unexpected_notices": len(unexpected),
            "stale_transitions": stale_transitions(database),
            "late_slots": late_slots(database),
            "drained": drained,
            "left": left,
            "exit_codes": exit_codes,
            "faults": [asdict(f) | {"recovery_s": f.recovery_s} for f in faults],
            "latency": latency,
            "memory": [memory(host) for host in self.hosts],
            "load": {
                "mean": round(statistics.fmean(sampler.load), 2) if sampler.load else None,
                "max": round(max(sampler.load), 2) if sampler.load else None,
            },
            "webhook_refused": self.webhooks.refused,
        }

    def latency(self, delivered: list[Delivery], faults: list[Fault]) -> dict[str, Any]:
        """Seconds from each event's slot to the first accepted notice of each (event, address)."""
        with self.observer.database.engine.connect() as connection:
            slots = dict(
                connection.execute(
                    select(alert_events.c.id, kpi_executions.c.slot).join(
                        kpi_executions, kpi_executions.c.id == alert_events.c.execution_id
                    )
                ).all()
            )
        first_at: dict[Key, datetime] = {}
        for d in sorted(delivered, key=lambda d: d.at):
            first_at.setdefault(d.key, d.at)
        windows = [
            (
                self.began_at + timedelta(seconds=f.started_s - 60),
                self.began_at + timedelta(seconds=f.recovered_s if f.recovered_s is not None else 1e9),
            )
            for f in faults
        ]
        overall, outside = [], []
        for key, at in first_at.items():
            slot = slots.get(key[0])
            if slot is None:
                continue
            seconds = (at - slot).total_seconds()
            overall.append(seconds)
            if not any(start < at and slot < end for start, end in windows):
                outside.append(seconds)
        return {"overall": percentiles(overall), "outside_faults": percentiles(outside)}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {"n": len(ordered), "p50": round(q[49], 1), "p99": round(q[98], 1), "max": round(ordered[-1], 1)}


def memory(host: Host) -> dict[str, Any]:
    """The host's RSS at its first and last sample, and its least-squares slope per 10 minutes after the
    first `MEMORY_SKIP_S` of the run and over the last half of that span. A one-off step (a pool or a cache
    filling at a fault) tilts the first; a leak tilts both; the verdict reads the last half."""
    samples = [(t, rss) for t, rss in host.rss if t >= MEMORY_SKIP_S] or host.rss
    mib = 1024 * 1024
    result: dict[str, Any] = {"host": host.name, "samples": len(host.rss), "killed": host.killed}
    if host.rss:
        result |= {"first_mib": round(host.rss[0][1] / mib, 1), "last_mib": round(host.rss[-1][1] / mib, 1)}
        result["rss_mib"] = [(round(t), round(rss / mib, 1)) for t, rss in host.rss]  # the JSON only
    if len(samples) >= 3:
        times, values = [t for t, _ in samples], [rss / mib for _, rss in samples]
        middle = (times[0] + times[-1]) / 2
        late = [(t, v) for t, v in zip(times, values, strict=True) if t >= middle]
        result |= {
            "slope_mib_per_10min": _slope(times, values),
            "span_min": round((times[-1] - times[0]) / 60, 1),
            "median_mib": round(statistics.median(values), 1),
        }
        if len(late) >= 3:
            result["late_slope_mib_per_10min"] = _slope([t for t, _ in late], [v for _, v in late])
    return result


def _slope(times: list[float], values: list[float]) -> float:
    """Least-squares slope, in MiB per 10 minutes (0 when every value is the same)."""
    if len(set(values)) == 1:
        return 0.0
    return round(statistics.linear_regression(times, values)[0] * 600, 2)


def log(message: str) -> None:
    sys.stdout.write(f"{datetime.now(UTC):%H:%M:%S} {message}\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------- report


def verdicts(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of the soak's targets."""
    f = result["figures"]
    outside = result["latency"]["outside_faults"]
    growth = [m for m in result["memory"] if "late_slope_mib_per_10min" in m and m["span_min"] >= 5]
    trend = [m for m in growth if m["late_slope_mib_per_10min"] > max(2.0, 0.02 * m["median_mib"])]
    return [
        (
            "0 lost slots",
            f"{f['slots_executed']}/{f['slots_expected']} executed",
            f["slots_executed"] == f["slots_expected"],
        ),
        ("0 duplicate executions", str(f["slots_duplicated"]), f["slots_duplicated"] == 0),
        (
            "0 lost notices",
            f"{f['notices_sent']}/{f['notices_expected']} sent",
            f["notices_sent"] == f["notices_expected"] and not result["unexpected_notices"],
        ),
        (
            "duplicate notices only in the crash window",
            f"{f['notices_duplicated']} outside, {f['notices_repeated_in_crash_window']} in it",
            f["notices_duplicated"] == 0,
        ),
        (
            "no alert transition from a stale slot",
            str(result["stale_transitions"]),
            result["stale_transitions"] == 0,
        ),
        (
            "p99 slot to notice < 90 s outside fault windows",
            f"{outside['p99']} s",
            outside["p99"] is not None and outside["p99"] < 90,
        ),
        (
            "no memory growth trend (slope over the last half <= max(2 MiB, 2 % of the RSS) per 10 min)",
            ", ".join(f"{m['host']} {m['late_slope_mib_per_10min']:+.2f}" for m in growth)
            + " MiB per 10 min over the last half"
            if growth
            else "n/a (no host sampled for 5 min after the first 2)",
            not trend,
        ),
        ("nothing left unfinished", str(result["left"]), result["drained"]),
    ]


def section(args: argparse.Namespace, result: dict[str, Any], seconds: float) -> str:
    f = result["figures"]
    command = "python -m benchmarks.soak" + (" " + shlex.join(args.argv) if args.argv else "")
    lat = result["latency"]
    load = result["load"]
    setup = (
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` (seed {args.seed}) in"
        f" {seconds / 60:.1f} min on {os.cpu_count()} CPUs shared with other work (load average over the run:"
        f" mean {load['mean']}, max {load['max']}; CPU busy {result['cpu_busy_percent']:.0f} %)."
        f" {args.hosts} devhosts, {args.kpis} KPIs every minute for {args.minutes:g} min ({args.alerting}"
        " alternate between breach and clean on every slot, so each of their slots sends an email and a"
        " webhook call; the others stay clean), a monitoring PostgreSQL cluster owned by the run, the source"
        " on the shared server, Azurite in memory, the demo mailbox and an HTTP receiver; the fault suite's"
        " settings (ticks every 10 s, `ResendAfterSeconds` 60, `ExecutionTimeoutSeconds` 30)."
    )
    notices = (
        f"| Notices (event, address) | {f['notices_expected']} | {f['notices_sent']} |"
        f" {f['notices_duplicated']} (+{f['notices_repeated_in_crash_window']} in the crash window) |"
    )
    late = (
        "Slots finished after a later slot of their KPI (lost messages re-sent by the sweep):"
        f" {result['late_slots']}; alert transitions from them: {result['stale_transitions']}. Webhook calls"
        f" refused or left hanging by the receiver during its fault: {result['webhook_refused']}."
        f" Deliveries by status: {result['delivery_statuses']}; dropped ones (the alert resolved before"
        f" they could be sent) are not expected: {result['dropped_notices']}; events that told nobody because"
        f" their alert had resolved before they were dispatched: {result['events_moved_on']}"
        " (`expected_under_load` in soak.py); missing notices by delivery status:"
        f" {result['missing_by_status']}."
    )
    latency_rows = [
        f"| {label} | {lat[part]['n']} | {lat[part]['p50']} s | {lat[part]['p99']} s | {lat[part]['max']} s |"
        for label, part in (("Outside fault windows", "outside_faults"), ("Overall", "overall"))
    ]
    fault_rows = [
        f"| {x['kind']} | {x['started_s']:.0f} s | {x['ended_s'] - x['started_s']:.0f} s |"
        f" {x['recovery_s']} s | {x['note']} |"
        for x in result["faults"]
    ]
    memory_rows = [
        f"| {m['host']}{' (killed)' if m['killed'] else ''} |"
        f" {m.get('first_mib')} / {m.get('last_mib')} MiB |"
        f" {m.get('slope_mib_per_10min', 'n/a')} / {m.get('late_slope_mib_per_10min', 'n/a')}"
        f" MiB per 10 min | {m.get('span_min', 0)} min |"
        for m in result["memory"]
    ]
    lines = [
        START,
        "## Soak: faults over time (`make bench-soak`)",
        "",
        setup,
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
        *(
            f"| {target} | {measured} | {'yes' if met else '**no**'} |"
            for target, measured, met in verdicts(result)
        ),
        "",
        "| Figure | Expected | Done / sent | Duplicated |",
        "|---|---|---|---|",
        f"| Executions (slots) | {f['slots_expected']} | {f['slots_executed']} | {f['slots_duplicated']} |",
        notices,
        "",
        late,
        "",
        "| Slot to first accepted notice | Notices | p50 | p99 | max |",
        "|---|---|---|---|---|",
        *latency_rows,
        "",
        "| Fault | At | Lasted | Recovery | Note |",
        "|---|---|---|---|---|",
        *fault_rows,
        "",
        "| Host | RSS first / last | Slope after 2 min / over the last half | Over |",
        "|---|---|---|---|",
        *memory_rows,
        "",
        "A fault's recovery runs from its end (restart, server back, replacement host up) until nothing"
        " created before that end is unfinished; its latency window from a minute before it starts to that"
        " recovery. A notice counts outside the fault windows when neither its slot nor its delivery falls in"
        " one.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text_: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, _, rest = current.partition(START)
        tail = rest.partition(END)[2].removeprefix("\n")
        path.write_text(head + text_ + tail, encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text_ if current else text_, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--kpis", type=int, default=300)
    parser.add_argument("--alerting", type=int, default=100, help="KPIs that alternate breach / clean")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--faults", type=lambda s: [k for k in s.split(",") if k], default=list(FAULTS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {','.join(FAULTS)}")
    args.alerting = min(args.alerting, args.kpis)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10_000)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mgrid-soak-") as workdir:
        result = Soak(args, Path(workdir)).run()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    text_ = section(args, result, time.monotonic() - began)
    write_section(args.output, text_)
    sys.stdout.write(json.dumps(result, default=str) + "\n" + text_)
    return 0 if all(met for _, _, met in verdicts(result)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
