// How values read on the page: numbers as their shortest exact text, times in local time.

/** A metric or any value: shortest text that reads back as the same number. */
export function value(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "nan";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    return String(v);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A number rounded for a summary (group rows, changes): 6 significant digits. */
export function short(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return value(v);
  return String(Number(v.toPrecision(6)));
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS". */
export function time(ms) {
  if (ms === null || ms === undefined || ms === "") return "";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds since the epoch (registry events) as local time. */
export const timeSeconds = (s) => (s === null || s === undefined ? "" : time(Number(s) * 1000));

/** A duration in ms: "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(ms) {
  if (ms === null || ms === undefined || ms === "") return "";
  const n = Number(ms);
  if (!Number.isFinite(n)) return String(ms);
  if (n < 1000) return `${Math.round(n)} ms`;
  const s = n / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

/** Bytes as "12 B", "3.4 kB", "5.6 MB". */
export function bytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let unit = "B";
  for (const u of units) {
    if (v < 1000) break;
    v /= 1000;
    unit = u;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
}

/** Thousands separated: 1,000,000. */
export const count = (n) => Number(n).toLocaleString("en-US");

/** The cell text of field `field` holding `v` in the runs table. */
export function cell(field, v) {
  if (field === "start_time" || field === "end_time") return time(v);
  if (field === "duration") return duration(v);
  if (field === "base" && typeof v === "string") return v.slice(0, 10);
  return value(v);
}

/** A word for the shell: bare when safe, else in single quotes. */
export function shellWord(text) {
  if (/^[A-Za-z0-9_.,:/=+@%-]+$/.test(text)) return text;
  return "'" + text.replace(/'/g, "'\\''") + "'";
}
