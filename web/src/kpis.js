// The KPI table: state, headline value, expected band, a 24-hour sparkline, open alerts.
import { api, query } from "./api.js";
import { sparkline } from "./charts.js";
import { badge, band, byId, fmt, h, replaceRows, when } from "./dom.js";

const SPARKLINES = 100; // rows beyond this get no sparkline (one history call each)
const SPARK_EVERY_MS = 30_000;
const sparkCache = new Map(); // kpi id -> {at, items}

/** The metric a row shows: the first one breaching, else the first. */
export function headline(kpi) {
  const metrics = kpi.metrics ?? [];
  return metrics.find((metric) => metric.breach) ?? metrics[0] ?? null;
}

function valueCell(metric) {
  if (!metric) return h("td", {}, "–");
  const label = metric.key && metric.key !== "value" ? `${metric.key}: ` : "";
  return h("td", { class: "num" }, label, h("strong", {}, fmt(metric.current)));
}

function row(kpi, onSelect) {
  const metric = headline(kpi);
  const more = (kpi.metrics?.length ?? 0) > 1 ? h("span", { class: "hint" }, ` (${kpi.metrics.length} keys)`) : null;
  return h(
    "tr",
    { dataset: { kpi: kpi.id, state: kpi.state } },
    h(
      "th",
      { scope: "row" },
      h("button", { type: "button", class: "link", dataset: { focus: `kpi-${kpi.id}` }, onclick: () => onSelect(kpi.id) },
        kpi.indicator),
      h("span", { class: "hint block" }, kpi.owner ?? ""),
    ),
    h("td", {}, badge(kpi.state)),
    valueCell(metric),
    h("td", { class: "num" }, metric ? band(metric.lower, metric.upper, metric.expected) : "–", more),
    h("td", { class: "spark", "data-spark": kpi.id }, h("div", { "aria-hidden": "true" }), h("span", { class: "visually-hidden" })),
    h("td", { class: "num" }, String(kpi.open_alerts ?? 0)),
    h("td", {}, when(kpi.last_run_at)),
  );
}

export function renderKpis(kpis, onSelect) {
  const tbody = byId("kpi-table").tBodies[0];
  replaceRows(tbody, kpis.map((kpi) => row(kpi, onSelect)), "No KPIs yet: import a definitions file.");
  for (const kpi of kpis.slice(0, SPARKLINES)) {
    const cached = sparkCache.get(kpi.id);
    if (cached) drawSpark(kpi, cached.items);
  }
}

function drawSpark(kpi, items) {
  const cell = document.querySelector(`td[data-spark="${kpi.id}"]`);
  if (!cell) return;
  const key = headline(kpi)?.key;
  const points = items.filter((item) => key === undefined || item.key === key);
  cell.lastElementChild.textContent = `${points.length} values in the last 24 hours`;
  if (points.length) sparkline(cell.firstElementChild, points);
}

/** Fetch 24 hours of history for rows whose sparkline is older than SPARK_EVERY_MS; then draw. */
export async function refreshSparklines(kpis, now = Date.now()) {
  const from = new Date(now - 24 * 3600_000).toISOString();
  const to = new Date(now).toISOString();
  const stale = kpis.slice(0, SPARKLINES).filter((kpi) => now - (sparkCache.get(kpi.id)?.at ?? 0) > SPARK_EVERY_MS);
  await Promise.all(
    stale.map(async (kpi) => {
      const history = await api(`kpis/${kpi.id}/history${query({ from, to })}`);
      sparkCache.set(kpi.id, { at: now, items: history.items ?? [] });
      drawSpark(kpi, history.items ?? []);
    }),
  );
}
