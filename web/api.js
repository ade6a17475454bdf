// The console's only way to the node: the same HTTP API as every other
// client (docs/api.md), authenticated by the session cookie the console
// login set. Every change carries the session's CSRF token.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.code = body && body.error;
    this.field = body && body.field;
  }
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    if (res.status === 401 && onUnauthenticated) onUnauthenticated();
    throw new ApiError(res.status, typeof data === "object" ? data : { message: String(data) });
  }
  return data;
}

let onUnauthenticated = null;
export function whenUnauthenticated(fn) {
  onUnauthenticated = fn;
}

// A query string of the non-empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// A GET the browser saves straight to disk as it streams (a CSV export of
// millions of rows never sits in the page's memory); the cookie goes with
// it and a GET needs no CSRF token.
export function downloadUrl(path, filename) {
  const a = document.createElement("a");
  a.href = path;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}

// A file made by a POST (the trace's pcap), saved by the browser.
export async function download(method, path, body, filename) {
  const headers = {};
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The OpenAPI document: the forms are built from its schemas, so they ask
// for exactly the fields the API takes.
let openapi = null;
export async function schemas() {
  if (!openapi) openapi = await api("GET", "/api/v1/openapi.json");
  return openapi.components.schemas;
}
