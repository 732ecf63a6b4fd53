"""`python -m demo build [--source URL] [--kpis FILE] [--seed N] [--now ISO] [--weeks N]`;
`python -m demo replay [--hours N]` (see demo/replay.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from demo import kpis, replay, source
from shared import local_settings, runtime
from shared.settings import get_settings

DEFAULT_SOURCE = "sqlite:///.data/demo-source.db"
DEFAULT_KPIS = ".data/demo-kpis.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the demo source database and write its KPI file, or replay its KPIs; print what was done."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "replay":
        return _replay(arguments.hours)
    now = _aware(arguments.now)
    url: str = arguments.source
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        sys.stderr.write(f"unsupported source {backend!r}: use sqlite:/// or postgresql://\n")
        return 2
    _ensure_sqlite_folder(url)
    report = source.build(url, now=now, seed=arguments.seed, weeks=arguments.weeks)
    kpi_file = Path(arguments.kpis)
    kpi_file.parent.mkdir(parents=True, exist_ok=True)
    kpi_file.write_text(kpis.render("sqlite" if backend == "sqlite" else "postgresql"), encoding="utf-8")
    rows = ", ".join(f"{table} {count}" for table, count in report.rows.items())
    sys.stdout.write(
        f"built {make_url(url).render_as_string(hide_password=True)} up to {now.isoformat()} "
        f"in {report.elapsed_s:.1f} s: {rows}\nKPI file: {kpi_file}\n"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="(re)build the demo source and write the KPI file")
    build.add_argument("--source", default=DEFAULT_SOURCE, help=f"SQLAlchemy URL (default {DEFAULT_SOURCE})")
    build.add_argument("--kpis", default=DEFAULT_KPIS, help=f"KPI file to write (default {DEFAULT_KPIS})")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--now", default=None, help="end of the data, ISO 8601 (default: now, UTC)")
    build.add_argument("--weeks", type=int, default=5, help="weeks of data (default 5)")
    again = commands.add_parser("replay", help="run the imported KPIs for each of the last N hours and now")
    again.add_argument("--hours", type=int, default=24, help="hours of history to make (default 24)")
    return parser


def _replay(hours: int) -> int:
    """Settings as `mgrid` reads them (environment, then ./local.settings.json)."""
    settings_file = Path("local.settings.json")
    if settings_file.exists():
        local_settings.apply(local_settings.read_values(settings_file))
    report = replay.replay(
        runtime.monitoring_engine(),
        runtime.source_runner(),
        get_settings(),
        now=datetime.now(UTC),
        hours=hours,
    )
    outcome = f"{report.executions} executions, {report.failed} failed, {report.skipped} already stored"
    sys.stdout.write(f"replayed {report.slots} slots: {outcome}\n")
    return 0 if report.failed == 0 else 1


def _aware(text: str | None) -> datetime:
    """`text` as an aware UTC time (a naive time is taken as UTC); now when None."""
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":
    sys.exit(main())
