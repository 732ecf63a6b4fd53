"""No data: a key a run gave no value for, and what that does to its alert. Pure functions.

A run has *no data* for a key when the source returned NULL as its value (an `Observation` whose `current`
is None), or when the KPI has an unresolved alert for the key and the run returned no row for it; so a query
that returns no rows at all is no data for every key with an unresolved alert. Keys without an alert that
simply stop appearing are not tracked: nothing remembers them.

Either way the evaluation is `evaluation.no_data_evaluation(key)` (`no_data` set, `current` NaN, shown as
null, reason "no data"), and the KPI's `no_data` mode decides what it counts as:

- `keep` (the default): nothing. The alert stays exactly as it is: no resolve, no re-notify, no streak
  change, and it is not counted as evaluated, so a key that stays silent long enough is resolved by the
  auto-resolution timeout like any key its KPI stopped evaluating;
- `alert`: a breach (reason "no data"): it extends the breach streak, opens after `fire_after`, retriggers;
- `ok`: a clean evaluation: it resolves the alert after `resolve_after`.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.kpi import NoData


def missing_keys(*, reported: Iterable[str], alerted: Iterable[str]) -> list[str]:
    """The keys with an unresolved alert that the run returned no row for, sorted."""
    return sorted(set(alerted) - set(reported))


def no_data_breach(mode: NoData) -> bool | None:
    """What a no-data evaluation counts as under `mode`: a breach (True), clean (False), or nothing at
    all (None, for `keep`)."""
    if mode is NoData.ALERT:
        return True
    if mode is NoData.OK:
        return False
    return None
