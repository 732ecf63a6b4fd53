// The status page: polls the management API every few seconds and redraws in place (no reload).
import "./style.css";
import { api, hasKey, query } from "./api.js";
import { closeAlert, renderAlerts, shownAlert, showAlert } from "./alerts.js";
import { bindChartControls, choose, renderChart } from "./chart.js";
import { byId, h } from "./dom.js";
import { loadSparklines, renderKpis } from "./kpis.js";
import { addSilence, endSilence, renderSilences, silenceBody, silenceKpiOptions } from "./silences.js";

const REFRESH_MS = 5000;
const ACTOR_KEY = "mgrid.actor";
const state = { kpis: [], timer: null, running: null };

const actor = () => byId("actor").value.trim();

function showError(...content) {
  const box = byId("error");
  box.hidden = content.length === 0;
  box.replaceChildren(...content);
}

const loginUrl = () =>
  `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(window.location.pathname + window.location.search)}`;

/** Whether App Service Authentication runs here and nobody is signed in (its /.auth/me answers 401; a
 * local devhost has no /.auth at all). */
async function signedOut() {
  try {
    return (await fetch("/.auth/me", { credentials: "same-origin", cache: "no-store" })).status === 401;
  } catch {
    return false;
  }
}

/** Without a key, a 401 means "not signed in": behind App Service Authentication go and sign in (it brings
 * the browser back); elsewhere say how to get in. */
async function unauthorised(message) {
  if (await signedOut()) window.location.assign(loginUrl());
  showError(message, " ", h("a", { href: loginUrl() }, "Sign in"),
    " (in Azure), or open this page as /api/dashboard?code=KEY with the app's function key.");
}

async function guarded(work) {
  try {
    await work();
    showError();
  } catch (error) {
    if (error.status === 401 && !hasKey()) await unauthorised(error.message);
    else showError(error.message ?? String(error));
  }
}

function renderHealth(health) {
  const status = health?.status ?? "Unknown";
  const badge = byId("health-badge");
  badge.textContent = `Health: ${status}`;
  badge.dataset.state = status.toLowerCase();
  byId("tile-health").textContent = status;
  byId("health-checks").replaceChildren(
    ...Object.entries(health?.checks ?? {}).map(([name, check]) =>
      h("li", {}, h("span", { class: "badge", "data-state": String(check.status).toLowerCase() }, check.status), ` ${name}`,
        check.detail ? h("span", { class: "hint" }, ` ${typeof check.detail === "string" ? check.detail : JSON.stringify(check.detail)}`) : null)),
  );
}

async function health() {
  // 503 (Unhealthy) still carries the document.
  const response = await fetch(new URL("health", window.location.href), { cache: "no-store" });
  return response.json().catch(() => null);
}

function announce(kpis, alerts) {
  const alerting = kpis.filter((kpi) => kpi.state === "alerting").length;
  const open = alerts.filter((alert) => alert.status === "open").length;
  byId("tile-alerting").textContent = String(alerting);
  byId("tile-open").textContent = String(open);
  // The live region changes (and is read out) only when the counts do; the time is not live.
  const summary = `${kpis.length} KPIs, ${alerting} alerting, ${open} open alerts.`;
  if (byId("status").textContent !== summary) byId("status").textContent = summary;
  byId("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
}

/** One pass at a time; a caller arriving during a pass waits for it, then runs a fresh one. */
async function refresh() {
  while (state.running) await state.running;
  state.running = load().finally(() => {
    state.running = null;
  });
  return state.running;
}

/** Everything the page shows, fetched at once; silences null when the API has none (404). */
async function fetchAll() {
  const [kpis, open, acknowledged, silences, healthDocument] = await Promise.all([
    api("kpis"),
    api(`alerts${query({ status: "open", limit: 200 })}`),
    api(`alerts${query({ status: "acknowledged", limit: 200 })}`),
    api("silences").catch((error) => (error.status === 404 ? null : Promise.reject(error))),
    health(),
  ]);
  return {
    kpis: bySeverity(kpis.items ?? []),
    alerts: [...(open.items ?? []), ...(acknowledged.items ?? [])].sort((a, b) => b.id - a.id),
    silences: silences === null ? null : Array.isArray(silences) ? silences : silences.items ?? [],
    health: healthDocument,
  };
}

async function load() {
  await guarded(async () => {
    const data = await fetchAll();
    state.kpis = data.kpis;
    await loadSparklines(data.kpis);
    renderHealth(data.health);
    renderKpis(data.kpis, select);
    renderAlerts(data.alerts, act, (id) => guarded(() => showAlert(id, { focus: true })));
    renderSilences(data.silences, end);
    silenceKpiOptions(data.kpis);
    const active = data.silences?.filter((silence) => silence.active !== false).length;
    byId("tile-silences").textContent = active === undefined ? "–" : String(active);
    announce(data.kpis, data.alerts);
    await Promise.all([renderChart(data.kpis), shownAlert() ? showAlert(shownAlert()) : null]);
    document.body.dataset.loaded = "true";
  });
}

const SEVERITY = ["failing", "alerting", "no_data", "never_run", "ok", "inactive"];

/** KPIs needing attention first; the API's order (by indicator) within a state. */
function bySeverity(kpis) {
  return [...kpis].sort((a, b) => SEVERITY.indexOf(a.state) - SEVERITY.indexOf(b.state));
}

function select(kpiId) {
  choose(kpiId);
  guarded(() => renderChart(state.kpis));
  byId("chart").scrollIntoView({ block: "start" });
  byId("chart-kpi").focus({ preventScroll: true });
}

async function act(id, action) {
  if (action === "resolve" && !window.confirm(`Resolve alert #${id}? Its contacts are told it is resolved.`)) return;
  await guarded(async () => {
    const body = actor() ? { by: actor() } : {};
    await api(`alerts/${id}/${action}`, { method: "POST", body });
    await refresh();
    await showAlert(id, { focus: true }); // the button pressed may be gone: land on the alert's details
  });
}

async function end(id) {
  await guarded(async () => {
    await endSilence(id, actor());
    await refresh();
  });
}

function bindForms() {
  const input = byId("actor");
  input.value = localStorage.getItem(ACTOR_KEY) ?? "";
  input.addEventListener("change", () => localStorage.setItem(ACTOR_KEY, actor()));
  byId("actor-form").addEventListener("submit", (event) => event.preventDefault());
  byId("alert-detail-close").addEventListener("click", () => {
    closeAlert();
    byId("alerts-title").scrollIntoView();
  });
  byId("silence-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await guarded(async () => {
      await addSilence(silenceBody(event.target, actor()));
      event.target.reset();
      await refresh();
    });
  });
  bindChartControls(() => guarded(() => renderChart(state.kpis)));
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => guarded(() => renderChart(state.kpis)), 200);
  });
}

function loop() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if (!document.hidden) await refresh();
    loop();
  }, REFRESH_MS);
}

/** `?alert=ID` (a notice's "View the alert" link): open that alert's details once the page has loaded. */
async function openLinkedAlert() {
  const linked = Number(new URLSearchParams(window.location.search).get("alert"));
  if (!Number.isInteger(linked) || linked <= 0) return;
  await guarded(async () => {
    await showAlert(linked, { focus: true });
    byId("alert-detail").scrollIntoView({ block: "start" });
  });
}

bindForms();
refresh().then(openLinkedAlert).then(loop);
