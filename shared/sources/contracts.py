"""The result contracts of KPI sources, and how their rows become observations. Pure: no I/O.

Three shapes reach us (see DESIGN.md section 3 and the original's procedures):

- **Query rows**: `key, current_value[, historical_value]` matched by column name (case-insensitive) or, when
  neither `key` nor `current_value` is named, by position 0, 1, (2). One row is one metric. A NULL key
  becomes the KPI's indicator; a NULL current value is "no data for that key": an observation whose
  `current` is None (see `shared.domain.no_data`).
- **Output parameters** (procedure contract 1: `@Key`, `@CurrentValue`, `@HistoricalValue`): the same rules
  for exactly one row; the historical value is the source's baseline.
- **Item result set** (procedure contract 2: `ItemName, Total, Successful|Marked`): one success-rate metric
  per item (Successful / Total x 100) plus the overall rate under the key `(all)`. An item with Total 0 or
  NULL, or NULL Successful, has no data (current None) and is left out of the overall rate; the source
  gives no baseline. A NULL item name becomes `(none)`.

Every violation (non-numeric value, duplicate key, too few columns, too many rows) raises
`SourceQueryError` naming the KPI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.domain.observation import Observation
from shared.sources.errors import SourceQueryError

#: More metrics than this from one execution is a broken query, not a breakdown.
MAX_ROWS = 10_000
TOTAL_KEY = "(all)"
NULL_ITEM_KEY = "(none)"


@dataclass(frozen=True, kw_only=True, slots=True)
class ResultSet:
    """Column names and rows exactly as the driver returned them."""

    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


class ProcedureContract(StrEnum):
    OUTPUT_PARAMETERS = "output_parameters"  #: one metric through @Key/@CurrentValue/@HistoricalValue
    ITEM_RESULT_SET = "item_result_set"  #: ItemName, Total, Successful|Marked rows


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcedureSignature:
    """Which contract a procedure follows, and (SQL Server) the name of its minutes parameter."""

    contract: ProcedureContract
    minutes_parameter: str = "@ForLastMinutes"


def observations_from_rows(indicator: str, result: ResultSet) -> list[Observation]:
    """Query rows -> one observation per row (current None for a NULL value); zero rows is a valid, empty
    result."""
    _check_size(indicator, result)
    key_at, current_at, historical_at = _query_columns(indicator, result.columns)
    observations: list[Observation] = []
    for row in result.rows:
        key = indicator if row[key_at] is None else str(row[key_at])
        historical = None if historical_at is None else row[historical_at]
        observations.append(_metric(indicator, key, row[current_at], historical))
    return _unique(indicator, observations)


def observations_from_outputs(indicator: str, result: ResultSet) -> list[Observation]:
    """Procedure contract 1: the single row of output values -> at most one observation."""
    if len(result.rows) != 1:
        raise SourceQueryError(indicator, f"expected one row of output values, got {len(result.rows)}")
    return observations_from_rows(indicator, result)


def observations_from_items(indicator: str, result: ResultSet) -> list[Observation]:
    """Procedure contract 2: per-item success rates in percent, then the overall rate as `(all)`."""
    _check_size(indicator, result)
    name_at, total_at, successful_at = _item_columns(indicator, result.columns)
    observations: list[Observation] = []
    sum_total = sum_successful = 0.0
    for row in result.rows:
        key = NULL_ITEM_KEY if row[name_at] is None else str(row[name_at])
        total = _count(indicator, row[total_at], f"Total of {key!r}")
        successful = _count(indicator, row[successful_at], f"Successful of {key!r}")
        if not total or successful is None:
            observations.append(Observation(key=key, current=None))
            continue
        sum_total += total
        sum_successful += successful
        observations.append(Observation(key=key, current=successful / total * 100))
    if sum_total:
        observations.append(Observation(key=TOTAL_KEY, current=sum_successful / sum_total * 100))
    return _unique(indicator, observations)


def _metric(indicator: str, key: str, current: object, historical: object) -> Observation:
    return Observation(
        key=key,
        current=None if current is None else _number(indicator, current, f"current value of {key!r}"),
        source_baseline=None
        if historical is None
        else _number(indicator, historical, f"historical value of {key!r}"),
    )


def _query_columns(indicator: str, columns: Sequence[str]) -> tuple[int, int, int | None]:
    named = _positions(columns)
    if "key" in named and "current_value" in named:
        return named["key"], named["current_value"], named.get("historical_value")
    if "key" in named or "current_value" in named:
        raise SourceQueryError(indicator, "the result needs both a `key` and a `current_value` column")
    if len(columns) < 2:
        raise SourceQueryError(indicator, "the result needs at least two columns: key, current_value")
    return 0, 1, 2 if len(columns) > 2 else None


def _item_columns(indicator: str, columns: Sequence[str]) -> tuple[int, int, int]:
    named = _positions(columns)
    successful = named.get("successful", named.get("marked"))
    if "itemname" in named and "total" in named and successful is not None:
        return named["itemname"], named["total"], successful
    if named.keys() & {"itemname", "total", "successful", "marked"}:
        raise SourceQueryError(indicator, "the result needs the columns ItemName, Total, Successful|Marked")
    if len(columns) < 3:
        raise SourceQueryError(indicator, "the result needs three columns: ItemName, Total, Successful")
    return 0, 1, 2


def _positions(columns: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, name in enumerate(columns):
        positions.setdefault(name.lower(), index)
    return positions


def _check_size(indicator: str, result: ResultSet) -> None:
    if len(result.rows) > MAX_ROWS:
        raise SourceQueryError(indicator, f"the result has more than {MAX_ROWS} rows")


def _count(indicator: str, value: object, what: str) -> float | None:
    if value is None:
        return None
    number = _number(indicator, value, what)
    if number < 0:
        raise SourceQueryError(indicator, f"{what} is negative: {number:g}")
    return number


def _number(indicator: str, value: object, what: str) -> float:
    if isinstance(value, int | float | Decimal):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise SourceQueryError(indicator, f"{what} is not a finite number: {_show(value)}")
    raise SourceQueryError(indicator, f"{what} is not a number: {_show(value)}")


def _unique(indicator: str, observations: list[Observation]) -> list[Observation]:
    seen: set[str] = set()
    for observation in observations:
        if observation.key in seen:
            raise SourceQueryError(indicator, f"the metric key {observation.key!r} appears more than once")
        seen.add(observation.key)
    return observations


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
