// Charts with Plotly (the plotly.min.js of the installed plotly package, served at
// /vendor/plotly.min.js and loaded only by pages that draw): a metric chart that asks the
// server for a downsampled history and for the exact points of the range zoomed into.

import { get, pathSegs, seg } from "./api.js";
import * as fmt from "./format.js";
import { cssVar } from "./theme.js";

let loading = null;

/** Plotly, loaded once. */
export function plotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  loading ||= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/plotly.min.js";
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => {
      loading = null;
      reject(new Error("cannot load /vendor/plotly.min.js (is the plotly package installed?)"));
    };
    document.head.appendChild(script);
  });
  return loading;
}

/**
 * Text for Plotly (trace names, tick labels, titles, hover text, annotations): Plotly reads
 * a few HTML tags in them (<a href>, <b>, <br>…) and decodes entities, so run data goes in
 * with &, < and > as entities and shows exactly as written.
 */
export function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Colours and fonts of the current theme, over `extra`. */
export function layout(extra) {
  const fg = cssVar("--fg");
  const grid = cssVar("--border");
  const axis = { gridcolor: grid, zerolinecolor: grid, linecolor: grid, automargin: true };
  return Object.assign(
    {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: fg, size: 12 },
      margin: { l: 50, r: 12, t: 10, b: 36 },
      xaxis: Object.assign({}, axis),
      yaxis: Object.assign({}, axis),
      legend: { orientation: "h", y: -0.2 },
      hovermode: "closest",
    },
    extra || {},
  );
}

export const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

/** Redraw every chart in `root` in the theme's colours when the theme changes. */
export function followTheme(root) {
  const redraw = () => {
    const fg = cssVar("--fg");
    const grid = cssVar("--border");
    for (const el of root.querySelectorAll(".js-plotly-plot")) {
      const update = { "font.color": fg };
      for (const axis of ["xaxis", "yaxis"]) {
        for (const part of ["gridcolor", "zerolinecolor", "linecolor"]) update[`${axis}.${part}`] = grid;
      }
      (el.layout?.annotations || []).forEach((_, k) => (update[`annotations[${k}].font.color`] = fg));
      window.Plotly?.relayout(el, update);
    }
  };
  window.addEventListener("gitml-theme", redraw);
  return () => window.removeEventListener("gitml-theme", redraw);
}

/** Milliseconds as the local "YYYY-MM-DD HH:MM:SS.mmm" that Plotly reads as a date. */
export function localDate(ms) {
  const d = new Date(ms);
  return `${fmt.time(ms)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** A date-axis value (our local text, or a number) back to milliseconds. */
export function parseDate(value) {
  if (typeof value === "number") return value;
  return new Date(String(value).replace(" ", "T")).getTime();
}

/** GET a metric's history, downsampled to about `points` (exact within [start, end]). */
export function fetchMetric(runId, key, { points = 1000, x = "step", start = null, end = null, signal } = {}) {
  return get(`/api/runs/${seg(runId)}/metrics/${pathSegs(key)}`, { points, x, start, end }, signal);
}

/** "2,000 of 1,000,000 points" (zoomed: of those in view, and of all). */
export function pointsLabel(answer, zoomed) {
  const all = answer.count ?? answer.total;
  if (!zoomed || answer.total === all) return `${fmt.count(answer.returned)} of ${fmt.count(all)} points`;
  return `${fmt.count(answer.returned)} of ${fmt.count(answer.total)} points in view (${fmt.count(all)} in all)`;
}

/**
 * One metric of one run: draws the downsampled history, and on zoom fetches the exact
 * points of the zoomed range (a double click goes back to the whole history).
 */
export class MetricChart {
  constructor(el, runId, key, options) {
    this.el = el;
    this.runId = runId;
    this.key = key;
    this.x = options.x || "step";
    this.log = !!options.log;
    this.onLabel = options.onLabel || (() => {});
    this.request = null;
    this.ignoreRelayout = false;
  }

  async draw(start = null, end = null) {
    const Plotly = await plotly();
    this.request?.abort();
    const controller = new AbortController();
    this.request = controller;
    const width = Math.max(300, this.el.clientWidth || 600);
    let answer;
    try {
      answer = await fetchMetric(this.runId, this.key, { points: Math.round(width * 2), x: this.x, start, end, signal: controller.signal });
    } catch (error) {
      if (error.name !== "AbortError") this.onLabel(`cannot read: ${error.message}`, true);
      return;
    }
    if (controller.signal.aborted) return;
    const xs = this.x === "time" ? answer.time.map(localDate) : answer.step;
    const ys = answer.value.map(toNumber);
    const trace = {
      x: xs,
      y: ys,
      type: "scatter",
      mode: answer.returned > 200 ? "lines" : "lines+markers",
      line: { width: 1.5, color: cssVar("--accent") },
      marker: { size: 4 },
      name: esc(this.key),
      hovertemplate: "%{x}: %{y}<extra></extra>",
    };
    const zoomed = start !== null || end !== null;
    const xaxis = {
      title: { text: this.x === "time" ? "wall time" : "step" },
      type: this.x === "time" ? "date" : "linear",
      autorange: !zoomed,
    };
    if (zoomed) xaxis.range = this.x === "time" ? [localDate(start), localDate(end)] : [start, end];
    const yaxis = { type: this.log ? "log" : "linear", autorange: true };
    this.ignoreRelayout = true;
    await Plotly.react(this.el, [trace], layout({ xaxis: { ...layout().xaxis, ...xaxis }, yaxis: { ...layout().yaxis, ...yaxis } }), CONFIG);
    this.ignoreRelayout = false;
    this.answer = answer;
    this.zoomed = zoomed;
    this.el.dataset.returned = answer.returned;
    this.el.dataset.total = answer.total;
    this.onLabel(pointsLabel(answer, zoomed), false);
    if (!this.listening) {
      this.listening = true;
      this.el.on("plotly_relayout", (change) => this.onRelayout(change));
    }
  }

  onRelayout(change) {
    if (this.ignoreRelayout) return;
    if (change["xaxis.autorange"]) {
      this.draw();
      return;
    }
    const a = change["xaxis.range[0]"] ?? change["xaxis.range"]?.[0];
    const b = change["xaxis.range[1]"] ?? change["xaxis.range"]?.[1];
    if (a === undefined || b === undefined) return;
    if (this.x === "time") this.draw(Math.floor(parseDate(a)), Math.ceil(parseDate(b)));
    else this.draw(Math.floor(Number(a)), Math.ceil(Number(b)));
  }

  setOptions({ x, log }) {
    const xChanged = x !== undefined && x !== this.x;
    if (x !== undefined) this.x = x;
    if (log !== undefined) this.log = log;
    if (xChanged || !this.answer) this.draw();
    else window.Plotly?.relayout(this.el, { "yaxis.type": this.log ? "log" : "linear", "yaxis.autorange": true });
  }

  destroy() {
    this.request?.abort();
    window.Plotly?.purge(this.el);
  }
}

/** JSON's "nan" / "inf" / "-inf" as numbers (Plotly leaves NaN out of a line). */
export function toNumber(v) {
  if (typeof v === "number") return v;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  if (v === null || v === undefined) return NaN;
  const n = Number(v);
  return Number.isNaN(n) ? NaN : n;
}
