// The chart section: one KPI's key over a chosen range, its band, breaches and alert episodes,
// with a text summary and the data as a table for those who cannot see the canvas.
import { api, query } from "./api.js";
import { bandChart } from "./charts.js";
import { byId, fmt, h, replaceRows, when } from "./dom.js";
import { latest } from "./kpis.js";

const view = { kpi: null, key: null, hours: 24, plot: null, drawn: "" };

export const selectedKpi = () => view.kpi;

export function choose(kpiId) {
  view.kpi = kpiId;
  view.key = null;
}

export function bindChartControls(onChange) {
  byId("chart-kpi").addEventListener("change", (event) => {
    choose(Number(event.target.value));
    onChange();
  });
  byId("chart-key").addEventListener("change", (event) => {
    view.key = event.target.value;
    onChange();
  });
  byId("chart-range").addEventListener("change", (event) => {
    view.hours = Number(event.target.value);
    onChange();
  });
  byId("chart-form").addEventListener("submit", (event) => event.preventDefault());
}

function options(select, entries, selected) {
  const current = entries.map(([value, label]) => `${value}\u0000${label}`).join("\u0001");
  if (select.dataset.options !== current) {
    select.replaceChildren(...entries.map(([value, label]) => h("option", { value }, label)));
    select.dataset.options = current;
  }
  select.value = String(selected);
}

/** Episodes of `alerts` on `key` as {from, to} seconds; open ones run to `endSeconds`. */
export function episodes(alerts, key, endSeconds) {
  return alerts
    .filter((alert) => (alert.metric_key ?? alert.key) === key && alert.opened_at)
    .map((alert) => ({
      from: Date.parse(alert.opened_at) / 1000,
      to: alert.resolved_at ? Date.parse(alert.resolved_at) / 1000 : endSeconds,
    }));
}

function summary(kpi, key, items, marked) {
  if (!items.length) return `${kpi.indicator} (${key ?? "no key"}): no values in this range.`;
  const last = items[items.length - 1];
  const breaches = items.filter((item) => item.breach).length;
  return (
    `${kpi.indicator}, key ${key}: ${items.length} values from ${new Date(items[0].slot).toLocaleString()} ` +
    `to ${new Date(last.slot).toLocaleString()}. Latest ${fmt(last.current)}, expected ${fmt(last.expected)} ` +
    `(band ${fmt(last.lower)} to ${fmt(last.upper)}). ${breaches} outside the band; ` +
    `${marked.length} alert episode${marked.length === 1 ? "" : "s"} marked.`
  );
}

function table(items) {
  const rows = items.slice(-200).reverse().map((item) =>
    h("tr", {}, h("td", {}, when(item.slot)), h("td", { class: "num" }, fmt(item.current)),
      h("td", { class: "num" }, fmt(item.expected)), h("td", { class: "num" }, fmt(item.lower)),
      h("td", { class: "num" }, fmt(item.upper)), h("td", {}, item.breach ? "yes" : "no")));
  replaceRows(byId("chart-data").tBodies[0], rows, "No values in this range.");
}

/** The keys to offer: the KPI's metrics, else those in its history; the current one first if breaching. */
function chooseKey(kpi, items) {
  const keys = kpi.metrics?.length
    ? kpi.metrics.map((metric) => metric.key)
    : [...new Set(items.map((item) => item.key))].sort();
  if (!keys.includes(view.key)) {
    const now = kpi.metrics?.length ? kpi.metrics : latest(items);
    view.key = now.find((metric) => metric.breach)?.key ?? keys[0] ?? null;
  }
  options(byId("chart-key"), keys.map((k) => [k, k]), view.key ?? "");
}

export async function renderChart(kpis, now = Date.now()) {
  if (!kpis.length) return;
  if (!kpis.some((kpi) => kpi.id === view.kpi)) choose(kpis[0].id);
  const kpi = kpis.find((candidate) => candidate.id === view.kpi);
  options(byId("chart-kpi"), kpis.map((k) => [k.id, k.indicator]), kpi.id);
  byId("chart-title").textContent = `Chart: ${kpi.indicator}`;
  const range = { from: new Date(now - view.hours * 3600_000).toISOString(), to: new Date(now).toISOString() };
  const [history, alerts] = await Promise.all([
    api(`kpis/${kpi.id}/history${query(range)}`),
    api(`alerts${query({ kpi: kpi.id, limit: 100 })}`),
  ]);
  if (view.kpi !== kpi.id) return; // another KPI was chosen meanwhile
  chooseKey(kpi, history.items ?? []);
  const items = (history.items ?? []).filter((item) => item.key === view.key);
  const marked = episodes(alerts.items ?? [], view.key, Math.floor(now / 60_000) * 60); // open ones: to this minute
  const target = byId("chart-canvas");
  const width = Math.max(280, target.clientWidth || 600);
  const drawn = JSON.stringify([kpi.id, view.key, view.hours, width, items, marked]);
  if (drawn === view.drawn) return; // nothing new: keep the chart (and the pointer's place on it)
  view.drawn = drawn;
  view.plot?.destroy();
  view.plot = bandChart(target, items, marked, width);
  target.dataset.points = String(items.length);
  target.dataset.episodes = String(marked.length);
  byId("chart-summary").textContent = summary(kpi, view.key, items, marked);
  table(items);
}
