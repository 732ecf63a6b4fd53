"""Three devhosts whose clocks differ by up to 30 s (Debian's `faketime`: one on time, one 20 s ahead, one
10 s behind), all scheduling, executing and delivering: every slot runs once and every notice goes out once.
A host ahead takes a slot up to 20 s early (its clock says the slot has come); the slot is still the one the
database names, so it is taken once."""

from __future__ import annotations

import glob
import os
import shutil
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.db.tables import kpi_executions
from tests.azurite import azurite_queue
from tests.conftest import Database
from tests.e2e.harness import Devhost, start_devhost
from tests.faults.conftest import add_alerting_kpis, fault_env, first_slot_soon
from tests.faults.figures import (
    Figures,
    count_notices,
    count_slots,
    expected_notices,
    expected_slots,
    nothing_unfinished,
    stop_scheduling,
    unfinished,
)
from tests.faults.processes import Mailbox
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.parametrize("database", ["postgresql"], indirect=True),
]
OFFSETS = ("+0s", "+20s", "-10s")
KPIS = 4


@pytest.mark.timeout(360)
def test_three_hosts_with_skewed_clocks_run_every_slot_once(
    database: Database, tmp_path: Path, figures: Figures
) -> None:
    library = _libfaketime()
    if library is None:
        if os.environ.get("CI"):
            pytest.fail("CI requires faketime (scripts/ensure-system-packages installs it)")
        pytest.skip("faketime is not installed (scripts/ensure-system-packages installs it)")
    mailbox = Mailbox(tmp_path)
    mailbox.start()
    hosts: list[Devhost] = []
    try:
        with azurite_queue(tmp_path) as storage:
            env = fault_env(database, storage, **mailbox.environment())
            hosts = [start_devhost({**env, **_shifted(library, offset)}, tmp_path) for offset in OFFSETS]
            figures.notes.append(f"clocks: {', '.join(OFFSETS)}; {_skew(hosts)}")
            first = first_slot_soon(margin_s=40)  # the host 20 s ahead must not take the first slot late
            with database.engine.begin() as connection:
                add_alerting_kpis(connection, KPIS, first_slot=first)
            assert wait_until(lambda: _finished(database) >= 3 * KPIS, timeout_s=200), unfinished(database)
            stops = stop_scheduling(database)
            assert wait_until(lambda: nothing_unfinished(database), timeout_s=120), unfinished(database)
            exit_codes = [host.stop() for host in hosts]
    finally:
        for host in hosts:
            host.stop()
        mailbox.stop()
    assert exit_codes == [0, 0, 0]
    count_slots(figures, database, expected_slots(first, stops))
    figures.notes.append(f"slots taken before their time (by the host ahead): {_early(database)}")
    missing, unexpected = count_notices(figures, expected_notices(database), mailbox.deliveries())
    assert figures.slots_executed == figures.slots_expected >= 3 * KPIS
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    assert figures.notices_sent == figures.notices_expected >= 3 * KPIS
    assert figures.notices_duplicated == 0


def _early(database: Database) -> int:
    with database.engine.connect() as connection:
        query = select(func.count()).where(kpi_executions.c.created_at < kpi_executions.c.slot)
        return int(connection.scalar(query) or 0)


def _libfaketime() -> str | None:
    """The library the `faketime` command preloads (Debian's package installs both)."""
    if shutil.which("faketime") is None:
        return None
    found = sorted(
        glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
        + glob.glob("/usr/local/lib/faketime/libfaketime.so.1")
    )
    return found[0] if found else None


def _shifted(library: str, offset: str) -> dict[str, str]:
    """What `faketime -f <offset>` sets, given to the devhost itself: the `faketime` command forks and
    waits, so a signal meant for the host would stop only the wrapper. Only the wall clock is shifted: a
    faked monotonic clock stalls Python's timed waits (`Event.wait(timeout)` never returns under libfaketime
    0.9.10), and no host compares monotonic clocks with another."""
    return {
        "LD_PRELOAD": library,
        "FAKETIME": offset,
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def _finished(database: Database) -> int:
    with database.engine.connect() as connection:
        query = select(func.count()).where(kpi_executions.c.status == "succeeded")
        return int(connection.scalar(query) or 0)


def _skew(hosts: list[Devhost]) -> str:
    """Each host's clock as the `Date` header of its answers tells it, against ours (to the second)."""
    seen = []
    for host in hosts:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{host.port}/api/health", timeout=5) as answer:
                date = answer.headers.get("Date")
        except urllib.error.HTTPError as error:  # 503 while Unhealthy: still dated
            date = error.headers.get("Date")
        offset = (parsedate_to_datetime(date) - datetime.now(UTC)).total_seconds() if date else None
        seen.append(f"{offset:+.0f}s" if offset is not None else "?")
    return "measured " + ", ".join(seen)
