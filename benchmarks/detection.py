"""Detection benchmark: the seasonal baseline against the original rule on labelled hourly series.

`python -m benchmarks.detection [--seed 11] [--kpis 50] [--tolerance 3 3.5 4 5] [--jobs 2]`
(`make bench-detection`; a few minutes). Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; another
server: `MGRID_BENCH_POSTGRES_URL`).

1. `benchmarks/_series.py` generates seeded, labelled hourly counts (its docstring states exactly what and
   how large the anomalies are); nothing here needs a database until step 2.
2. A scratch source database gets them as `counts (kpi, at, n)`; a scratch monitoring database is migrated
   with `mgrid db upgrade` and gets every KPI once per rule with `mgrid kpi import` (both as subprocesses).
3. `mgrid kpi backtest KPI --from ISO --to ISO --json` runs for every KPI and rule over the scored weeks:
   in-process through `shared.cli.main` in `--jobs` worker processes (the command's own code, without a
   Python start-up per KPI), or as one `python -m shared.cli` process each with `--subprocess`.
4. Episodes are scored against the labels (`benchmarks/_scoring.py`) and the rules are compared side by
   side; the section between `<!-- detection:start -->` and `<!-- detection:end -->` in RESULTS.md is
   rewritten. `--tolerance` adds the seasonal rule with those explicit tolerances to the same run.

The scratch databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from benchmarks import _detection_report as report
from benchmarks._databases import Scratch
from benchmarks._detection_misses import evaluations_of, missed
from benchmarks._detection_setup import SOURCE, RuleSpec, definitions, load_source, rules, write_definitions
from benchmarks._scoring import Episode, episodes_of, overlaps, score
from benchmarks._series import SCORED_WEEKS, Dataset, generate
from shared import cli

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    kpi: str
    rule: str
    indicator: str
    argv: tuple[str, ...]
    subprocess: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Backtest:
    task: Task
    code: int
    stdout: str
    stderr: str
    seconds: float


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.detection", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--seed", type=int, default=11, help="the generator's seed")
    parser.add_argument("--kpis", type=int, default=50, help="KPIs generated (each judged by every rule)")
    parser.add_argument(
        "--tolerance", type=float, nargs="*", default=[], help="also run seasonal with these tolerances"
    )
    parser.add_argument("--jobs", type=int, default=2, help="backtests run at once")
    parser.add_argument("--subprocess", action="store_true", help="one `python -m shared.cli` per backtest")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md")
    parser.add_argument("--dump", type=Path, help="directory for every backtest's JSON document")
    return parser.parse_args(argv)


def mgrid_argv(settings_file: Path, *command: str) -> tuple[str, ...]:
    return ("--settings-file", str(settings_file), *command)


def configure(directory: Path, *, monitoring_url: str, source_url: str) -> Path:
    """Point `mgrid` at the scratch databases (environment, inherited by workers and subprocesses) and
    write a settings file holding the same, so no `local.settings.json` of the working directory applies."""
    values = {
        "ConnectionStrings__Monitoring": monitoring_url,
        f"ConnectionStrings__Sources__{SOURCE}": source_url,
    }
    os.environ.update(values)
    path = directory / "bench.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    return path


def run_mgrid(argv: Sequence[str]) -> str:
    """`python -m shared.cli ARGV` from this tree; its stdout, or SystemExit with its stderr."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 -- our own command line, arguments built here
        [sys.executable, "-m", "shared.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"mgrid {' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def backtest(task: Task) -> Backtest:
    """One `mgrid kpi backtest`, in this process through `shared.cli.main` or as a subprocess."""
    began = time.monotonic()
    if task.subprocess:
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(  # noqa: S603 -- our own command line
            [sys.executable, "-m", "shared.cli", *task.argv], capture_output=True, text=True, env=environment
        )
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli.main(list(task.argv))
            except SystemExit as exit_:  # argparse exits on a usage error; a pool worker must not
                code = exit_.code if isinstance(exit_.code, int) else 2
        stdout, stderr = out.getvalue(), err.getvalue()
    return Backtest(
        task=task, code=code, stdout=stdout, stderr=stderr[-4000:], seconds=time.monotonic() - began
    )


def tasks(
    dataset: Dataset, specs: Sequence[RuleSpec], settings_file: Path, *, in_subprocess: bool
) -> list[Task]:
    window = ("--from", dataset.scored_from.isoformat(), "--to", dataset.scored_to.isoformat())
    return [
        Task(
            kpi=series.profile.name,
            rule=spec.name,
            indicator=spec.indicator(series.profile.name),
            argv=mgrid_argv(
                settings_file, "kpi", "backtest", spec.indicator(series.profile.name), *window, "--json"
            ),
            subprocess=in_subprocess,
        )
        for series in dataset.series
        for spec in specs
    ]


def run_all(work: Sequence[Task], jobs: int) -> Iterator[Backtest]:
    """Every backtest, `jobs` at a time, with a progress line on stderr; stops at the first failure."""
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, maxtasksperchild=50) as pool:
        for done, result in enumerate(pool.imap_unordered(backtest, work), start=1):
            if result.code != 0:
                pool.terminate()
                raise SystemExit(
                    f"backtest of {result.task.indicator} failed ({result.code}):\n{result.stderr}"
                )
            sys.stderr.write(f"\rbacktests: {done}/{len(work)}")
            sys.stderr.flush()
            yield result
    sys.stderr.write("\n")


def results(
    backtests: Sequence[Backtest], dataset: Dataset, specs: Sequence[RuleSpec]
) -> list[report.RuleResult]:
    scored = []
    for spec in specs:
        mine = [b for b in backtests if b.task.rule == spec.name]
        documents = {b.task.kpi: json.loads(b.stdout) for b in mine}
        episodes = [e for kpi, document in documents.items() for e in episodes_of(kpi, document)]
        found = score(
            episodes, dataset.labelled, kpis=len(dataset.series), weeks=SCORED_WEEKS, to=dataset.scored_to
        )
        scored.append(
            report.RuleResult(
                spec=spec,
                score=found,
                seconds=sum(b.seconds for b in mine),
                recall_by_kind=recall_by_kind(episodes, dataset),
                missed=tuple(missed(episodes, dataset)),
                evaluations={kpi: evaluations_of(document) for kpi, document in documents.items()},
            )
        )
    return scored


def recall_by_kind(episodes: Sequence[Episode], dataset: Dataset) -> dict[str, tuple[int, int]]:
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for anomaly in dataset.labelled:
        total[anomaly.kind] += 1
        hits[anomaly.kind] += any(overlaps(e, anomaly, to=dataset.scored_to) for e in episodes)
    return {kind: (hits[kind], total[kind]) for kind in total}


def measure(args: argparse.Namespace, dataset: Dataset, specs: Sequence[RuleSpec]) -> list[Backtest]:
    with Scratch("postgresql") as scratch, tempfile.TemporaryDirectory(prefix="mgrid-detection-") as tmp:
        source_url, monitoring_url = scratch.url("source"), scratch.url("monitoring")
        engine = create_engine(source_url)
        rows = load_source(engine, dataset)
        engine.dispose()
        settings_file = configure(Path(tmp), monitoring_url=monitoring_url, source_url=source_url)
        run_mgrid(mgrid_argv(settings_file, "db", "upgrade"))
        kpi_file = write_definitions(Path(tmp) / "kpis.json", definitions(dataset, specs))
        run_mgrid(mgrid_argv(settings_file, "kpi", "import", str(kpi_file)))
        sys.stderr.write(f"{rows:,} source rows, {len(specs) * len(dataset.series)} KPIs imported\n")
        work = tasks(dataset, specs, settings_file, in_subprocess=args.subprocess)
        return list(run_all(work, args.jobs))


def write_section(path: Path, text: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if report.START in current and report.END in current:
        head, _, rest = current.partition(report.START)
        tail = rest.partition(report.END)[2].removeprefix("\n")
        path.write_text(head + text + tail, encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text if current else text, encoding="utf-8")


def dump(directory: Path, backtests: Sequence[Backtest]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for b in backtests:
        (directory / f"{b.task.indicator}.json").write_text(b.stdout, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    began = time.monotonic()
    dataset = generate(seed=args.seed, kpis=args.kpis)
    specs = rules(args.tolerance)
    backtests = measure(args, dataset, specs)
    if args.dump:
        dump(args.dump, backtests)
    command = shlex.join(["python", "-m", "benchmarks.detection", *arguments])
    text = report.section(
        results(backtests, dataset, specs),
        dataset,
        command=command,
        generated=datetime.now(UTC),
        total_s=time.monotonic() - began,
    )
    if not args.no_write:
        write_section(args.output, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
