"""`mgrid kpi ...`: the definitions file, listing, and running a KPI now (for real or dry); replaying one over
past slots lives in `kpi_replay`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from shared import runtime
from shared.cli import kpi_replay
from shared.cli.common import Groups, emit, table, with_json
from shared.cli.contacts import lifecycle
from shared.definitions import Format, render_document
from shared.domain.execution import ExecutionOutcome, ExecutionStatus
from shared.services import definitions
from shared.services.manual_run import dry_run, run_now
from shared.settings import get_settings


def register(groups: Groups) -> None:
    kpi = groups.add_parser("kpi", help="KPI definitions").add_subparsers(required=True)
    load = kpi.add_parser("import", help="validate a definitions file (YAML or JSON), then upsert it")
    load.add_argument("file", type=Path)
    load.add_argument(
        "--prune", action="store_true", help="also delete the KPIs and contacts the file does not name"
    )
    load.add_argument("--yes", action="store_true", help="with --prune: apply (else only list the deletions)")
    load.add_argument("--by", default="mgrid", help="with --prune: who resolves deleted KPIs' alerts")
    with_json(load, _import)
    dump = kpi.add_parser("export", help="write every contact and KPI as a definitions file")
    dump.add_argument(
        "--format", choices=["yaml", "json"], help="default: json for a .json --output, else yaml"
    )
    dump.add_argument("--output", type=Path, help="file to write (default: stdout)")
    with_json(dump, _export)
    with_json(kpi.add_parser("list", help="every KPI with its schedule and next run"), _list)
    run = kpi.add_parser("run", help="run a KPI now, through the executor's path; print the outcome as JSON")
    run.add_argument("kpi", help="the KPI's id or indicator")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing (no execution, history or alert); inactive KPIs too",
    )
    with_json(run, _run)
    kpi_replay.register(kpi)
    remove = kpi.add_parser(
        "delete", help="delete a KPI with its history; its open alerts are resolved (KPI deleted)"
    )
    remove.add_argument("kpi", help="the KPI's id or indicator")
    remove.add_argument("--by", default="mgrid", help="who resolves its open alerts (default: mgrid)")
    with_json(remove, _delete)


def _import(args: argparse.Namespace) -> int:
    if args.prune:
        return _prune(args)
    engine, settings = runtime.monitoring_engine(), get_settings()
    summary = definitions.import_file(engine, args.file, settings, now=datetime.now(UTC))
    counts = summary.to_dict()
    text = "\n".join(
        f"{section}: {', '.join(f'{count} {outcome}' for outcome, count in outcomes.items())}"
        for section, outcomes in counts.items()
    )
    emit(args, counts, text)
    return 0


def _prune(args: argparse.Namespace) -> int:
    report = lifecycle().prune(args.file, apply=args.yes, by=args.by, now=datetime.now(UTC))
    doomed = [f"KPI {name}" for name in report.kpis] + [f"contact {name}" for name in report.contacts]
    listed = ", ".join(doomed) or "nothing"
    kept = f"; kept the administrator contact {report.kept[0]}" if report.kept else ""
    text = (
        f"deleted {listed}{kept}" if report.applied else f"would delete {listed}{kept} (add --yes to apply)"
    )
    emit(args, report.to_dict(), text)
    return 0


def _delete(args: argparse.Namespace) -> int:
    deletion = lifecycle().delete_kpi(args.kpi, by=args.by)
    removed = deletion.removed
    text = (
        f"deleted KPI {deletion.indicator} (id {deletion.kpi_id}): {len(deletion.resolved_alerts)} open "
        f"alerts resolved, {removed['alerts']} alerts, {removed['historical_data']} history rows and "
        f"{removed['kpi_executions']} executions removed"
    )
    emit(args, deletion.to_dict(), text)
    return 0


def _export(args: argparse.Namespace) -> int:
    """Writes the definitions file; `--json` is accepted for consistency (use `--format json`)."""
    output: Path | None = args.output
    inferred = "json" if output is not None and output.suffix.lower() == ".json" else "yaml"
    fmt: Format = "json" if (args.format or inferred) == "json" else "yaml"
    text = render_document(definitions.export_document(runtime.monitoring_engine()), fmt=fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = [kpi.as_json() for kpi in definitions.list_kpis(runtime.monitoring_engine())]
    emit(args, rows, table(rows) if rows else "no KPIs")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Always prints JSON; `--json` is accepted and changes nothing."""
    settings = get_settings()
    if args.dry_run:
        dry = dry_run(
            runtime.monitoring_engine(), runtime.source_runner(), settings, args.kpi, now=datetime.now(UTC)
        )
        print(json.dumps(dry.to_dict(), default=str))
        return 0 if dry.status is ExecutionStatus.SUCCEEDED else 1
    report = run_now(
        runtime.monitoring_engine(),
        runtime.executor(),
        args.kpi,
        now=datetime.now(UTC),
        owner=runtime.owner(),
        only_active=settings.worker.kpi_monitoring.process_only_active_kpis,
    )
    print(json.dumps(report.to_dict(), default=str))
    return 0 if report.status is ExecutionOutcome.SUCCEEDED else 1
