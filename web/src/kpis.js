// The KPI table: state, headline value, expected band, a 24-hour sparkline, open alerts.
import { api, query } from "./api.js";
import { sparkline } from "./charts.js";
import { badge, band, byId, fmt, h, replaceRows, when } from "./dom.js";

const SPARKLINES = 100; // rows beyond this get no sparkline (one history call each)
const SPARK_EVERY_MS = 30_000;
const sparkCache = new Map(); // kpi id -> {at, items}

/** The points of the latest slot in `items` (history), one per key. */
export function latest(items) {
  if (!items.length) return [];
  const last = items.reduce((top, item) => (item.slot > top ? item.slot : top), items[0].slot);
  return items.filter((item) => item.slot === last);
}

/** The metric a row shows: the first one breaching, else the first; from the KPI's metrics, or from its
 * latest history when the API gave none. */
export function headline(kpi) {
  const metrics = kpi.metrics?.length ? kpi.metrics : latest(sparkCache.get(kpi.id)?.items ?? []);
  return metrics.find((metric) => metric.breach) ?? metrics[0] ?? null;
}

const keyCount = (kpi) => kpi.metrics?.length || latest(sparkCache.get(kpi.id)?.items ?? []).length;

function valueCell(metric) {
  if (!metric) return h("td", {}, "–");
  const label = metric.key && metric.key !== "value" ? `${metric.key}: ` : "";
  return h("td", { class: "num" }, label, h("strong", {}, fmt(metric.current)));
}

function row(kpi, onSelect) {
  const metric = headline(kpi);
  const more = keyCount(kpi) > 1 ? h("span", { class: "hint" }, ` (${keyCount(kpi)} keys)`) : null;
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

/** Fetch 24 hours of history for rows whose sparkline is older than SPARK_EVERY_MS (drawn by renderKpis),
 * a few requests at a time. */
export async function loadSparklines(kpis, now = Date.now()) {
  const range = query({ from: new Date(now - 24 * 3600_000).toISOString(), to: new Date(now).toISOString() });
  const stale = kpis.slice(0, SPARKLINES).filter((kpi) => now - (sparkCache.get(kpi.id)?.at ?? 0) > SPARK_EVERY_MS);
  const worker = async () => {
    for (let kpi = stale.shift(); kpi; kpi = stale.shift()) {
      const history = await api(`kpis/${kpi.id}/history${range}`);
      sparkCache.set(kpi.id, { at: now, items: history.items ?? [] });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}
