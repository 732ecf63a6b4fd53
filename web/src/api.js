// The management API, called relative to the page (/api/dashboard -> /api/...). A `?code=KEY` on the
// page's URL is sent as the x-functions-key header; without one the browser's sign-in cookies apply.

const key = new URLSearchParams(window.location.search).get("code");

export const hasKey = () => Boolean(key);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers["x-functions-key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(path, window.location.href), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = await parse(response);
  if (!response.ok) throw new ApiError(response.status, explain(response.status, data));
  return data;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function explain(status, data) {
  if (data && typeof data.error === "string") return data.error;
  if (status === 401 || status === 403) return key ? "Not authorised: the key in this address is not valid." : "Not authorised.";
  return `The API answered ${status}.`;
}

export const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
};
