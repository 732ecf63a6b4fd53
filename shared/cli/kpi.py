"""`mgrid kpi ...`: the definitions file, listing, and running a KPI now."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from shared import runtime
from shared.cli.common import Groups, emit, table, with_json
from shared.definitions import Format, render_document
from shared.errors import InvalidRange
from shared.services import definitions
from shared.services.backtest import BATCH_SLOTS, Backtester
from shared.services.manual_run import run_now
from shared.settings import get_settings


def register(groups: Groups) -> None:
    kpi = groups.add_parser("kpi", help="KPI definitions").add_subparsers(required=True)
    load = kpi.add_parser("import", help="validate a definitions file (YAML or JSON), then upsert it")
    load.add_argument("file", type=Path)
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
    with_json(run, _run)
    backtest = kpi.add_parser(
        "backtest", help="replay a KPI over a past range (re-running its query), writing nothing; print JSON"
    )
    backtest.add_argument("kpi", help="the KPI's id or indicator")
    backtest.add_argument("--from", dest="start", required=True, type=instant, help="ISO 8601; naive = UTC")
    backtest.add_argument("--to", dest="end", required=True, type=instant, help="ISO 8601; naive = UTC")
    with_json(backtest, _backtest)


def _import(args: argparse.Namespace) -> int:
    engine, settings = runtime.monitoring_engine(), get_settings()
    summary = definitions.import_file(engine, args.file, settings, now=datetime.now(UTC))
    counts = summary.to_dict()
    text = "\n".join(
        f"{section}: {', '.join(f'{count} {outcome}' for outcome, count in outcomes.items())}"
        for section, outcomes in counts.items()
    )
    emit(args, counts, text)
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
    rows = definitions.list_kpis(runtime.monitoring_engine())
    emit(args, rows, table(rows) if rows else "no KPIs")
    return 0


def instant(value: str) -> datetime:
    """An ISO 8601 instant from the command line; one without a time zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _backtest(args: argparse.Namespace) -> int:
    """Always prints JSON; `--json` is accepted and changes nothing. Progress goes to stderr."""
    backtester = Backtester(runtime.monitoring_engine(), runtime.source_runner(), get_settings())
    try:
        result = backtester.run(args.kpi, start=args.start, end=args.end, progress=_progress)
    except InvalidRange as error:
        print(f"mgrid: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict()))
    return 0


def _progress(indicator: str, done: int, total: int) -> None:
    """A line per batch on stderr, for ranges longer than one batch."""
    if total > BATCH_SLOTS:
        print(f"backtest {indicator}: {done}/{total} slots", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    """Always prints JSON; `--json` is accepted and changes nothing."""
    report = run_now(
        runtime.monitoring_engine(),
        runtime.executor(),
        args.kpi,
        now=datetime.now(UTC),
        owner=runtime.owner(),
    )
    print(json.dumps(report.to_dict(), default=str))
    return 0 if report.status == "succeeded" else 1
