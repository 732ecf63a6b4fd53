"""Source result contracts: query rows, output parameters and item result sets become observations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.observation import Observation
from shared.sources.contracts import (
    MAX_ROWS,
    ResultSet,
    observations_from_items,
    observations_from_outputs,
    observations_from_rows,
)
from shared.sources.errors import SourceQueryError

INDICATOR = "Deposits"


def result(columns: tuple[str, ...], *rows: tuple[object, ...]) -> ResultSet:
    return ResultSet(columns=columns, rows=rows)


def obs(key: str, current: float | None, baseline: float | None = None) -> Observation:
    return Observation(key=key, current=current, source_baseline=baseline)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(result(("key", "current_value")), [], id="zero rows is no data"),
        pytest.param(
            result(("key", "current_value"), ("a", 1), ("b", 2)), [obs("a", 1), obs("b", 2)], id="names"
        ),
        pytest.param(
            result(("Current_Value", "HISTORICAL_VALUE", "Key"), (5, 4, "a")),
            [obs("a", 5, 4)],
            id="names in any order and case",
        ),
        pytest.param(
            result(("name", "n", "prev"), ("a", 5, 4), ("b", 6, None)),
            [obs("a", 5, 4), obs("b", 6)],
            id="positions when the names are absent",
        ),
        pytest.param(result(("k", "n"), ("a", 5)), [obs("a", 5)], id="two positions, no baseline"),
        pytest.param(
            result(("key", "current_value", "extra"), ("a", 5, "ignored")),
            [obs("a", 5)],
            id="named columns ignore extra ones",
        ),
        pytest.param(
            result(("key", "current_value"), (None, 7)), [obs(INDICATOR, 7)], id="null key is the indicator"
        ),
        pytest.param(
            result(("key", "current_value"), ("a", None), ("b", 3)),
            [obs("a", None), obs("b", 3)],
            id="null current value is no data for that key",
        ),
        pytest.param(
            result(("key", "current_value", "historical_value"), ("a", Decimal("12.50"), Decimal("10"))),
            [obs("a", 12.5, 10)],
            id="decimals",
        ),
        pytest.param(result(("key", "current_value"), (42, True)), [obs("42", 1)], id="keys become text"),
    ],
)
def test_query_rows_become_one_observation_per_key(rows: ResultSet, expected: list[Observation]) -> None:
    assert observations_from_rows(INDICATOR, rows) == expected


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        pytest.param(result(("key", "current_value"), ("a", 1), ("a", 2)), "more than once", id="duplicate"),
        pytest.param(
            result(("key", "current_value"), (None, 1), (INDICATOR, 2)),
            "more than once",
            id="null key duplicates the indicator",
        ),
        pytest.param(result(("key", "current_value"), ("a", "12")), "not a number", id="text value"),
        pytest.param(
            result(("key", "current_value", "historical_value"), ("a", 1, b"x")),
            "historical value of 'a' is not a number",
            id="non-numeric baseline",
        ),
        pytest.param(result(("key", "current_value"), ("a", float("nan"))), "not a finite", id="nan"),
        pytest.param(result(("key", "current_value"), ("a", 10**400)), "not a finite", id="overflow"),
        pytest.param(result(("key", "amount"), ("a", 1)), "both a `key` and", id="only one name"),
        pytest.param(result(("n",), (1,)), "at least two columns", id="one column"),
    ],
)
def test_unusable_query_rows_are_query_errors_naming_the_kpi(rows: ResultSet, problem: str) -> None:
    with pytest.raises(SourceQueryError, match=problem) as caught:
        observations_from_rows(INDICATOR, rows)
    assert caught.value.indicator == INDICATOR
    assert str(caught.value).startswith(f"KPI {INDICATOR!r}: ")


def test_more_rows_than_the_limit_are_a_query_error() -> None:
    rows = result(("key", "current_value"), *((str(n), n) for n in range(MAX_ROWS + 1)))
    with pytest.raises(SourceQueryError, match=f"more than {MAX_ROWS} rows"):
        observations_from_rows(INDICATOR, rows)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            result(("key", "current_value", "historical_value"), ("TotalDeposits", Decimal("120"), 100)),
            [obs("TotalDeposits", 120, 100)],
            id="key, current and historical",
        ),
        pytest.param(
            result(("key", "current_value", "historical_value"), (None, 5, None)),
            [obs(INDICATOR, 5)],
            id="null key is the indicator, null historical no baseline",
        ),
        pytest.param(
            result(("key", "current_value", "historical_value"), ("k", None, 100)),
            [obs("k", None, 100)],
            id="null current value is no data",
        ),
    ],
)
def test_output_parameters_become_at_most_one_observation(
    rows: ResultSet, expected: list[Observation]
) -> None:
    assert observations_from_outputs(INDICATOR, rows) == expected


@pytest.mark.parametrize("count", [0, 2])
def test_output_parameters_need_exactly_one_row(count: int) -> None:
    rows = result(("key", "current_value", "historical_value"), *[("k", 1, 1)] * count)
    with pytest.raises(SourceQueryError, match=f"one row of output values, got {count}"):
        observations_from_outputs(INDICATOR, rows)


ITEMS = ("ItemName", "Total", "Successful")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(result(ITEMS), [], id="no items is no data"),
        pytest.param(
            result(ITEMS, ("Deposit", 10, 9), ("Withdrawal", 30, 15)),
            [obs("Deposit", 90), obs("Withdrawal", 50), obs("(all)", 60)],
            id="per-item rates and the overall rate",
        ),
        pytest.param(
            result(("itemname", "TOTAL", "Marked"), ("Bonus", 4, 1)),
            [obs("Bonus", 25), obs("(all)", 25)],
            id="Marked instead of Successful, any case",
        ),
        pytest.param(
            result(ITEMS, ("Bet", 0, 0), ("Deposit", 4, 4)),
            [obs("Bet", None), obs("Deposit", 100), obs("(all)", 100)],
            id="an item with Total 0 is no data, left out of the overall rate",
        ),
        pytest.param(
            result(ITEMS, ("Bet", 0, 0)), [obs("Bet", None)], id="sum of Total 0 has no overall rate"
        ),
        pytest.param(
            result(ITEMS, ("Bet", None, None), ("Win", 2, None), ("Deposit", Decimal("8"), Decimal("2"))),
            [obs("Bet", None), obs("Win", None), obs("Deposit", 25), obs("(all)", 25)],
            id="null Total or Successful is no data",
        ),
        pytest.param(
            result(("type", "n", "ok"), (None, 5, 5)),
            [obs("(none)", 100), obs("(all)", 100)],
            id="positions, and a null item name",
        ),
    ],
)
def test_item_result_sets_become_success_rates(rows: ResultSet, expected: list[Observation]) -> None:
    observations = observations_from_items(INDICATOR, rows)
    assert observations == expected
    assert all(observation.source_baseline is None for observation in observations)


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        pytest.param(result(ITEMS, ("Bet", 1, 1), ("Bet", 2, 1)), "more than once", id="duplicate item"),
        pytest.param(result(ITEMS, ("(all)", 1, 1)), "'\\(all\\)' appears more than once", id="(all) item"),
        pytest.param(result(ITEMS, ("Bet", "ten", 1)), "Total of 'Bet' is not a number", id="text total"),
        pytest.param(result(ITEMS, ("Bet", -1, 0)), "negative", id="negative total"),
        pytest.param(result(("ItemName", "Total"), ("Bet", 1)), "ItemName, Total, Successful", id="missing"),
        pytest.param(result(("a", "b"), ("Bet", 1)), "three columns", id="two columns"),
    ],
)
def test_unusable_item_result_sets_are_query_errors(rows: ResultSet, problem: str) -> None:
    with pytest.raises(SourceQueryError, match=problem):
        observations_from_items(INDICATOR, rows)
