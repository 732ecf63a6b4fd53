"""`mgrid db|settings|health|cleanup|maintenance`: the schema, settings, and the timers' work now."""

from __future__ import annotations

import argparse
import json

from shared import runtime
from shared.cli.common import Groups, emit, monitoring_url, with_json
from shared.db import migrate
from shared.domain.health import HealthStatus
from shared.services.cleanup import Cleanup, CleanupReport
from shared.services.health import check_health
from shared.services.maintenance import Maintenance, MaintenanceReport
from shared.settings import effective_values, get_settings


def register(groups: Groups) -> None:
    db = groups.add_parser("db", help="the monitoring database schema").add_subparsers(required=True)
    up = db.add_parser("upgrade", help="apply migrations up to a revision (default: head)")
    up.add_argument("--revision", default="head")
    with_json(up, _db_upgrade)
    down = db.add_parser("downgrade", help="revert migrations down to a revision ('base' drops everything)")
    down.add_argument("revision")
    with_json(down, _db_downgrade)
    with_json(db.add_parser("current", help="the schema revision of the database and of the code"), _current)
    settings = groups.add_parser("settings", help="effective settings").add_subparsers(required=True)
    with_json(settings.add_parser("show", help="every setting's effective value, secrets masked"), _show)
    health = groups.add_parser("health", help="run the health checks (the JSON of /api/health/details)")
    with_json(health, _health)
    cleanup = groups.add_parser("cleanup", help="delete what is past retention now (the cleanup timer)")
    with_json(cleanup, _cleanup)
    maintenance = groups.add_parser("maintenance", help="maintain the monitoring database now (weekly timer)")
    with_json(maintenance, _maintenance)


def _db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(runtime.monitoring_engine(), args.revision)
    return _revision(args)


def _db_downgrade(args: argparse.Namespace) -> int:
    migrate.downgrade(runtime.monitoring_engine(), args.revision)
    return _revision(args)


def _revision(args: argparse.Namespace) -> int:
    state = {"url": monitoring_url(), "current": migrate.current(runtime.monitoring_engine())}
    emit(args, state, f"{state['url']} is at revision {state['current']}")
    return 0


def _current(args: argparse.Namespace) -> int:
    state = {
        "url": monitoring_url(),
        "current": migrate.current(runtime.monitoring_engine()),
        "head": migrate.head(),
    }
    emit(args, state, f"current {state['current']} (code head {state['head']}) on {state['url']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    values = effective_values(get_settings())
    emit(args, values, "\n".join(f"{name} = {value}" for name, value in values.items()))
    return 0


def _health(args: argparse.Namespace) -> int:
    report = check_health(get_settings, runtime.monitoring_engine)
    print(json.dumps(report.to_dict(names=True), indent=None if args.json else 2))
    return 1 if report.status is HealthStatus.UNHEALTHY else 0


def _cleanup(args: argparse.Namespace) -> int:
    report = Cleanup(runtime.monitoring_engine(), get_settings()).run()
    emit(args, report.summary(), _cleanup_text(report))
    return 1 if report.errors else 0


def _cleanup_text(report: CleanupReport) -> str:
    if report.disabled:
        return "cleanup is disabled (Worker__ScheduledTasks__Enabled)"
    summary = report.summary()
    lines = [f"{table:<16} {count:>10} deleted" for table, count in report.deleted.items()]
    lines += [f"{table:<16} failed: {error}" for table, error in report.errors.items()]
    state = "complete" if report.complete else "incomplete (the next run continues)"
    lines.append(
        f"{state}: {summary['total']} rows in {summary['duration_s']} s, {summary['batches']} batches,"
        f" longest {summary['longest_batch_ms']} ms"
    )
    return "\n".join(lines)


def _maintenance(args: argparse.Namespace) -> int:
    report = Maintenance(runtime.monitoring_engine(), get_settings()).run()
    emit(args, report.summary(), _maintenance_text(report))
    return 1 if report.failed else 0


def _maintenance_text(report: MaintenanceReport) -> str:
    if report.disabled:
        return "maintenance is disabled (Worker__ScheduledTasks__Enabled)"
    lines = [
        f"{step.status:<8} {step.duration_ms:>10.1f} ms  {step.name}: {step.detail}" for step in report.steps
    ]
    outcome = "a step failed" if report.failed else "done"
    lines.append(f"maintenance: {outcome}, {len(report.steps)} steps in {report.duration_s:.1f} s")
    return "\n".join(lines)
