// Open alerts with acknowledge / resolve, and one alert's timeline and deliveries.
import { api } from "./api.js";
import { badge, byId, fmt, h, replaceRows, when } from "./dom.js";

let shown = null; // the alert id whose details are open

export const shownAlert = () => shown;

function actions(alert, act, open) {
  const id = alert.id;
  return h(
    "td",
    { class: "actions" },
    h("button", { type: "button", class: "secondary", dataset: { focus: `details-${id}` }, onclick: () => open(id) },
      "Details", h("span", { class: "visually-hidden" }, ` of alert ${id}`)),
    alert.status === "open"
      ? h("button", { type: "button", dataset: { focus: `ack-${id}` }, onclick: () => act(id, "acknowledge") },
          "Acknowledge", h("span", { class: "visually-hidden" }, ` alert ${id}`))
      : null,
    h("button", { type: "button", class: "danger", dataset: { focus: `resolve-${id}` }, onclick: () => act(id, "resolve") },
      "Resolve", h("span", { class: "visually-hidden" }, ` alert ${id}`)),
  );
}

function row(alert, act, open) {
  const by = alert.acknowledged_by ? h("span", { class: "hint block" }, `by ${alert.acknowledged_by}`) : null;
  return h(
    "tr",
    { dataset: { alert: alert.id, status: alert.status } },
    h("th", { scope: "row" }, `#${alert.id}`, h("span", { class: "hint block" }, alert.severity ?? "")),
    h("td", {}, alert.indicator ?? `KPI ${alert.kpi_id ?? "?"}`, h("span", { class: "hint block" }, alert.metric_key ?? "")),
    h("td", {}, badge(alert.status), by),
    h("td", { class: "num" }, fmt(alert.current_value), h("span", { class: "hint block" },
      `expected ${fmt(alert.expected_value ?? alert.baseline_value)}`)),
    h("td", {}, when(alert.opened_at)),
    actions(alert, act, open),
  );
}

export function renderAlerts(alerts, act, open) {
  const rows = alerts.filter((alert) => alert.status !== "resolved").map((alert) => row(alert, act, open));
  replaceRows(byId("alert-table").tBodies[0], rows, "No open alerts.");
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value ?? "–")];
}

function details(value) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "string") return value;
  return Object.entries(value).map(([name, item]) => `${name}: ${typeof item === "object" ? JSON.stringify(item) : item}`).join("; ");
}

export function closeAlert() {
  shown = null;
  byId("alert-detail").hidden = true;
}

/** Load and show alert `id`; `focus` moves keyboard focus to its heading (when opened by a person). */
export async function showAlert(id, { focus = false } = {}) {
  shown = id;
  const alert = await api(`alerts/${id}`);
  if (shown !== id) return;
  const section = byId("alert-detail");
  section.hidden = false;
  section.dataset.alert = String(id);
  byId("alert-detail-title").textContent = `Alert #${alert.id}: ${alert.indicator ?? ""} ${alert.metric_key ?? ""}`;
  byId("alert-facts").replaceChildren(
    ...fact("Status", badge(alert.status)),
    ...fact("Opened", when(alert.opened_at)),
    ...fact("Value", `${fmt(alert.current_value)} (expected ${fmt(alert.expected_value ?? alert.baseline_value)})`),
    ...fact("Acknowledged", alert.acknowledged_by ? [`by ${alert.acknowledged_by} `, when(alert.acknowledged_at)] : "no"),
    ...fact("Resolved", alert.resolved_at ? [`by ${alert.resolved_by ?? "?"} `, when(alert.resolved_at)] : "no"),
  );
  replaceRows(byId("timeline-table").tBodies[0], (alert.timeline ?? []).map((event) =>
    h("tr", {}, h("td", {}, when(event.at)), h("td", {}, event.type), h("td", { class: "actor" }, event.actor ?? ""),
      h("td", {}, details(event.details)))), "No events.");
  replaceRows(byId("delivery-table").tBodies[0], (alert.deliveries ?? []).map((delivery) =>
    h("tr", {}, h("td", {}, delivery.contact), h("td", {}, delivery.channel), h("td", {}, delivery.status),
      h("td", { class: "num" }, String(delivery.attempts ?? 0)), h("td", {}, when(delivery.sent_at)),
      h("td", {}, delivery.error ?? ""))), "No deliveries yet.");
  if (focus) byId("alert-detail-title").focus({ preventScroll: true });
}
