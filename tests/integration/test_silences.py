"""Silences end to end on SQLite and PostgreSQL: real KPI executions against a real source database, alert
events dispatched through the real email channel to a real SMTP server (aiosmtpd), and the alert processor,
all on one settable clock. What is asserted is what reached the mail server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text

from shared.db.tables import alert_events, alerts, notifications
from shared.domain.kpi import AlertPolicy, Priority
from shared.notify import build_senders
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.services.alerts.silences import SilenceRequest, SilenceService
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.factories import Clock, insert_contact, insert_kpi, make_kpi, queue_execution
from tests.receivers import SmtpCapture, smtp_capture

READINGS = "SELECT k AS key, v AS current_value, 100 AS historical_value FROM readings"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@dataclass
class World:
    database: Database
    smtp: SmtpCapture
    clock: Clock
    source: Engine
    executor: Executor
    dispatcher: EventDispatcher
    processor: AlertProcessor
    silences: SilenceService
    kpi_id: int = 0

    def add_kpi(self, *, cooldown_minutes: int = 30) -> None:
        kpi = make_kpi(
            indicator="Deposits",
            owner="Payments",
            priority=Priority.WARNING,
            sql_text=READINGS,
            policy=AlertPolicy(cooldown_minutes=cooldown_minutes),
            subject_template="{Indicator}/{MetricKey} is {CurrentValue}",
        )
        with self.database.engine.begin() as connection:
            self.kpi_id = insert_kpi(connection, kpi, next_run_at=None, now=self.clock())
            insert_contact(connection, "Ops", kpi_id=self.kpi_id, email="ops@example.test")
            insert_contact(connection, "Lead", kpi_id=self.kpi_id, level=1, email="lead@example.test")

    def evaluate(self, value: int, *, key: str = "EU") -> None:
        """Run the KPI once now with `value` for `key` (100 is normal, 10 a breach); dispatch its events."""
        with self.source.begin() as connection:
            connection.execute(text("DELETE FROM readings"))
            connection.execute(text("INSERT INTO readings VALUES (:k, :v)"), {"k": key, "v": value})
        with self.database.engine.begin() as connection:
            execution_id = queue_execution(connection, self.kpi_id, self.clock())
        report = self.executor.execute(execution_id, owner="test")
        self.dispatcher.dispatch_now([event.event_id for event in report.events])

    def process(self) -> None:
        """One alert processor pass, and its events dispatched (as alert_escalation would)."""
        report = self.processor.run()
        assert report.errors == []
        self.dispatcher.dispatch_now([event.event_id for event in report.events])

    def silence(self, **fields: str) -> int:
        request = SilenceRequest(by="ops", reason="database maintenance", **fields)  # type: ignore[arg-type]
        return self.silences.add(request).id

    def subjects(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every mail received, in order."""
        return [(mail.rcpt_tos[0], str(mail.message["Subject"])) for mail in self.smtp.mails]

    def timeline(self) -> list[str]:
        with self.database.engine.connect() as connection:
            query = select(alert_events.c.event_type).order_by(alert_events.c.id)
            return [row.event_type for row in connection.execute(query)]

    def alert(self) -> dict[str, object]:
        with self.database.engine.connect() as connection:
            row = connection.execute(select(alerts).order_by(alerts.c.id.desc())).mappings().first()
        assert row is not None
        return dict(row)

    def at(self, moment: datetime) -> None:
        self.clock.now = moment


@pytest.fixture
def world(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    source_url = f"sqlite:///{tmp_path}/source.db" if database.backend == "sqlite" else database.url
    source = create_engine(source_url)
    with source.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS readings"))
        connection.execute(text("CREATE TABLE readings (k VARCHAR(20), v INTEGER)"))
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    with smtp_capture() as smtp:
        for name, value in smtp.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__AllowHttpLoopback", "true")  # the local http receiver
        monkeypatch.setenv("Worker__AlertProcessing__EscalationTimeoutMinutes", "60")
        # Alerts here go hours without a new evaluation: no resolution by timeout meanwhile.
        monkeypatch.setenv("Worker__AlertProcessing__AutoResolutionTimeoutMinutes", "1440")
        settings = Settings.load()
        senders = build_senders(settings)
        clock = Clock(START)
        dispatcher = EventDispatcher(database.engine, settings, lambda: senders, clock=clock, retry_wait_s=0)
        yield World(
            database=database,
            smtp=smtp,
            clock=clock,
            source=source,
            executor=Executor(database.engine, runner, settings, clock=clock),
            dispatcher=dispatcher,
            processor=AlertProcessor(database.engine, settings, dispatcher, clock=clock),
            silences=SilenceService(database.engine, clock=clock),
        )
    runner.dispose()
    source.dispose()


OPS = "ops@example.test"
LEAD = "lead@example.test"
OPENED = (OPS, "Deposits/EU is 10")
UNSILENCED = (OPS, "[Silence ended] Deposits/EU is 10")


def test_a_silenced_breach_opens_its_alert_and_sends_nothing(world: World) -> None:
    world.add_kpi(cooldown_minutes=0)
    world.silence(kpi="Deposits", duration="2h")

    world.evaluate(10)
    world.at(START + timedelta(minutes=5))
    world.evaluate(12)  # a retrigger that would re-notify (no cooldown)
    world.process()

    assert world.smtp.mails == []
    assert world.alert()["status"] == "open"
    assert world.alert()["current_value"] == 12
    assert world.timeline() == ["opened", "silenced", "retriggered", "silenced"]
    with world.database.engine.connect() as connection:
        assert connection.execute(select(notifications.c.id)).first() is None


def test_after_the_silence_ends_the_open_alert_is_notified_once(world: World) -> None:
    world.add_kpi()
    world.silence(kpi="Deposits", duration="1h")
    world.evaluate(10)

    world.at(START + timedelta(minutes=59))
    world.process()
    assert world.smtp.mails == []
    world.at(START + timedelta(minutes=61))
    world.process()
    world.process()
    world.at(START + timedelta(minutes=62))
    world.process()

    assert world.subjects() == [UNSILENCED]
    assert world.timeline()[-2:] == ["unsilenced", "notified"]
    world.at(START + timedelta(minutes=65))
    world.evaluate(11)  # still breaching, inside the cooldown that the notice started: nothing more
    assert world.subjects() == [UNSILENCED]

    world.at(START + timedelta(minutes=70))
    world.evaluate(100)  # it recovers: those told hear that it is resolved
    assert world.subjects() == [UNSILENCED, (OPS, "[Resolved] Deposits/EU is 100")]


def test_an_expired_silence_releases_its_alert_at_once(world: World) -> None:
    world.add_kpi()
    silence_id = world.silence(owner="Payments", duration="8h", key="E*")
    world.evaluate(10)
    world.at(START + timedelta(minutes=10))
    world.silences.expire(silence_id, by="ops")
    world.process()

    assert world.subjects() == [UNSILENCED]


def test_an_alert_whose_opening_was_held_resolves_without_a_notice(world: World) -> None:
    world.add_kpi()
    world.silence(kpi="Deposits", duration="1h")
    world.evaluate(10)
    world.at(START + timedelta(minutes=30))
    world.evaluate(100)  # resolved while silenced
    world.at(START + timedelta(minutes=70))
    world.process()
    world.evaluate(10)  # a new alert after the silence is told as usual
    world.at(START + timedelta(minutes=75))
    world.evaluate(100)

    assert world.subjects() == [OPENED, (OPS, "[Resolved] Deposits/EU is 100")]
    assert world.timeline()[:4] == ["opened", "silenced", "resolved", "silenced"]


def test_with_two_overlapping_silences_the_alert_is_notified_only_after_the_last_ends(world: World) -> None:
    world.add_kpi()
    world.silence(kpi="Deposits", duration="1h")
    world.silence(owner="Payments", duration="2h")
    world.evaluate(10)

    world.at(START + timedelta(minutes=61))
    world.process()
    assert world.smtp.mails == []
    world.at(START + timedelta(minutes=121))
    world.process()
    world.process()

    assert world.subjects() == [UNSILENCED]


def test_two_silences_ending_in_the_same_pass_notify_once(world: World) -> None:
    world.add_kpi()
    world.silence(kpi="Deposits", duration="1h")
    world.silence(owner="Payments", duration="1h")
    world.evaluate(10)
    world.at(START + timedelta(minutes=61))
    world.process()

    assert world.subjects() == [UNSILENCED]


def test_a_silence_created_while_an_alert_escalates_pauses_its_escalation(world: World) -> None:
    world.add_kpi()
    world.evaluate(10)  # opened and told to level 0; escalates to level 1 at +60 min
    assert world.subjects() == [OPENED]

    world.at(START + timedelta(minutes=10))
    world.silence(kpi="Deposits", duration="2h")  # until +130 min
    world.at(START + timedelta(minutes=61))
    world.process()
    world.at(START + timedelta(minutes=125))
    world.process()
    assert world.subjects() == [OPENED]
    assert world.alert()["escalation_level"] == 0

    world.at(START + timedelta(minutes=131))  # the silence ended: told once, the escalation clock restarts
    world.process()
    assert world.subjects() == [OPENED, UNSILENCED]
    world.at(START + timedelta(minutes=131 + 59))
    world.process()
    assert world.alert()["escalation_level"] == 0
    world.at(START + timedelta(minutes=131 + 61))
    world.process()

    assert world.alert()["escalation_level"] == 1
    assert world.subjects() == [OPENED, UNSILENCED, (LEAD, "[Escalated to level 1] Deposits/EU is 10")]
    assert world.timeline().count("silenced") == 1  # the held escalation


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# A weekly window Saturday 22:00 to Sunday 02:00 Europe/London, on both daylight-saving weekends of 2026:
# spring forward (Sun 29 March, 01:00 UTC: 01:00 GMT -> 02:00 BST): 22:00 GMT .. 02:00 BST = 22-01 UTC (3 h);
# fall back (Sun 25 October, 01:00 UTC: 02:00 BST -> 01:00 GMT): 22:00 BST .. 02:00 GMT = 21-02 UTC (5 h).
@pytest.mark.parametrize(
    ("created", "starts", "ends"),
    [
        (utc(2026, 3, 28, 12), utc(2026, 3, 28, 22), utc(2026, 3, 29, 1)),
        (utc(2026, 10, 24, 12), utc(2026, 10, 24, 21), utc(2026, 10, 25, 2)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_weekly_silence_across_midnight_holds_exactly_its_local_hours_on_a_dst_weekend(
    world: World, created: datetime, starts: datetime, ends: datetime
) -> None:
    world.at(created)
    world.add_kpi(cooldown_minutes=0)
    world.silence(kpi="Deposits", weekly="sat", between="22:00-02:00", timezone="Europe/London")
    second = timedelta(seconds=1)

    for moment, value in ((starts - second, 10), (starts, 11), (ends - second, 12)):
        world.at(moment)
        world.evaluate(value)
        world.process()
    assert world.subjects() == [OPENED]  # the breach just before the window; nothing inside it

    world.at(ends)
    world.process()
    world.evaluate(13)

    assert world.subjects() == [
        OPENED,
        (OPS, "[Silence ended] Deposits/EU is 12"),
        (OPS, "[Still breaching] Deposits/EU is 13"),
    ]
    assert world.timeline().count("silenced") == 3  # two held retriggers and the held escalation
