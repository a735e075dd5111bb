// The compare page: 2–N runs side by side (a diff-only switch), their metric curves
// overlaid (EMA smoothing, log scale, step or relative time), a scatter of any param or
// metric against another, parallel coordinates, and the code diff between two runs.
// URL: /compare?runs=a,b,c&diff=1&metric=loss&smooth=0.6&log=1&x=time&sx=…&sy=…&ca=…&cb=…

import { get, seg } from "./api.js";
import { CONFIG, esc, fetchMetric, followTheme, layout, plotly, toNumber } from "./charts.js";
import { h, note, replace } from "./dom.js";
import * as fmt from "./format.js";
import { go, list, replaceParams, runHref } from "./state.js";
import { codeDiff } from "./show.js";
import { cssVar } from "./theme.js";

const PALETTE = ["#2f6fdb", "#e4572e", "#17a673", "#9b59b6", "#f0a202", "#00a6c8", "#d6336c", "#6c757d", "#8d6e63", "#5c940d"];

export function mount(root, route) {
  const state = { ...route.params };
  const ids = list(state.runs);
  if (!ids.length) {
    replace(root, chooser());
    return null;
  }
  const page = new ComparePage(root, ids, state);
  return () => page.destroy();
}

/** No runs named: a box to name them (ids, prefixes or names, comma-separated). */
function chooser() {
  const input = h("input", { class: "filter", placeholder: "run names or ids, comma-separated", "aria-label": "runs to compare" });
  const submit = () => go("/compare", { runs: input.value.split(/[\s,]+/).filter(Boolean).join(",") });
  input.addEventListener("keydown", (e) => e.key === "Enter" && submit());
  return h(
    "section",
    null,
    h("h1", null, "Compare runs"),
    h("p", { class: "dim" }, "Select runs on the ", h("a", { href: "/" }, "runs page"), " and press Compare, or name them here."),
    h("div", { class: "toolbar" }, input, h("button", { class: "primary", onclick: submit }, "Compare")),
  );
}

class ComparePage {
  constructor(root, ids, state) {
    this.root = root;
    this.ids = ids;
    this.state = state;
    this.cleanups = [];
    this.build();
  }

  destroy() {
    this.cleanups.forEach((fn) => fn());
  }

  write() {
    replaceParams("/compare", this.state);
  }

  async build() {
    replace(this.root, note("reading runs…"));
    plotly().catch(() => {}); // loads while the runs are read
    const results = await Promise.allSettled(this.ids.map((id) => get(`/api/runs/${seg(id)}`)));
    const failed = results.map((r, k) => (r.status === "rejected" ? `${this.ids[k]}: ${r.reason.message}` : null)).filter(Boolean);
    this.runs = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
    this.color = new Map(this.runs.map((run, k) => [run.id, PALETTE[k % PALETTE.length]]));
    this.sections = {
      table: h("section", { class: "compare-table" }),
      curves: h("section"),
      scatter: h("section"),
      parallel: h("section"),
      code: h("section"),
    };
    replace(
      this.root,
      h("h1", null, `Compare ${this.runs.length} runs`),
      failed.length ? note(`cannot read ${failed.join("; ")}`, "error") : null,
      h("h2", null, "Side by side"),
      this.sections.table,
      h("h2", null, "Metric curves"),
      this.sections.curves,
      h("h2", null, "Scatter"),
      this.sections.scatter,
      h("h2", null, "Parallel coordinates"),
      this.sections.parallel,
      h("h2", null, "Code"),
      this.sections.code,
    );
    if (this.runs.length < 1) return;
    this.cleanups.push(followTheme(this.root));
    this.sideBySide();
    this.curves();
    this.codeDiff();
    this.loadTable().then(() => {
      this.scatter();
      this.parallel();
    });
  }

  // ---- side by side ---------------------------------------------------------------------------

  async sideBySide() {
    let diff = null;
    if (this.runs.length === 2) {
      try {
        diff = await get("/api/diff", { a: this.runs[0].id, b: this.runs[1].id });
      } catch {
        diff = null;
      }
    }
    const changes = new Map((diff?.metrics || []).map((m) => [m.key, m]));
    const rows = [];
    const add = (group, key, values, changeCell) => rows.push({ group, key, values, changeCell });
    add("attributes", "status", this.runs.map((r) => r.status));
    add("attributes", "experiment", this.runs.map((r) => r.experiment));
    add("attributes", "started", this.runs.map((r) => fmt.time(r.start_ms)));
    add("attributes", "duration", this.runs.map((r) => fmt.duration(r.duration_ms)));
    add("attributes", "base", this.runs.map((r) => (r.base || "").slice(0, 12)));
    add("attributes", "user", this.runs.map((r) => r.user));
    for (const kind of ["params", "metrics", "tags"]) {
      const keys = [...new Set(this.runs.flatMap((r) => Object.keys(r[kind] || {})))].sort();
      for (const key of keys) {
        const values = this.runs.map((r) => {
          const v = r[kind]?.[key];
          return kind === "metrics" ? (v ? v.last : undefined) : v;
        });
        add(kind, key, values.map((v) => (v === undefined ? undefined : fmt.value(v))), kind === "metrics" ? changeOf(changes.get(key)) : null);
      }
    }
    const diffOnly = h("input", { type: "checkbox", checked: this.state.diff === "1", "aria-label": "only differences" });
    const grid = h("table", { class: "grid side-by-side" });
    const draw = () => {
      const only = diffOnly.checked;
      const head = h(
        "tr",
        null,
        h("th", null, ""),
        h("th", null, "key"),
        this.runs.map((r) => h("th", null, h("span", { class: "swatch", style: { background: this.color.get(r.id) } }), " ", h("a", { href: runHref(r.id) }, r.name || r.id))),
        diff ? h("th", null, "change") : null,
      );
      const body = [];
      let shown = 0;
      for (const row of rows) {
        const differs = new Set(row.values.map((v) => (v === undefined ? "\u0000missing" : v))).size > 1;
        if (only && !differs) continue;
        shown++;
        body.push(
          h(
            "tr",
            { class: differs ? "differs" : null, "data-key": `${row.group}.${row.key}` },
            h("td", { class: "dim" }, row.group),
            h("td", null, row.key),
            row.values.map((v) => h("td", { class: row.group === "metrics" ? "num" : null }, v === undefined ? h("span", { class: "dim" }, "—") : v)),
            diff ? h("td", { class: "num" }, row.changeCell || "") : null,
          ),
        );
      }
      replace(grid, h("thead", null, head), h("tbody", null, body));
      count.textContent = only ? `${shown} of ${rows.length} rows differ` : `${rows.length} rows, ${rows.filter((r) => new Set(r.values).size > 1).length} differ`;
    };
    const count = h("span", { class: "dim" });
    diffOnly.addEventListener("change", () => {
      this.state.diff = diffOnly.checked ? "1" : "";
      this.write();
      draw();
    });
    replace(this.sections.table, h("div", { class: "controls" }, h("label", null, diffOnly, "only what differs"), count), grid);
    draw();
  }

  // ---- metric curves --------------------------------------------------------------------------

  curves() {
    const keys = [...new Set(this.runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
    if (!keys.length) {
      replace(this.sections.curves, note("these runs logged no metric"));
      return;
    }
    const s = this.state;
    if (!keys.includes(s.metric)) s.metric = keys[0];
    const metric = select("metric", keys, s.metric);
    const xAxis = select("x axis", ["step", "time"], s.x === "time" ? "time" : "step", { time: "relative time (s)" });
    const log = h("input", { type: "checkbox", checked: s.log === "1", "aria-label": "log scale" });
    const smooth = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: s.smooth || "0", "aria-label": "smoothing" });
    const smoothLabel = h("span", { class: "mono" }, Number(smooth.value).toFixed(2));
    const label = h("span", { class: "dim" });
    const plot = h("div", { class: "chart big", "data-chart": "curves" });
    replace(
      this.sections.curves,
      h("div", { class: "controls" }, h("label", null, "metric ", metric), h("label", null, "x ", xAxis), h("label", null, log, "log scale"), h("label", null, "smoothing (EMA) ", smooth, smoothLabel), label),
      plot,
    );
    let data = null;
    const fetchAll = async () => {
      label.textContent = "reading…";
      const x = xAxis.value;
      const answers = await Promise.allSettled(this.runs.map((r) => (r.metrics?.[metric.value] ? fetchMetric(r.id, metric.value, { points: 1500, x }) : Promise.reject(new Error("none")))));
      data = answers.map((a, k) => ({ run: this.runs[k], answer: a.status === "fulfilled" ? a.value : null }));
      const returned = data.reduce((n, d) => n + (d.answer?.returned || 0), 0);
      const total = data.reduce((n, d) => n + (d.answer?.count ?? d.answer?.total ?? 0), 0);
      label.textContent = `${fmt.count(returned)} of ${fmt.count(total)} points`;
      draw();
    };
    const draw = async () => {
      if (!data) return;
      const Plotly = await plotly();
      const alpha = Number(smooth.value);
      const traces = [];
      for (const { run, answer } of data) {
        if (!answer) continue;
        const ys = answer.value.map(toNumber);
        let xs = answer.step;
        if (xAxis.value === "time") {
          const t0 = answer.time.length ? answer.time[0] : 0;
          xs = answer.time.map((t) => (t - t0) / 1000);
        }
        const color = this.color.get(run.id);
        const name = esc(run.name || run.id);
        if (alpha > 0) {
          traces.push({ x: xs, y: ys, type: "scatter", mode: "lines", line: { color, width: 1 }, opacity: 0.25, showlegend: false, hoverinfo: "skip", name });
          traces.push({ x: xs, y: ema(ys, alpha), type: "scatter", mode: "lines", line: { color, width: 2 }, name });
        } else {
          traces.push({ x: xs, y: ys, type: "scatter", mode: ys.length > 200 ? "lines" : "lines+markers", marker: { size: 4 }, line: { color, width: 1.5 }, name });
        }
      }
      const base = layout();
      await Plotly.react(
        plot,
        traces,
        layout({
          xaxis: { ...base.xaxis, title: { text: xAxis.value === "time" ? "seconds since the first point" : "step" } },
          yaxis: { ...base.yaxis, type: log.checked ? "log" : "linear", title: { text: esc(metric.value) } },
          margin: { l: 60, r: 12, t: 10, b: 60 },
        }),
        CONFIG,
      );
    };
    const changed = (refetch) => () => {
      s.metric = metric.value;
      s.x = xAxis.value === "time" ? "time" : "";
      s.log = log.checked ? "1" : "";
      s.smooth = Number(smooth.value) > 0 ? smooth.value : "";
      smoothLabel.textContent = Number(smooth.value).toFixed(2);
      this.write();
      if (refetch) fetchAll();
      else draw();
    };
    metric.addEventListener("change", changed(true));
    xAxis.addEventListener("change", changed(true));
    log.addEventListener("change", changed(false));
    smooth.addEventListener("input", changed(false));
    fetchAll();
  }

  // ---- scatter and parallel coordinates (from the runs table) ---------------------------------

  async loadTable() {
    try {
      const all = await get("/api/runs");
      const wanted = new Set(this.runs.map((r) => r.id));
      const rows = all.columns.id.map((id, i) => (wanted.has(id) ? i : -1)).filter((i) => i >= 0);
      this.column = (field) => rows.map((i) => all.columns[field][i]);
      // The params and metrics these runs have, those whose values differ first.
      const present = all.fields.filter((f) => (f.startsWith("params.") || f.startsWith("metrics.")) && this.column(f).some((v) => v !== null && v !== undefined));
      const differs = (f) => new Set(this.column(f).map(String)).size > 1;
      this.fields = [...present.filter(differs), ...present.filter((f) => !differs(f))];
      this.rowIds = rows.map((i) => all.columns.id[i]);
      this.rowNames = rows.map((i) => all.columns.name[i] || all.columns.id[i]);
    } catch (error) {
      this.fields = [];
      this.tableError = error.message;
    }
  }

  scatter() {
    if (!this.fields.length) {
      replace(this.sections.scatter, note(this.tableError ? `cannot read runs: ${this.tableError}` : "no param or metric to plot"));
      return;
    }
    const s = this.state;
    const params = this.fields.filter((f) => f.startsWith("params."));
    const metrics = this.fields.filter((f) => f.startsWith("metrics."));
    if (!this.fields.includes(s.sx)) s.sx = params[0] || this.fields[0];
    if (!this.fields.includes(s.sy)) s.sy = metrics[0] || this.fields[this.fields.length - 1];
    const sx = select("scatter x", this.fields, s.sx);
    const sy = select("scatter y", this.fields, s.sy);
    const plot = h("div", { class: "chart", "data-chart": "scatter" });
    replace(this.sections.scatter, h("div", { class: "controls" }, h("label", null, "x ", sx), h("label", null, "y ", sy)), plot);
    const draw = async () => {
      s.sx = sx.value;
      s.sy = sy.value;
      this.write();
      const Plotly = await plotly();
      const xs = axisValues(this.column(sx.value));
      const ys = axisValues(this.column(sy.value));
      const base = layout();
      await Plotly.react(
        plot,
        [
          {
            x: xs.categorical ? xs.values.map(esc) : xs.values,
            y: ys.categorical ? ys.values.map(esc) : ys.values,
            text: this.rowNames.map(esc),
            type: "scatter",
            mode: "markers+text",
            textposition: "top center",
            marker: { size: 10, color: this.rowIds.map((id) => this.color.get(id)) },
            hovertemplate: "%{text}<br>%{x}, %{y}<extra></extra>",
          },
        ],
        layout({
          xaxis: { ...base.xaxis, title: { text: esc(sx.value) }, type: xs.categorical ? "category" : "linear" },
          yaxis: { ...base.yaxis, title: { text: esc(sy.value) }, type: ys.categorical ? "category" : "linear" },
          showlegend: false,
        }),
        CONFIG,
      );
    };
    sx.addEventListener("change", draw);
    sy.addEventListener("change", draw);
    draw();
  }

  /**
   * Parallel coordinates as Plotly lines (SVG): one vertical axis per param or metric, each
   * scaled to its own range, one line per run. Plotly's `parcoords` trace needs WebGL
   * shaders that regl compiles with eval, which the pages' Content-Security-Policy refuses.
   */
  async parallel() {
    if (!this.fields?.length) {
      replace(this.sections.parallel, note("no param or metric to draw"));
      return;
    }
    // The fields whose values differ between the runs (all of them when none differs), at most 12.
    const paramsFirst = (a, b) => (a.startsWith("metrics.") - b.startsWith("metrics.")) || a.localeCompare(b);
    const varying = this.fields.filter((f) => new Set(this.column(f).map(String)).size > 1).sort(paramsFirst);
    const fields = (varying.length ? varying : this.fields).slice(0, 12);
    const plot = h("div", { class: "chart big", "data-chart": "parallel" });
    replace(this.sections.parallel, fields.length < 2 ? note("fewer than two params or metrics to draw") : plot);
    if (fields.length < 2) return;
    const Plotly = await plotly();
    const axes = fields.map((field) => scaled(this.column(field)));
    const traces = this.rowIds.map((id, k) => ({
      x: fields.map(esc),
      y: axes.map((axis) => axis.positions[k]),
      text: axes.map((axis) => esc(axis.labels[k])),
      type: "scatter",
      mode: "lines+markers",
      line: { color: this.color.get(id), width: 2 },
      marker: { size: 7 },
      name: esc(this.rowNames[k]),
      connectgaps: false,
      hovertemplate: "%{x}: %{text}<extra>%{fullData.name}</extra>",
    }));
    const fg = cssVar("--fg");
    const annotations = fields.flatMap((field, k) => [
      { x: esc(field), y: 1.04, text: esc(axes[k].top), showarrow: false, font: { size: 11, color: fg }, yanchor: "bottom" },
      { x: esc(field), y: -0.04, text: esc(axes[k].bottom), showarrow: false, font: { size: 11, color: fg }, yanchor: "top" },
    ]);
    const base = layout();
    await Plotly.react(
      plot,
      traces,
      layout({
        xaxis: { ...base.xaxis, type: "category", showgrid: true, gridwidth: 2, tickangle: 0, side: "top" },
        yaxis: { ...base.yaxis, range: [-0.12, 1.12], showticklabels: false, showgrid: false, zeroline: false },
        annotations,
        margin: { l: 20, r: 20, t: 40, b: 60 },
      }),
      CONFIG,
    );
  }

  // ---- code -----------------------------------------------------------------------------------

  codeDiff() {
    if (this.runs.length < 2) {
      replace(this.sections.code, note("two runs are needed for a code diff"));
      return;
    }
    const s = this.state;
    const names = this.runs.map((r) => r.id);
    const labels = Object.fromEntries(this.runs.map((r) => [r.id, r.name || r.id]));
    const pick = (k) => this.runs.find((r) => r.id.startsWith(k || "\u0000"))?.id;
    const a = select("code from", names, pick(s.ca) || names[0], labels);
    const b = select("code to", names, pick(s.cb) || names[1], labels);
    const out = h("div");
    replace(this.sections.code, h("div", { class: "controls" }, h("label", null, "from ", a), h("label", null, "to ", b)), out);
    let latest = 0; // answers can arrive out of order: only the last choice's is drawn
    const draw = async () => {
      const asked = ++latest;
      s.ca = a.value === names[0] ? "" : a.value.slice(0, 12);
      s.cb = b.value === names[1] ? "" : b.value.slice(0, 12);
      this.write();
      if (a.value === b.value) {
        replace(out, note("the same run on both sides"));
        return;
      }
      replace(out, note("reading…"));
      try {
        const answer = await get("/api/diff/code", { a: a.value, b: b.value });
        if (asked !== latest) return;
        replace(out, h("p", { class: "dim" }, `git diff ${answer.a?.commit?.slice(0, 10) ?? ""} ${answer.b?.commit?.slice(0, 10) ?? ""} (the runs' code, .gitml/ left out)`), codeDiff(answer));
      } catch (error) {
        if (asked === latest) replace(out, note(`cannot diff: ${error.message}`, "error"));
      }
    };
    a.addEventListener("change", draw);
    b.addEventListener("change", draw);
    draw();
  }
}

/** A <select> of values, the chosen one selected; labels[value] shown when given. */
function select(name, values, chosen, labels) {
  return h("select", { "aria-label": name }, values.map((v) => h("option", { value: v, selected: v === chosen }, labels?.[v] ?? v)));
}

/** A column for an axis: numbers when every present value reads as one, else categories. */
function axisValues(values) {
  const present = values.filter((v) => v !== null && v !== undefined && v !== "");
  const numeric = present.every((v) => typeof v === "number" || (typeof v === "string" && v.trim() !== "" && !Number.isNaN(toNumber(v))));
  if (numeric) return { categorical: false, values: values.map((v) => (v === null || v === undefined || v === "" ? null : toNumber(v))) };
  return { categorical: true, values: values.map((v) => (v === null || v === undefined ? "" : String(v))) };
}

/** An axis of parallel coordinates: each value's height in [0, 1] and its label; top and bottom labels. */
function scaled(values) {
  const axis = axisValues(values);
  const labels = values.map((v) => (v === null || v === undefined ? "—" : fmt.value(v)));
  if (axis.categorical) {
    const names = [...new Set(axis.values.filter((v) => v !== ""))].sort();
    const at = (v) => (names.length < 2 ? 0.5 : names.indexOf(v) / (names.length - 1));
    return { positions: axis.values.map((v) => (v === "" ? null : at(v))), labels, top: names[names.length - 1] ?? "", bottom: names.length > 1 ? names[0] : "" };
  }
  const finite = axis.values.filter((v) => Number.isFinite(v));
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  const at = (v) => (!Number.isFinite(v) ? null : high === low ? 0.5 : (v - low) / (high - low));
  return { positions: axis.values.map(at), labels, top: finite.length ? fmt.short(high) : "", bottom: finite.length && high !== low ? fmt.short(low) : "" };
}

/** Exponential moving average, debiased at the start (as TensorBoard's smoothing). */
export function ema(values, alpha) {
  const out = new Array(values.length);
  let last = 0;
  let weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * alpha + (1 - alpha) * v;
    weight = weight * alpha + (1 - alpha);
    out[i] = last / weight;
  }
  return out;
}

/** The change column of a metric row in `gitml diff`'s terms: delta, relative, better side. */
function changeOf(m) {
  if (!m || m.delta === null || m.delta === undefined) return null;
  const relative = m.relative === null || m.relative === undefined ? "" : ` (${m.relative > 0 ? "+" : ""}${fmt.short(m.relative * 100)}%)`;
  const text = `${m.delta > 0 ? "+" : ""}${fmt.short(toNumber(m.delta))}${relative}`;
  const cls = m.better === "b" ? "better" : m.better === "a" ? "worse" : null;
  return h("span", { class: cls, title: m.goal ? `goal: ${m.goal}` : "" }, text);
}
