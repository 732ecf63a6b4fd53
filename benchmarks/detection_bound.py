"""The oracle bound of the detection benchmark: what a rule judging hourly values could reach at best on the
same generated data (`benchmarks/_oracle.py` says what the oracle knows and how it judges).

`python -m benchmarks.detection_bound [--seeds 11 12 13] [--kpis 50] [--budget 0.1 0.035 0.02]`
(in process, no database, about a minute). For every seed, every false-alert budget (per KPI-week) and both
oracles (single slot; single slot and runs), thresholds on a grid of 0.05 sd from 2.5 to 6 sd are scored on
that very data and two are reported among those whose false alerts stay within the budget: the most lenient
(the highest recall) and the one of the highest F1. Both are chosen in hindsight, with the labels, so the
figures bound from above what a threshold fixed in advance would give. The a-priori threshold of the
single-slot oracle is scored too: `Phi^-1(1 - budget / 336)`, a per-slot false-alarm probability of
budget / 168 over the 168 slots of a week. Episodes are scored by `benchmarks/_scoring.py` exactly as the
benchmark scores the backtests. Prints Markdown tables; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from benchmarks._oracle import Judged, judged, oracle_episodes
from benchmarks._scoring import BUCKETS, Score, score
from benchmarks._series import SCORED_WEEKS, Dataset, generate

GRID = tuple(round(2.5 + 0.05 * i, 2) for i in range(71))  #: thresholds tried, sd (2.5 to 6)
ORACLES = (("single slot", False), ("single slot and runs", True))
SLOTS_PER_WEEK = 168


@dataclass(frozen=True, kw_only=True, slots=True)
class Bound:
    seed: int
    budget: float
    oracle: str
    threshold: float
    score: Score


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.detection_bound", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--kpis", type=int, default=50)
    parser.add_argument("--budget", type=float, nargs="+", default=[0.1, 0.035, 0.02])
    args = parser.parse_args(argv)
    bounds: list[Bound] = []
    for seed in args.seeds:
        dataset = generate(seed=seed, kpis=args.kpis)
        scored = {
            s.profile.name: judged(s, start=dataset.scored_from, end=dataset.scored_to)
            for s in dataset.series
        }
        scans = {name: _scan(dataset, scored, runs=runs) for name, runs in ORACLES}
        for budget in args.budget:
            prior = NormalDist().inv_cdf(1 - budget / SLOTS_PER_WEEK / 2)
            bounds.append(_bound(dataset, scored, seed, budget, "single slot, a-priori threshold", prior))
            for name, _runs in ORACLES:
                for best_f1 in (False, True):
                    label = f"{name}, {'best F1' if best_f1 else 'most lenient'}"
                    bounds.append(_hindsight(scans[name], seed, budget, label, best_f1=best_f1))
    sys.stdout.write(_table(bounds) + "\n\n" + _by_size(bounds) + "\n")
    return 0


def _score(dataset: Dataset, scored: dict[str, list[Judged]], threshold: float, *, runs: bool) -> Score:
    episodes = oracle_episodes(dataset, scored, threshold=threshold, runs=runs)
    return score(
        episodes, dataset.labelled, kpis=len(dataset.series), weeks=SCORED_WEEKS, to=dataset.scored_to
    )


def _bound(
    dataset: Dataset, scored: dict[str, list[Judged]], seed: int, budget: float, oracle: str, threshold: float
) -> Bound:
    runs = "runs" in oracle
    return Bound(
        seed=seed,
        budget=budget,
        oracle=oracle,
        threshold=threshold,
        score=_score(dataset, scored, threshold, runs=runs),
    )


def _scan(dataset: Dataset, scored: dict[str, list[Judged]], *, runs: bool) -> list[tuple[float, Score]]:
    """Every threshold of the grid with its score."""
    return [(threshold, _score(dataset, scored, threshold, runs=runs)) for threshold in GRID]


def _hindsight(
    scan: Sequence[tuple[float, Score]], seed: int, budget: float, oracle: str, *, best_f1: bool
) -> Bound:
    """Within the budget: the most lenient threshold of the grid (the highest recall), or the one of the
    highest F1."""
    within = [(t, s) for t, s in scan if s.false_per_kpi_week <= budget]
    if best_f1:
        threshold, found = max(within, key=lambda pair: (pair[1].f1 or 0.0, -pair[0]))
    else:
        threshold, found = within[0]
    return Bound(seed=seed, budget=budget, oracle=oracle, threshold=threshold, score=found)


def _table(bounds: Sequence[Bound]) -> str:
    lines = [
        "| Seed | Budget | Oracle | Threshold sd | Episodes | False | Precision | Recall | F1 |"
        " False alerts / KPI-week |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in bounds:
        s = b.score
        lines.append(
            f"| {b.seed} | {b.budget:g} | {b.oracle} | {b.threshold:.2f} | {s.episodes} |"
            f" {s.false_positives} | {_figure(s.precision)} | {_figure(s.recall)} | {_figure(s.f1)} |"
            f" {s.false_per_kpi_week:.3f} |"
        )
    return "\n".join(lines)


def _by_size(bounds: Sequence[Bound]) -> str:
    """Recall by anomaly size, the seeds together, for each budget and oracle."""
    keys = list(dict.fromkeys((b.budget, b.oracle) for b in bounds))
    labels = [label for label, _low, _high in BUCKETS]
    lines = [
        "| Budget | Oracle | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for budget, oracle in keys:
        cells = []
        chosen = [b for b in bounds if (b.budget, b.oracle) == (budget, oracle)]
        for label in labels:
            hits = sum(b.score.by_bucket[label][0] for b in chosen)
            total = sum(b.score.by_bucket[label][1] for b in chosen)
            cells.append(f"{hits}/{total} ({hits / total:.0%})" if total else "-")
        lines.append(f"| {budget:g} | {oracle} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
