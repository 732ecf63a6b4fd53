"""The demo's seasonal KPI on the status page, in headless Chromium: its own band (stored with every value,
from the backfilled weeks) in the KPI table, the chart's summary and data table, and drawn on the chart."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from demo import kpis as demo_kpis
from tests.browser.conftest import Site
from tests.browser.test_dashboard import BAND_PIXELS, open_page

NUMBER = r"[\d.,]+"


def test_the_seasonal_kpis_band_is_listed_summarised_tabled_and_drawn(desktop: Page, site: Site) -> None:
    open_page(desktop, site)
    row = desktop.locator("#kpi-table tbody tr").filter(has_text=demo_kpis.SEASONAL)
    expect(row.locator("td").nth(2)).to_have_text(re.compile(rf"^{NUMBER} \u2013 {NUMBER}"))  # lower to upper
    desktop.select_option("#chart-kpi", label=demo_kpis.SEASONAL)
    summary = desktop.locator("#chart-summary")
    expect(summary).to_contain_text(re.compile(rf"expected {NUMBER} \(band {NUMBER} to {NUMBER}\)"))
    newest = desktop.locator("#chart-data tbody tr").first.locator("td")  # in a closed <details>: text only
    band = [newest.nth(column).text_content() or "" for column in (2, 3, 4)]  # expected, lower, upper
    assert all(re.fullmatch(NUMBER, text) for text in band), band
    assert desktop.locator("#chart-canvas canvas").evaluate(BAND_PIXELS) > 1000
