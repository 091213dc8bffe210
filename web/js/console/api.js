// REST calls from the console: the session cookie authenticates, and every write sends
// the session's CSRF token (from GET /api/v1/auth/me) in X-CSRF-Token.

let csrfToken = null;

/**
 * A REST answer that was not 2xx: its HTTP `status`, and the `code`, `message` and (for a
 * 400 about one input) `field` of its `{"error": {...}}` body; `field` is the JSON path of
 * that input ("actions[1].minutes"), or null when the answer names none.
 */
export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function setCsrf(token) {
  csrfToken = token;
}

export function loginUrl() {
  const next = location.pathname + location.search;
  return `/console/login?next=${encodeURIComponent(next)}`;
}

/** Call the API; resolves to the JSON answer, rejects with ApiError. A 401 goes to login. */
export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken || "";
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: "same-origin" });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    location.assign(loginUrl());
    throw new ApiError(401, "unauthorized", "Your session has ended. Log in again.");
  }
  if (!response.ok) {
    const error = answer.error || {};
    throw new ApiError(response.status, error.code || "error", error.message || `HTTP ${response.status}`, error.field || null);
  }
  return answer;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
