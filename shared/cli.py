"""`mgrid`: the operator's command line (also `python -m shared.cli`).

Listings take `--json` and then print one JSON document on stdout; errors go to stderr with a non-zero exit
code (2 for invalid settings, definitions or usage, each problem on its own line; 1 for everything else). A
`local.settings.json` in the working directory (or `--settings-file`) supplies settings the environment does
not set, as Core Tools does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from shared import local_settings, runtime
from shared.db import migrate
from shared.db.alerts import list_alerts
from shared.definitions import Format, render_document
from shared.domain.alert import AlertStatus
from shared.domain.health import HealthStatus
from shared.errors import DefinitionsError, MonitoringGridError, SettingsError
from shared.services import definitions
from shared.services.cleanup import Cleanup, CleanupReport
from shared.services.health import check_health
from shared.services.maintenance import Maintenance, MaintenanceReport
from shared.services.manual_run import run_now
from shared.settings import effective_values, get_settings, mask_secret

log = logging.getLogger("mgrid.cli")
Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = _parser().parse_args(argv)
    try:
        _load_local_settings(args.settings_file)
        logging.basicConfig(level=_log_level(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
        command: Command = args.command
        return command(args)
    except (SettingsError, DefinitionsError) as error:
        print(f"mgrid: {error}", file=sys.stderr)
        return 2
    except (MonitoringGridError, SQLAlchemyError) as error:
        print(f"mgrid: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        runtime.reset()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgrid", description="MonitoringGrid operator commands.")
    parser.add_argument(
        "--settings-file", type=Path, help="local settings JSON (default: ./local.settings.json)"
    )
    groups = parser.add_subparsers(
        dest="group", required=True, metavar="{db,settings,kpi,alerts,health,cleanup,maintenance}"
    )

    db = groups.add_parser("db", help="the monitoring database schema").add_subparsers(required=True)
    up = db.add_parser("upgrade", help="apply migrations up to a revision (default: head)")
    up.add_argument("--revision", default="head")
    up.set_defaults(command=_db_upgrade)
    down = db.add_parser("downgrade", help="revert migrations down to a revision ('base' drops everything)")
    down.add_argument("revision")
    down.set_defaults(command=_db_downgrade)
    _with_json(
        db.add_parser("current", help="the schema revision of the database and of the code"), _db_current
    )

    settings = groups.add_parser("settings", help="effective settings").add_subparsers(required=True)
    _with_json(settings.add_parser("show", help="every setting's effective value, secrets masked"), _show)

    _add_kpi_commands(groups)
    _add_alert_commands(groups)
    _add_operations_commands(groups)
    _with_json(groups.add_parser("health", help="run the health checks (the JSON of /api/health)"), _health)
    return parser


def _add_kpi_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kpi = groups.add_parser("kpi", help="KPI definitions").add_subparsers(required=True)
    load = kpi.add_parser("import", help="validate a definitions file (YAML or JSON), then upsert it")
    load.add_argument("file", type=Path)
    _with_json(load, _kpi_import)
    dump = kpi.add_parser("export", help="write every contact and KPI as a definitions file")
    dump.add_argument(
        "--format", choices=["yaml", "json"], help="default: json for a .json --output, else yaml"
    )
    dump.add_argument("--output", type=Path, help="file to write (default: stdout)")
    dump.set_defaults(command=_kpi_export)
    _with_json(kpi.add_parser("list", help="every KPI with its schedule and next run"), _kpi_list)
    run = kpi.add_parser("run", help="run a KPI now, through the executor's path; print the outcome as JSON")
    run.add_argument("kpi", help="the KPI's id or indicator")
    run.set_defaults(command=_kpi_run)


def _add_alert_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = groups.add_parser("alerts", help="alerts").add_subparsers(required=True)
    listing = alerts.add_parser("list", help="the newest alerts first")
    listing.add_argument("--status", choices=[status.value for status in AlertStatus])
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    _with_json(listing, _alerts_list)
    ack = alerts.add_parser("ack", help="acknowledge an open alert: its escalation stops")
    ack.add_argument("alert_id", type=int, metavar="ID")
    ack.add_argument("--by", required=True, help="who acknowledges (kept in the audit trail)")
    ack.add_argument("--note", help="a note for the audit trail")
    _with_json(ack, _alerts_ack)
    resolve = alerts.add_parser("resolve", help="resolve an alert and tell everyone who was notified")
    resolve.add_argument("alert_id", type=int, metavar="ID")
    resolve.add_argument("--by", required=True, help="who resolves (kept in the audit trail)")
    resolve.add_argument("--reason", help="why (shown in the resolved notice)")
    _with_json(resolve, _alerts_resolve)
    dispatch = alerts.add_parser("dispatch", help="deliver pending alert events now (as alert_escalation)")
    dispatch.add_argument("--limit", type=int, default=1000, help="at most this many events (default 1000)")
    _with_json(dispatch, _alerts_dispatch)
    _with_json(alerts.add_parser("process", help="one pass of alert_processor now"), _alerts_process)


def _add_operations_commands(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cleanup = groups.add_parser(
        "cleanup", help="delete what is past retention now (the cleanup timer's work)"
    )
    _with_json(cleanup, _cleanup)
    maintenance = groups.add_parser("maintenance", help="maintain the monitoring database now (weekly timer)")
    _with_json(maintenance, _maintenance)


def _with_json(parser: argparse.ArgumentParser, command: Command) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(command=command)


def _load_local_settings(path: Path | None) -> None:
    candidate = path or Path("local.settings.json")
    if path is not None or candidate.is_file():
        local_settings.apply(local_settings.read_values(candidate))


def _log_level() -> int:
    names = {"Trace": "DEBUG", "Debug": "DEBUG", "Information": "INFO"}
    level = get_settings().worker.logging.minimum_level
    return logging.getLevelNamesMapping()[names.get(level, level.upper())]


def _monitoring_url() -> str:
    return mask_secret(get_settings().connection_strings.monitoring)


def _db_upgrade(args: argparse.Namespace) -> int:
    migrate.upgrade(runtime.monitoring_engine(), args.revision)
    print(f"{_monitoring_url()} is at revision {migrate.current(runtime.monitoring_engine())}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    migrate.downgrade(runtime.monitoring_engine(), args.revision)
    print(f"{_monitoring_url()} is at revision {migrate.current(runtime.monitoring_engine())}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    state = {
        "url": _monitoring_url(),
        "current": migrate.current(runtime.monitoring_engine()),
        "head": migrate.head(),
    }
    _emit(args, state, f"current {state['current']} (code head {state['head']}) on {state['url']}")
    return 0


def _show(args: argparse.Namespace) -> int:
    values = effective_values(get_settings())
    _emit(args, values, "\n".join(f"{name} = {value}" for name, value in values.items()))
    return 0


def _health(args: argparse.Namespace) -> int:
    report = check_health(get_settings, runtime.monitoring_engine)
    print(json.dumps(report.to_dict(), indent=None if args.json else 2))
    return 1 if report.status is HealthStatus.UNHEALTHY else 0


def _kpi_import(args: argparse.Namespace) -> int:
    engine, settings = runtime.monitoring_engine(), get_settings()
    summary = definitions.import_file(engine, args.file, settings, now=datetime.now(UTC))
    counts = summary.to_dict()
    text = "\n".join(
        f"{section}: {', '.join(f'{count} {outcome}' for outcome, count in outcomes.items())}"
        for section, outcomes in counts.items()
    )
    _emit(args, counts, text)
    return 0


def _kpi_export(args: argparse.Namespace) -> int:
    output: Path | None = args.output
    inferred = "json" if output is not None and output.suffix.lower() == ".json" else "yaml"
    fmt: Format = "json" if (args.format or inferred) == "json" else "yaml"
    text = render_document(definitions.export_document(runtime.monitoring_engine()), fmt=fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def _kpi_list(args: argparse.Namespace) -> int:
    rows = definitions.list_kpis(runtime.monitoring_engine())
    _emit(args, rows, _table(rows) if rows else "no KPIs")
    return 0


def _table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as aligned text columns under a header of their keys."""
    cells = [list(rows[0])] + [
        ["-" if value is None else str(value) for value in row.values()] for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _alerts_list(args: argparse.Namespace) -> int:
    status = AlertStatus(args.status) if args.status else None
    with runtime.monitoring_engine().connect() as connection:
        rows = list_alerts(connection, status=status, limit=args.limit)
    lines = [
        f"{row['id']:>6} {row['status']:<12} {row['severity']:<8} {row['indicator'] or '(system)'} / "
        f"{row['metric_key']}  current={row['current_value']} baseline={row['baseline_value']} "
        f"deviation={row['deviation_percent']} opened={row['opened_at']:%Y-%m-%d %H:%M:%S}Z"
        for row in rows
    ]
    _emit(args, rows, "\n".join(lines) if lines else "no alerts")
    return 0


def _alerts_ack(args: argparse.Namespace) -> int:
    result = runtime.alert_actions().acknowledge(args.alert_id, by=args.by, note=args.note)
    state = "acknowledged" if result.changed else f"unchanged ({result.alert['status']})"
    _emit(args, result.as_json(), f"alert {args.alert_id}: {state}")
    return 0


def _alerts_resolve(args: argparse.Namespace) -> int:
    result = runtime.alert_actions().resolve(args.alert_id, by=args.by, reason=args.reason)
    document = result.as_json()
    text = f"alert {args.alert_id}: " + ("resolved" if result.changed else "already resolved")
    if result.event is not None:
        delivered = runtime.event_dispatcher().dispatch_now([result.event.event_id])
        document["notifications"] = delivered.summary()
        text += f"; resolved notice: {_outcomes(delivered.summary())}"
    _emit(args, document, text)
    return 0


def _alerts_dispatch(args: argparse.Namespace) -> int:
    report = runtime.event_dispatcher().dispatch_outbox(limit=args.limit)
    _emit(args, report.summary(), f"{len(report.event_ids)} events dispatched: {_outcomes(report.summary())}")
    return 0


def _alerts_process(args: argparse.Namespace) -> int:
    report = runtime.alert_processor().run()
    document = report.summary()
    delivered = runtime.event_dispatcher().dispatch_now([event.event_id for event in report.events])
    document["dispatched"] = delivered.summary()
    _emit(args, document, json.dumps(document, indent=2))
    return 1 if report.errors else 0


def _cleanup(args: argparse.Namespace) -> int:
    report = Cleanup(runtime.monitoring_engine(), get_settings()).run()
    _emit(args, report.summary(), _cleanup_text(report))
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
    _emit(args, report.summary(), _maintenance_text(report))
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


def _outcomes(summary: dict[str, Any]) -> str:
    return ", ".join(
        f"{summary[key]} {key}" for key in ("sent", "retrying", "failed", "dropped") if summary[key]
    )


def _kpi_run(args: argparse.Namespace) -> int:
    report = run_now(
        runtime.monitoring_engine(),
        runtime.executor(),
        args.kpi,
        now=datetime.now(UTC),
        owner=runtime.owner(),
    )
    print(json.dumps(report.to_dict(), default=str))
    return 0 if report.status == "succeeded" else 1


def _emit(args: argparse.Namespace, document: Any, text: str) -> None:
    print(json.dumps(document, default=str) if args.json else text)


if __name__ == "__main__":
    sys.exit(main())
