"""The status page on the demo, in headless Chromium: the KPIs render with their states and sparklines, a
chart draws values against their band with a text alternative, acknowledging from the page changes the
alert and its timeline shows who did it, and the page works on a phone and from the keyboard.

The screenshots go to docs/ when MGRID_UPDATE_SCREENSHOT=1, else to a temporary folder (the tree stays clean).
They are taken before the acknowledgement test changes the alerts (tests run in file order)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from demo import kpis as demo_kpis
from tests.browser.conftest import Site

ROOT = Path(__file__).resolve().parents[2]
STATES = {"ok", "alerting", "no_data", "failing", "never_run", "inactive"}


def screenshot_path(name: str, tmp_path: Path) -> Path:
    return (ROOT / "docs" if os.environ.get("MGRID_UPDATE_SCREENSHOT") == "1" else tmp_path) / name


def api(site: Site, path: str) -> Any:
    response = requests.get(f"{site.base}/api/{path}", headers={"x-functions-key": site.key}, timeout=10)
    response.raise_for_status()
    return response.json()


def open_page(page: Page, site: Site) -> None:
    page.goto(site.page_url())
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=20_000)


def test_the_demo_kpis_render_with_their_state_value_band_and_sparkline(desktop: Page, site: Site) -> None:
    open_page(desktop, site)
    rows = desktop.locator("#kpi-table tbody tr")
    expect(rows).to_have_count(len(demo_kpis.INDICATORS))
    names = rows.locator("th button").all_inner_texts()
    assert sorted(names) == sorted(demo_kpis.INDICATORS)
    states = set(rows.locator("[data-state]").evaluate_all("nodes => nodes.map(n => n.dataset.state)"))
    assert states <= STATES
    assert "alerting" in states
    expect(desktop.locator("#kpi-table td.spark canvas")).to_have_count(len(demo_kpis.INDICATORS))
    expect(desktop.locator("#alert-table tbody tr[data-status=open]").first).to_be_visible()
    expect(desktop.locator("#health-badge")).to_contain_text("Health:")
    expect(desktop.locator("#status")).to_contain_text("KPIs")


def test_a_kpis_chart_draws_its_values_against_the_band_with_episodes_and_a_table(
    desktop: Page, site: Site, tmp_path: Path
) -> None:
    open_page(desktop, site)
    desktop.select_option("#chart-kpi", label="Deposits")
    expect(desktop.locator("#chart-title")).to_have_text("Chart: Deposits")
    expect(desktop.locator("#chart-canvas canvas")).to_have_count(1)
    expect(desktop.locator("#chart-summary")).to_contain_text("values from")
    points = int(desktop.locator("#chart-canvas").get_attribute("data-points") or 0)
    assert points >= 20  # 24 replayed hours and now
    assert desktop.locator("#chart-data tbody tr").count() == points
    summary = desktop.locator("#chart-summary").inner_text()
    assert "alert episode" in summary
    assert "0 alert episodes" not in summary
    desktop.wait_for_timeout(300)
    desktop.screenshot(path=screenshot_path("dashboard.png", tmp_path), full_page=True)


def test_the_page_fits_a_phone_and_works_from_the_keyboard(phone: Page, site: Site, tmp_path: Path) -> None:
    open_page(phone, site)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    expect(phone.locator("#chart-canvas canvas")).to_have_count(1)
    phone.screenshot(path=screenshot_path("dashboard-phone.png", tmp_path), full_page=True)
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.className") == "skip"
    phone.keyboard.press("Enter")
    phone.keyboard.press("Tab")
    focused = phone.evaluate("document.activeElement.closest('main') !== null")
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused
    assert outline != "none"


def test_acknowledging_from_the_page_changes_the_alert_and_its_timeline_shows_the_actor(
    desktop: Page, site: Site
) -> None:
    open_page(desktop, site)
    desktop.fill("#actor", "Dana Page")
    desktop.locator("#actor").blur()
    row = desktop.locator("#alert-table tbody tr[data-status=open]").first
    alert_id = int(row.get_attribute("data-alert") or 0)
    row.get_by_role("button", name=f"Acknowledge alert {alert_id}").click()
    acknowledged = desktop.locator(f"#alert-table tbody tr[data-alert='{alert_id}']")
    expect(acknowledged).to_have_attribute("data-status", "acknowledged")
    expect(acknowledged).to_contain_text("by Dana Page")
    timeline = desktop.locator("#timeline-table tbody")
    expect(timeline.locator("tr", has_text="acknowledged")).to_contain_text("Dana Page")
    alert = api(site, f"alerts/{alert_id}")
    assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", "Dana Page")
    desktop.reload()
    expect(desktop.locator("#actor")).to_have_value("Dana Page")  # remembered in localStorage


def test_without_a_key_the_page_says_how_to_get_in(desktop: Page, site: Site) -> None:
    desktop.goto(site.page_url(with_key=False))
    expect(desktop.locator("#error")).to_contain_text("Not authorised")
    expect(desktop.locator("#health-badge")).to_contain_text("Health:")  # health needs no key


PUBLIC = ["dashboard", "dashboard/assets/dashboard.js", "dashboard/assets/dashboard.css"]


@pytest.mark.parametrize("path", PUBLIC)
def test_the_shell_and_its_assets_need_no_key(site: Site, path: str) -> None:
    response = requests.get(f"{site.base}/api/{path}", timeout=10)
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
