"""Timer triggers: NCRONTAB schedules in UTC, `past_due`, `runOnStartup`, no two runs of one timer at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.domain.ncrontab import CronExpression

log = logging.getLogger("devhost")

LATE = timedelta(seconds=1)
"""An invocation starting later than this after its due time is `past_due`."""


class TimerSchedule:
    """When a timer fires and whether it is past due; pure, driven by the moments it is given."""

    def __init__(self, cron: CronExpression, now: datetime) -> None:
        self._cron = cron
        self.next_due = cron.next_after(now)
        self._missed = False
        self.skipped = 0

    def poll(self, now: datetime, *, running: bool) -> bool | None:
        """At `now`: None when nothing starts, else the `past_due` of the invocation to start now.

        A due occurrence while the previous run is still going is skipped, and the next one is past due.
        """
        if now < self.next_due:
            return None
        due, self.next_due = self.next_due, self._cron.next_after(now)
        if running:
            log.warning(
                "timer occurrence due at %s skipped: the previous run is still going", due.isoformat()
            )
            self._missed = True
            self.skipped += 1
            return None
        past_due, self._missed = self._missed or now - due > LATE, False
        return past_due


class TimerRunner:
    """Runs one timer function on its own thread until stopped.

    `fire(past_due)` performs one invocation (on a new thread, so the schedule keeps being watched);
    `clock` gives the current UTC time.
    """

    def __init__(
        self,
        name: str,
        cron: CronExpression,
        fire: Callable[[bool], None],
        *,
        run_on_startup: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick: float = 0.25,
    ) -> None:
        self.name = name
        self._cron = cron
        self._fire = fire
        self._run_on_startup = run_on_startup
        self._clock = clock
        self._tick = tick
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"timer-{name}", daemon=True)
        self._run: threading.Thread | None = None
        self.schedule: TimerSchedule | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling; a run in progress carries on (see `join_run`)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def join_run(self, timeout: float) -> bool:
        """Wait for the run in progress, if any; True when none is left."""
        run = self._run
        if run is not None:
            run.join(timeout)
            return not run.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.is_alive()

    def _start_run(self, past_due: bool) -> None:
        self._run = threading.Thread(
            target=self._fire, args=(past_due,), name=f"run-{self.name}", daemon=True
        )
        self._run.start()

    def _loop(self) -> None:
        schedule = self.schedule = TimerSchedule(self._cron, self._clock())
        log.info("timer %s: next run at %s", self.name, schedule.next_due.isoformat())
        if self._run_on_startup:
            self._start_run(False)
        while not self._stopping.is_set():
            past_due = schedule.poll(self._clock(), running=self.running)
            if past_due is not None:
                self._start_run(past_due)
                continue
            wait = (schedule.next_due - self._clock()).total_seconds()
            self._stopping.wait(min(max(wait, 0.0), self._tick))
