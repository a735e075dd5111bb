// The one place the page talks to the server: GET JSON, POST JSON with the per-launch token.

const token = () => document.querySelector('meta[name="gitml-token"]')?.getAttribute("content") || "";

/** An error the server explained: {message, field, position} from {"error": {...}}. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail?.message || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || {};
  }
}

async function answer(response) {
  if (response.ok) return response.json();
  let detail = null;
  try {
    detail = (await response.json()).error;
  } catch {
    detail = { message: `${response.status} ${response.statusText}` };
  }
  throw new ApiError(response.status, detail);
}

/** GET path?params as JSON; params with null/undefined/"" values are left out. */
export async function get(path, params, signal) {
  const response = await fetch(url(path, params), { signal, headers: { Accept: "application/json" } });
  return answer(response);
}

/** GET path as text (artifacts). Returns {text, truncated}. */
export async function getText(path, limit) {
  const response = await fetch(path);
  if (!response.ok) throw new ApiError(response.status, { message: `${response.status} ${response.statusText}` });
  const text = await response.text();
  return limit && text.length > limit ? { text: text.slice(0, limit), truncated: true } : { text, truncated: false };
}

/** POST a JSON body with the token header. */
export async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Gitml-Token": token(), Accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  return answer(response);
}

export function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (Array.isArray(value)) for (const item of value) query.append(key, String(item));
    else if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** A path segment: a run id, a model name, an artifact path (slashes kept). */
export const seg = (text) => encodeURIComponent(text);
export const pathSegs = (text) => text.split("/").map(encodeURIComponent).join("/");
