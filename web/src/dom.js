// Small DOM and formatting helpers: elements from data (text only, never HTML strings).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const byId = (id) => document.getElementById(id);

/** Replace a table body's rows, keeping keyboard focus on the control with the same data-focus id. */
export function replaceRows(tbody, rows, emptyText) {
  const focused = document.activeElement?.dataset?.focus;
  const columns = tbody.closest("table").tHead.rows[0].cells.length;
  tbody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: columns, class: "empty" }, emptyText))]));
  if (focused) tbody.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
}

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function fmt(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return "–";
  return number.format(value);
}

export function band(lower, upper, expected) {
  if (lower == null && upper == null) return expected == null ? "–" : `≈ ${fmt(expected)}`;
  return `${fmt(lower)} – ${fmt(upper)}`;
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const text = sameDay
    ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  return h("time", { datetime: iso, title: date.toLocaleString() }, text);
}

export const badge = (state) => h("span", { class: "badge", "data-state": state }, state.replace("_", " "));
