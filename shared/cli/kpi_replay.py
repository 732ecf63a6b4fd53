"""`mgrid kpi backtest` and `mgrid kpi backfill`: replaying a KPI's query over past slots. Both always print
JSON (`--json` is accepted and changes nothing) and report progress on stderr for more than one batch."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from shared import runtime
from shared.cli.common import Groups, with_json
from shared.errors import InvalidRange
from shared.services.backfill import Backfiller
from shared.services.backtest import BATCH_SLOTS, Backtester, Progress
from shared.settings import get_settings


def register(kpi: Groups) -> None:
    """Add the replay commands to `mgrid kpi`."""
    backtest = kpi.add_parser(
        "backtest", help="judge a KPI's slots over a past range as the executor would, writing nothing"
    )
    backtest.add_argument("kpi", help="the KPI's id or indicator")
    backtest.add_argument("--from", dest="start", required=True, type=instant, help="ISO 8601; naive = UTC")
    backtest.add_argument("--to", dest="end", required=True, type=instant, help="ISO 8601; naive = UTC")
    with_json(backtest, _backtest)
    backfill = kpi.add_parser(
        "backfill", help="store a KPI's values for its slots of the last N weeks from the source"
    )
    backfill.add_argument("kpi", help="the KPI's id or indicator")
    backfill.add_argument("--weeks", type=int, required=True, help="how many weeks back (1 to 52)")
    with_json(backfill, _backfill)


def instant(value: str) -> datetime:
    """An ISO 8601 instant from the command line; one without a time zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _backtest(args: argparse.Namespace) -> int:
    backtester = Backtester(runtime.monitoring_engine(), runtime.source_runner(), get_settings())
    try:
        result = backtester.run(args.kpi, start=args.start, end=args.end, progress=_progress("backtest"))
    except InvalidRange as error:
        print(f"mgrid: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict()))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    backfiller = Backfiller(runtime.monitoring_engine(), runtime.source_runner(), get_settings())
    try:
        result = backfiller.run(
            args.kpi, weeks=args.weeks, now=datetime.now(UTC), progress=_progress("backfill")
        )
    except InvalidRange as error:
        print(f"mgrid: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict()))
    return 0


def _progress(command: str) -> Progress:
    def report(indicator: str, done: int, total: int) -> None:
        if total > BATCH_SLOTS:
            print(f"{command} {indicator}: {done}/{total} slots", file=sys.stderr, flush=True)

    return report
