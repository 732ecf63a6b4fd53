"""The seasonal rule on the detection benchmark's data, replayed in process: no database, same figures.

`python -m benchmarks.detection_replay [--seeds 11 12 13] [--kpis 50] [--tolerance 4]`

Every generated KPI goes through `shared.domain.replay.Replay`, the pure core of `mgrid kpi backtest`, with
the observations the benchmark's query would return (the hour's count, 0 before the series starts, as
`COALESCE(SUM(n), 0)` gives) and the same KPI definition as `benchmarks/_detection_setup.py` (hourly, the
last hour, deviation_percent 20, both directions, fire_after and resolve_after 1). Its episodes are scored
by `benchmarks/_scoring.py`; on seed 11 this reproduces the PostgreSQL run's episodes exactly. For trying a
change to the method on several seeds without the database; the benchmark of record stays
`benchmarks/detection.py`. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

from benchmarks._detection_setup import SOURCE, RuleSpec, definitions
from benchmarks._scoring import BUCKETS, Episode, Score, score
from benchmarks._series import HOUR, LEAD, SCORED_WEEKS, START, Dataset, Series, generate
from shared.definitions import parse_definitions
from shared.domain.kpi import SEASONAL_TOLERANCE, Kpi
from shared.domain.observation import Observation
from shared.domain.replay import Replay, slots_in


def kpis(dataset: Dataset, tolerance: float) -> dict[str, Kpi]:
    """The benchmark's own definitions of the seasonal rule with `tolerance`, parsed as `mgrid kpi import`
    parses them, by the generated KPI's name."""
    spec = RuleSpec(name="seasonal", title="seasonal", baseline={"mode": "seasonal", "tolerance": tolerance})
    parsed = parse_definitions(definitions(dataset, [spec]), sources=[SOURCE], existing_contacts=())
    return {kpi.indicator.removesuffix("-seasonal"): kpi for kpi, _links in parsed.kpis}


def replayed(series: Series, definition: Kpi, *, start: datetime, end: datetime) -> list[Episode]:
    """The episodes of one series replayed over the scored slots `[start, end)`."""
    replay = Replay(definition, start)
    first = START - LEAD
    for slot in slots_in(definition.schedule, replay.warm_start(start), end):
        index = (slot - HOUR - first) // HOUR
        value = series.values[index] if index >= 0 else 0
        replay.add(slot, [Observation(key="k", current=float(value))])
        replay.trim(slot)
    return [
        Episode(kpi=series.profile.name, opened_at=e.opened_at, resolved_at=e.resolved_at)
        for e in replay.episodes()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.detection_replay", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--kpis", type=int, default=50)
    parser.add_argument("--tolerance", type=float, default=SEASONAL_TOLERANCE)
    args = parser.parse_args(argv)
    lines = [
        "| Seed | Episodes | False | Precision | Recall | F1 | False alerts / KPI-week | "
        + " | ".join(label for label, _low, _high in BUCKETS)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(BUCKETS),
    ]
    for seed in args.seeds:
        dataset = generate(seed=seed, kpis=args.kpis)
        definitions = kpis(dataset, args.tolerance)
        episodes = [
            e
            for s in dataset.series
            for e in replayed(
                s, definitions[s.profile.name], start=dataset.scored_from, end=dataset.scored_to
            )
        ]
        found = score(
            episodes, dataset.labelled, kpis=len(dataset.series), weeks=SCORED_WEEKS, to=dataset.scored_to
        )
        lines.append(_row(seed, found))
        sys.stdout.write(lines[-1] + "\n")
        sys.stdout.flush()
    sys.stdout.write("\n" + "\n".join(lines) + "\n")
    return 0


def _row(seed: int, s: Score) -> str:
    sizes = " | ".join(f"{hit}/{total}" for hit, total in s.by_bucket.values())
    return (
        f"| {seed} | {s.episodes} | {s.false_positives} | {s.precision or 0:.3f} | {s.recall or 0:.3f} |"
        f" {s.f1 or 0:.3f} | {s.false_per_kpi_week:.3f} | {sizes} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
