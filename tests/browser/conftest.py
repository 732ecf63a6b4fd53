"""The status page in a real browser: Debian's chromium driven by Playwright (no browser download), against a
devhost on the demo (its source, KPIs, the seasonal KPI's backfilled weeks and 24 replayed hours) with a
function key, Azurite's queues and the demo mailbox catching the notices."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from demo import kpis as demo_kpis
from demo import replay
from demo import source as demo_source
from demo.mailbox import Mailbox
from shared import runtime
from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from shared.local_settings import read_values
from shared.services.backfill import Backfiller
from shared.services.definitions import import_file
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.azurite import azurite_queue
from tests.e2e.harness import free_port, start_devhost

# Read at import: the autouse clean_environment fixture clears the environment before each test.
CHROMIUM = os.environ.get("MGRID_CHROMIUM", "/usr/bin/chromium")
IN_CI = bool(os.environ.get("CI"))
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "browser-test-key"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Site:
    """The running app: its address, function key, monitoring database and mailbox folder."""

    base: str
    key: str
    engine: Engine
    mailbox: Path

    def page_url(self, *, with_key: bool = True) -> str:
        return f"{self.base}/api/dashboard" + (f"?code={self.key}" if with_key else "")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"no chromium at {CHROMIUM} (apt-get install chromium; make deps does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _demo_database(workdir: Path, now: datetime, env: dict[str, str]) -> Engine:
    """The monitoring database with the demo's KPIs, the seasonal KPI's weeks backfilled and 24 replayed hours
    (as `make run` makes it), their notices sent (`env` is also the process environment)."""
    source_url = env["ConnectionStrings__Sources__main"]
    demo_source.build(source_url, now=now, seed=0)
    kpi_file = workdir / "kpis.yaml"
    kpi_file.write_text(demo_kpis.render("sqlite"), encoding="utf-8")
    engine = create_monitoring_engine(env["ConnectionStrings__Monitoring"])
    migrate.upgrade(engine)
    settings = Settings.load()
    import_file(engine, kpi_file, settings, now=now)
    runner = SourceRunner({"main": source_url}, pool_size=2, retry_wait_s=0)
    try:
        Backfiller(engine, runner, settings).run(demo_kpis.SEASONAL, weeks=5, now=now)
        replay.replay(engine, runner, settings, now=now, hours=24)
        runtime.event_dispatcher().dispatch_outbox(limit=1000)
    finally:
        runner.dispose()
        runtime.reset()
    return engine


def _settings(workdir: Path, port: int, smtp_port: int, storage: str) -> dict[str, str]:
    """The example local settings (every timer's schedule), on this test's database, queues and mailbox."""
    return {
        **read_values(ROOT / "local.settings.json.example"),
        "ConnectionStrings__Monitoring": f"sqlite:///{workdir / 'monitoring.db'}",
        "ConnectionStrings__Sources__main": f"sqlite:///{workdir / 'source.db'}",
        "AzureWebJobsStorage": storage,
        "DEVHOST_FUNCTION_KEY": KEY,
        "Notifications__Smtp__Host": "127.0.0.1",
        "Notifications__Smtp__Port": str(smtp_port),
        "Notifications__Smtp__Security": "none",
        "Notifications__Sms__Mode": "gateway",
        "Notifications__Sms__Gateway": "sms.demo.example.com",
        "Notifications__PublicBaseUrl": f"http://127.0.0.1:{port}",
        "Notifications__AckTokenSecret": "browser-test-ack-secret",
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("site")
    mailbox = workdir / "mailbox"
    mailbox.mkdir()
    smtp = Controller(Mailbox(mailbox), hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    try:
        with azurite_queue(workdir) as storage, pytest.MonkeyPatch.context() as patch:
            env = _settings(workdir, port, smtp.port, storage)
            for name, value in env.items():
                patch.setenv(name, value)
            engine = _demo_database(workdir, datetime.now(UTC).replace(second=0, microsecond=0), env)
            host = start_devhost(env, workdir, port)
            try:
                yield Site(base=f"http://127.0.0.1:{port}", key=KEY, engine=engine, mailbox=mailbox)
            finally:
                host.stop(signal.SIGTERM)
                engine.dispose()
    finally:
        smtp.stop()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    # bypass_csp: the accessibility test injects axe-core, which the page's policy would refuse.
    page = browser.new_page(viewport=DESKTOP, bypass_csp=True)  # type: ignore[arg-type]
    yield page
    page.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[arg-type]
    yield page
    page.close()
