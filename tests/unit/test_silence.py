"""Silences as pure values: matching by indicator, owner and key glob; one-off and weekly windows, across
midnight and across the daylight-saving changes of Europe/London (29 March and 25 October 2026)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.silence import Silence, Weekly, covering, parse_days, parse_range

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def weekly(days: str, between: str, zone: str = "Europe/London", **changes: object) -> Silence:
    start, end = parse_range(between)
    window = Weekly(days=parse_days(days), start_minute=start, end_minute=end, timezone=zone)
    fields: dict[str, object] = {"id": 1, "kpi": "Deposits", "starts_at": T0, "weekly": window}
    return Silence(created_by="ops", reason="maintenance", created_at=T0, **{**fields, **changes})  # type: ignore[arg-type]


def one_off(**changes: object) -> Silence:
    fields: dict[str, object] = {
        "id": 1,
        "kpi": "Deposits",
        "starts_at": utc(2026, 5, 1, 10),
        "ends_at": utc(2026, 5, 1, 12),
    }
    return Silence(created_by="ops", reason="maintenance", created_at=T0, **{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("silence", "indicator", "owner", "key", "expected"),
    [
        (one_off(kpi="Deposits"), "Deposits", "Payments", "EU", True),
        (one_off(kpi="Deposits"), "Withdrawals", "Payments", "EU", False),
        (one_off(kpi=None, owner="Payments"), "Withdrawals", "Payments", "EU", True),
        (one_off(kpi=None, owner="Payments"), "Withdrawals", "Risk", "EU", False),
        (one_off(kpi="Deposits", owner="Payments"), "Deposits", "Risk", "EU", False),
        (one_off(kpi="Deposits", owner="Payments"), "Deposits", "Payments", "EU", True),
        (one_off(key_glob="Pay*"), "Deposits", "Payments", "PayFlow", True),
        (one_off(key_glob="Pay*"), "Deposits", "Payments", "payflow", False),
        (one_off(key_glob="EU-??"), "Deposits", "Payments", "EU-DE", True),
        (one_off(key_glob="[AB]*"), "Deposits", "Payments", "Card", False),
        (one_off(key_glob="*"), "Deposits", "Payments", "(execution)", True),
    ],
)
def test_a_silence_matches_by_indicator_owner_and_key_glob(
    silence: Silence, indicator: str, owner: str, key: str, expected: bool
) -> None:
    assert silence.matches(indicator=indicator, owner=owner, metric_key=key) is expected


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (utc(2026, 5, 1, 9, 59, 59), False),
        (utc(2026, 5, 1, 10), True),
        (utc(2026, 5, 1, 11, 59, 59), True),
        (utc(2026, 5, 1, 12), False),
    ],
)
def test_a_one_off_silence_is_active_from_its_start_until_just_before_its_end(
    now: datetime, active: bool
) -> None:
    assert one_off().active(now) is active


def test_an_expired_silence_is_inactive_from_its_expiry() -> None:
    silence = one_off(expired_at=utc(2026, 5, 1, 11), expired_by="ops")
    assert silence.active(utc(2026, 5, 1, 10, 30))
    assert not silence.active(utc(2026, 5, 1, 11))
    assert silence.next_end(utc(2026, 5, 1, 10, 30)) == utc(2026, 5, 1, 11)


# Europe/London: GMT (UTC+0) in winter; BST (UTC+1) from 01:00 UTC 29 March to 01:00 UTC 25 October 2026.
@pytest.mark.parametrize(
    ("days", "between", "now", "active"),
    [
        # an ordinary week in winter, across midnight: Monday 22:00 to Tuesday 02:00 GMT
        ("mon", "22:00-02:00", utc(2026, 1, 12, 21, 59), False),
        ("mon", "22:00-02:00", utc(2026, 1, 12, 22, 0), True),
        ("mon", "22:00-02:00", utc(2026, 1, 13, 1, 59), True),
        ("mon", "22:00-02:00", utc(2026, 1, 13, 2, 0), False),
        ("mon", "22:00-02:00", utc(2026, 1, 13, 22, 30), False),  # Tuesday night is not listed
        # summer: the same wall times are an hour earlier in UTC
        ("mon", "22:00-02:00", utc(2026, 6, 15, 21, 0), True),
        ("mon", "22:00-02:00", utc(2026, 6, 16, 1, 0), False),
        # spring forward: 01:00-03:00 on Sunday 29 March covers only 02:00-03:00 BST (01:00-02:00 UTC)
        ("sun", "01:00-03:00", utc(2026, 3, 29, 0, 59), False),
        ("sun", "01:00-03:00", utc(2026, 3, 29, 1, 0), True),
        ("sun", "01:00-03:00", utc(2026, 3, 29, 1, 59), True),
        ("sun", "01:00-03:00", utc(2026, 3, 29, 2, 0), False),
        # across midnight into spring forward: Sat 22:00 GMT .. Sun 02:00 BST (the jump) = 22:00-01:00 UTC
        ("sat", "22:00-02:00", utc(2026, 3, 28, 22, 0), True),
        ("sat", "22:00-02:00", utc(2026, 3, 29, 0, 59), True),
        ("sat", "22:00-02:00", utc(2026, 3, 29, 1, 0), False),
        # fall back: 01:00-03:00 on Sunday 25 October covers the repeated hour twice: 00:00-03:00 UTC
        ("sun", "01:00-03:00", utc(2026, 10, 24, 23, 59), False),
        ("sun", "01:00-03:00", utc(2026, 10, 25, 0, 0), True),
        ("sun", "01:00-03:00", utc(2026, 10, 25, 1, 30), True),
        ("sun", "01:00-03:00", utc(2026, 10, 25, 2, 59), True),
        ("sun", "01:00-03:00", utc(2026, 10, 25, 3, 0), False),
        # across midnight into the fall-back night: Sat 22:00 BST .. Sun 02:00 GMT = 21:00-02:00 UTC
        ("sat", "22:00-02:00", utc(2026, 10, 24, 20, 59), False),
        ("sat", "22:00-02:00", utc(2026, 10, 24, 21, 0), True),
        ("sat", "22:00-02:00", utc(2026, 10, 25, 1, 59), True),
        ("sat", "22:00-02:00", utc(2026, 10, 25, 2, 0), False),
        # several days, another zone
        ("mon,wed", "09:00-17:00", utc(2026, 1, 14, 14, 0), True),
        ("mon,wed", "09:00-17:00", utc(2026, 1, 13, 14, 0), False),
    ],
)
def test_a_weekly_silence_covers_exactly_the_local_times_of_its_range(
    days: str, between: str, now: datetime, active: bool
) -> None:
    assert weekly(days, between).active(now) is active


def test_a_weekly_silence_in_another_zone_uses_that_zones_wall_time() -> None:
    silence = weekly("mon", "09:00-10:00", zone="America/New_York")
    assert silence.active(utc(2026, 1, 12, 14, 30))  # 09:30 EST
    assert not silence.active(utc(2026, 1, 12, 9, 30))


@pytest.mark.parametrize(
    ("days", "between", "now", "end"),
    [
        ("mon", "22:00-02:00", utc(2026, 1, 12, 23, 0), utc(2026, 1, 13, 2, 0)),  # the current occurrence
        ("mon", "22:00-02:00", utc(2026, 1, 13, 3, 0), utc(2026, 1, 20, 2, 0)),  # the next one
        ("sun", "01:00-03:00", utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 0)),
        (
            "sat",
            "22:00-02:00",
            utc(2026, 3, 28, 23, 0),
            utc(2026, 3, 29, 1, 0),
        ),  # ends in the gap: the jump
        ("sun", "01:00-03:00", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3, 0)),
    ],
)
def test_the_next_end_of_a_weekly_silence_is_the_end_of_its_current_or_next_occurrence(
    days: str, between: str, now: datetime, end: datetime
) -> None:
    assert weekly(days, between).next_end(now) == end


def test_a_weekly_silence_is_bounded_by_its_start_and_end() -> None:
    silence = weekly("mon", "22:00-02:00", starts_at=utc(2026, 1, 12, 23), ends_at=utc(2026, 1, 20, 1))
    assert not silence.active(utc(2026, 1, 12, 22, 30))
    assert silence.active(utc(2026, 1, 12, 23, 30))
    assert silence.active(utc(2026, 1, 20, 0, 30))
    assert silence.next_end(utc(2026, 1, 20, 0, 30)) == utc(2026, 1, 20, 1)
    assert silence.next_end(utc(2026, 1, 20, 1)) is None


def test_covering_lists_only_the_matching_active_silences() -> None:
    now = utc(2026, 5, 1, 11)
    silences = [one_off(id=1), one_off(id=2, kpi="Other"), one_off(id=3, ends_at=utc(2026, 5, 1, 11))]
    found = covering(silences, indicator="Deposits", owner="Payments", metric_key="EU", now=now)
    assert [silence.id for silence in found] == [1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("22:00", "not a range"),
        ("22:00-22:00", "empty"),
        ("25:00-02:00", "not a time"),
        ("9-10", "not a time"),
    ],
)
def test_a_malformed_range_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_range(text)


def test_days_are_three_letter_names_and_an_unknown_one_is_named() -> None:
    assert parse_days("Mon, tue,sun") == frozenset({0, 1, 6})
    with pytest.raises(ValueError, match="'monday'"):
        parse_days("monday")


def test_an_occurrence_never_lasts_longer_than_a_day_and_an_hour() -> None:
    silence = weekly("mon,tue,wed,thu,fri,sat,sun", "22:00-21:59")
    windows = silence.windows(around=utc(2026, 10, 25))
    assert all(end - start <= timedelta(hours=25) for start, end in windows)
