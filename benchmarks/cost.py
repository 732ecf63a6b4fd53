"""Cost model: invocations, storage transactions, monitoring statements, CPU and the monthly price a day.

`python -m benchmarks.cost [--ids-per-message 16] [--batched-statements 1.25] [--batched-round-trips 2]
[--batched-cpu-ms 1.24] [--sources 10] [--output benchmarks/RESULTS.md | --no-write]` (`make bench-cost`;
instant, pure arithmetic, nothing is measured or started).

For 1,000, 10,000 and 100,000 KPIs a minute it compares today's design (one queue message and one invocation
per execution) with the batched one (messages of up to N execution ids per source). The inputs, their
sources and the assumptions are in `_cost_inputs.py`, the arithmetic in `_cost_model.py`. The batched
design's per-execution statements, round trips and CPU default to the batched executor's measurements.
Prints the section and rewrites only the part of RESULTS.md between `<!-- cost:start -->` and
`<!-- cost:end -->`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import _cost_inputs as inputs
from benchmarks._cost_model import Daily, daily, monthly
from benchmarks._cost_report import render

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- cost:start -->", "<!-- cost:end -->"
RATES = (1_000, 10_000, 100_000)


def designs(args: argparse.Namespace) -> tuple[inputs.Design, inputs.Design]:
    return inputs.TODAY, inputs.batched(
        args.ids_per_message,
        statements_per_execution=args.batched_statements,
        round_trips_per_execution=args.batched_round_trips,
        cpu_ms_per_execution=args.batched_cpu_ms,
    )


def run(args: argparse.Namespace) -> dict[tuple[int, str], Daily]:
    """Every rate with both designs, keyed by (KPIs a minute, design name)."""
    return {
        (rate, design.name): daily(inputs.Workload(kpis_per_minute=rate, sources=args.sources), design)
        for rate in RATES
        for design in designs(args)
    }


def section(args: argparse.Namespace, days: dict[tuple[int, str], Daily], command: str) -> str:
    prices = {key: monthly(day) for key, day in days.items()}
    body = render(days, prices, designs=designs(args), rates=RATES, command=command)
    return f"{START}\n{body}{END}\n"


def write_section(path: Path, text: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, _, rest = current.partition(START)
        tail = rest.partition(END)[2].removeprefix("\n")
        path.write_text(head + text + tail, encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text if current else text, encoding="utf-8")


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__.splitlines()[0])
    parse.add_argument(
        "--ids-per-message", type=int, default=inputs.BATCH_IDS, help="N of the batched design"
    )
    parse.add_argument("--batched-statements", type=float, default=inputs.BATCHED_STATEMENTS)
    parse.add_argument("--batched-round-trips", type=float, default=inputs.BATCHED_ROUND_TRIPS)
    parse.add_argument("--batched-cpu-ms", type=float, default=inputs.BATCHED_CPU_MS)
    parse.add_argument("--sources", type=int, default=10, help="sources the KPIs are spread over")
    parse.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parse.add_argument("--no-write", action="store_true", help="print only")
    return parse


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(arguments)
    command = " ".join(["python -m benchmarks.cost", *arguments])
    text = section(args, run(args), command)
    if not args.no_write:
        write_section(args.output, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
