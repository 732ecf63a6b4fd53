"""KPI definitions: the closed vocabularies a KPI is described with."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Priority(IntEnum):
    CRITICAL = 1  #: SMS and email
    WARNING = 2  #: email


class KpiKind(StrEnum):
    PROCEDURE = "procedure"  #: a stored procedure (SQL Server contracts)
    QUERY = "query"  #: a SQL query returning `key, current_value[, historical_value]` rows


class Direction(StrEnum):
    UP = "up"  #: only increases breach
    DOWN = "down"  #: only decreases breach
    BOTH = "both"


class BaselineMode(StrEnum):
    SOURCE = "source"  #: the source returns the historical value
    HISTORY = "history"  #: the same window N weeks back, from our own history


class Aggregate(StrEnum):
    MEAN = "mean"
    MEDIAN = "median"


class ThresholdOperator(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
