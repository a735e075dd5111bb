// The view state lives in the URL: /path?key=value&..., written readably (quotes, commas,
// comparison signs stay as they are) so a URL can be read, shared and saved as a view.
// Pages are real paths (/, /run/<id>, /compare, /models) the server answers with the index.

const KEEP = /%(2C|27|28|29|3A|3C|3E|3D|21|2F|40|24|2A|60|5B|5D|7B|7D|7C|3B)/gi;

function encode(text) {
  return encodeURIComponent(text)
    .replace(KEEP, (m) => decodeURIComponent(m))
    .replace(/%20/g, "+");
}

function decode(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

/** {path, params} of the current URL. */
export function current() {
  return { path: location.pathname || "/", params: parseQuery(location.search) };
}

/** "a=1&b=x" (with or without "?") as {a: "1", b: "x"}. */
export function parseQuery(text) {
  const params = {};
  for (const part of text.replace(/^\?/, "").split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    params[decode(eq < 0 ? part : part.slice(0, eq))] = eq < 0 ? "" : decode(part.slice(eq + 1));
  }
  return params;
}

/** The query string of params (empty values left out), without "?". */
export function query(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    parts.push(value === true ? encode(key) + "=1" : `${encode(key)}=${encode(String(value))}`);
  }
  return parts.join("&");
}

/** The URL of a page. */
export function href(path, params) {
  const q = query(params);
  return path + (q ? "?" + q : "");
}

/** Change the URL without reloading the page or adding a history entry per keystroke. */
export function replaceParams(path, params) {
  const next = href(path, params);
  if (next !== location.pathname + location.search) history.replaceState(null, "", next);
}

/** Go to another page (a history entry; the router draws it). */
export function go(path, params) {
  history.pushState(null, "", href(path, params));
  window.dispatchEvent(new Event("gitml-route"));
}

/** A comma-separated list param as an array ("" -> []). */
export const list = (text) => (text ? text.split(",").filter(Boolean) : []);

/** The page of a run. */
export const runHref = (id, params) => href(`/run/${encodeURIComponent(id)}`, params);
