// Silences: the list with an End button each, and a form to add one.
import { api } from "./api.js";
import { byId, h, replaceRows, when } from "./dom.js";

function scope(silence) {
  const parts = [];
  if (silence.kpi) parts.push(`KPI ${silence.kpi}`);
  if (silence.owner) parts.push(`owner ${silence.owner}`);
  if (silence.key) parts.push(`key ${silence.key}`);
  return parts.join(", ") || "everything";
}

function period(silence) {
  const weekly = silence.weekly;
  if (weekly) return typeof weekly === "string" ? weekly : `every ${weekly.days} ${weekly.between} (${weekly.timezone})`;
  return [when(silence.starts_at), " to ", when(silence.ends_at)];
}

/** `silences` null: the API has no silences routes (404); the form is disabled. */
export function renderSilences(silences, end) {
  byId("silence-form").querySelector("fieldset").disabled = silences === null;
  if (silences === null) {
    replaceRows(byId("silence-table").tBodies[0], [], "Silences are not available from this API.");
    return;
  }
  const rows = silences.map((silence) =>
    h("tr", { dataset: { silence: silence.id } },
      h("th", { scope: "row" }, scope(silence), silence.active ? null : h("span", { class: "hint block" }, "not in force now")),
      h("td", {}, period(silence)),
      h("td", {}, silence.by ?? ""),
      h("td", {}, silence.reason ?? ""),
      h("td", {}, h("button", { type: "button", class: "secondary", dataset: { focus: `end-${silence.id}` },
        onclick: () => end(silence.id) }, "End", h("span", { class: "visually-hidden" }, ` silence ${silence.id}`)))));
  replaceRows(byId("silence-table").tBodies[0], rows, "No silences.");
}

export function silenceKpiOptions(kpis) {
  const select = byId("silence-kpi");
  const names = kpis.map((kpi) => kpi.indicator);
  if (select.dataset.options === names.join("\u0000")) return;
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, "(any)"), ...names.map((name) => h("option", { value: name }, name)));
  select.dataset.options = names.join("\u0000");
  select.value = names.includes(chosen) ? chosen : "";
}

/** The POST /api/silences body from the form (the fields of `mgrid silences add`). */
export function silenceBody(form, by) {
  const data = new FormData(form);
  const body = { for: data.get("for"), reason: String(data.get("reason") ?? "").trim() };
  if (data.get("kpi")) body.kpi = String(data.get("kpi"));
  if (String(data.get("owner") ?? "").trim()) body.owner = String(data.get("owner")).trim();
  if (String(data.get("key") ?? "").trim()) body.key = String(data.get("key")).trim();
  if (by) body.by = by;
  return body;
}

export const addSilence = (body) => api("silences", { method: "POST", body });
export const endSilence = (id, by) => api(`silences/${id}${by ? `?by=${encodeURIComponent(by)}` : ""}`, { method: "DELETE" });
