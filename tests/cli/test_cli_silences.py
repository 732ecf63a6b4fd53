"""`mgrid silences add|list|expire`: real processes on a migrated SQLite database with the Deposits KPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import mgrid
from tests.cli.test_cli_kpi_run import deposits_environment

KEYS = {"id", "kpi", "owner", "key", "starts_at", "ends_at", "weekly", "by", "reason", "active"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return deposits_environment(tmp_path)


def run_json(tmp_path: Path, env: dict[str, str], *args: str) -> Any:
    result = mgrid("silences", *args, "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_add_list_and_expire_a_silence(tmp_path: Path, env: dict[str, str]) -> None:
    added = run_json(
        tmp_path,
        env,
        "add",
        "--kpi",
        "Deposits",
        "--key",
        "Total*",
        "--for",
        "2h",
        "--by",
        "ann",
        "--reason",
        "db",
    )
    assert set(added) >= KEYS
    assert (added["kpi"], added["owner"], added["key"], added["by"], added["reason"]) == (
        "Deposits",
        None,
        "Total*",
        "ann",
        "db",
    )
    assert added["active"] is True
    assert added["weekly"] is None

    weekly = run_json(
        tmp_path,
        env,
        "add",
        "--owner",
        "Payments",
        "--weekly",
        "sat,sun",
        "--between",
        "22:00-02:00",
        "--timezone",
        "Europe/London",
        "--by",
        "bob",
        "--reason",
        "weekend batch",
    )
    assert weekly["weekly"] == {"days": "sat,sun", "between": "22:00-02:00", "timezone": "Europe/London"}
    assert weekly["ends_at"] is None

    listed = run_json(tmp_path, env, "list")
    assert [item["id"] for item in listed] == [weekly["id"], added["id"]]
    assert all(set(item) >= KEYS for item in listed)

    expired = run_json(tmp_path, env, "expire", str(added["id"]), "--by", "ann")
    assert (expired["active"], expired["expired_by"]) == (False, "ann")
    assert [item["id"] for item in run_json(tmp_path, env, "list")] == [weekly["id"]]
    assert [item["id"] for item in run_json(tmp_path, env, "list", "--all")] == [weekly["id"], added["id"]]

    text = mgrid("silences", "list", cwd=tmp_path, **env)
    assert "sat,sun 22:00-02:00 Europe/London" in text.stdout


def test_a_kpi_and_an_owner_together_make_one_silence_matching_both(
    tmp_path: Path, env: dict[str, str]
) -> None:
    added = run_json(
        tmp_path, env, "add", "--kpi", "Deposits", "--owner", "Payments", "--until", "2099-01-01T00:00Z",
        "--by", "ann", "--reason", "r",
    )  # fmt: skip
    assert (added["kpi"], added["owner"], added["ends_at"]) == (
        "Deposits",
        "Payments",
        "2099-01-01T00:00:00Z",
    )


BAD_INPUT = [
    (["--kpi", "Nope", "--for", "1h"], "--kpi: no KPI has the indicator 'Nope'"),
    (["--owner", "Nobody", "--for", "1h"], "--owner: no KPI has the owner 'Nobody'"),
    (["--for", "1h"], "--kpi: give a KPI indicator and/or an owner"),
    (["--kpi", "Deposits"], "--until: give exactly one of until, for"),
    (["--kpi", "Deposits", "--for", "1h", "--until", "2099-01-01T00:00Z"], "--until: give exactly one"),
    (["--kpi", "Deposits", "--for", "soon"], "--for: 'soon' is not a duration"),
    (["--kpi", "Deposits", "--until", "2099-01-01T00:00"], "--until: give a time zone"),
    (
        ["--kpi", "Deposits", "--until", "2000-01-01T00:00Z"],
        "--until: 2000-01-01T00:00Z is not in the future",
    ),
    (["--kpi", "Deposits", "--weekly", "monday", "--between", "1:00-2:00"], "--weekly: unknown day 'monday'"),
    (["--kpi", "Deposits", "--weekly", "mon"], "--between: a weekly silence needs a time range"),
    (["--kpi", "Deposits", "--weekly", "mon", "--between", "22:00"], "--between: '22:00' is not a range"),
    (
        ["--kpi", "Deposits", "--weekly", "mon", "--between", "22:00-02:00", "--timezone", "Mars/Olympus"],
        "--timezone: 'Mars/Olympus' is not an IANA time zone",
    ),
    (["--kpi", "Deposits", "--for", "1h", "--timezone", "UTC"], "--between: between and timezone go with"),
]


def test_bad_input_exits_2_naming_the_flag(tmp_path: Path, env: dict[str, str]) -> None:
    for args, message in BAD_INPUT:
        result = mgrid("silences", "add", *args, "--by", "ann", "--reason", "r", cwd=tmp_path, **env)
        assert result.returncode == 2, args
        assert f"mgrid: {message}" in result.stderr
    assert run_json(tmp_path, env, "list", "--all") == []


def test_expiring_an_unknown_silence_fails(tmp_path: Path, env: dict[str, str]) -> None:
    result = mgrid("silences", "expire", "42", "--by", "ann", cwd=tmp_path, **env)
    assert result.returncode == 1
    assert "no silence with id 42" in result.stderr
