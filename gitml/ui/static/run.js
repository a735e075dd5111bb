// The run page: everything `gitml show` has, a chart per metric, artifacts with previews,
// the captured output (a live tail while the run runs), environment and code.
// URL: /run/<id>?tab=overview|metrics|artifacts|output|environment|code&x=time&log=1

import { get, seg } from "./api.js";
import { artifactsView } from "./artifacts.js";
import { MetricChart, followTheme, plotly } from "./charts.js";
import { h, note, replace, table } from "./dom.js";
import * as fmt from "./format.js";
import { subscribe } from "./live.js";
import { replaceParams, runHref } from "./state.js";
import { codeDiff, facts } from "./show.js";

const TABS = ["overview", "metrics", "artifacts", "output", "environment", "code"];

export function mount(root, route) {
  const id = route.args[0];
  const params = route.params;
  const tab = TABS.includes(params.tab) ? params.tab : "overview";
  const cleanups = [];
  const body = h("div", { class: "tab-body" });
  const head = h("div", { class: "run-head" }, h("h1", null, id));
  replace(root, h("section", { class: "run-page" }, head, tabs(id, tab, params), body));
  let record = null;

  const load = async () => {
    try {
      record = await get(`/api/runs/${seg(id)}`);
    } catch (error) {
      replace(body, note(`cannot read run ${id}: ${error.message}`, "error"));
      return null;
    }
    replace(head, ...heading(record));
    return record;
  };

  if (tab === "metrics") plotly().catch(() => {}); // loads while the record is read
  load().then((found) => {
    if (!found) return;
    const draw = { overview, metrics, artifacts, output, environment, code }[tab];
    const cleanup = draw(body, found, params);
    if (cleanup) cleanups.push(cleanup);
  });
  // A running run: redraw the heading (status, metrics) as it logs.
  cleanups.push(
    subscribe(`run:${id}`, async () => {
      const found = await load();
      if (found && tab === "overview") replace(body, ...overviewParts(found));
    }),
  );
  return () => cleanups.forEach((fn) => fn());
}

function tabs(id, active, params) {
  const keep = { x: params.x, log: params.log };
  return h(
    "nav",
    { class: "tabs" },
    TABS.map((tab) => h("a", { href: runHref(id, { tab: tab === "overview" ? "" : tab, ...keep }), class: tab === active ? "active" : null, "data-tab": tab }, tab)),
  );
}

function heading(run) {
  return [
    h("h1", null, run.name || run.id),
    h("span", { class: `badge status ${run.status}` }, run.status),
    h("span", { class: "mono dim" }, run.id),
    run.experiment ? h("span", { class: "dim" }, `experiment ${run.experiment}`) : null,
  ];
}

// ---- overview ---------------------------------------------------------------------------------

function overview(body, run) {
  replace(body, ...overviewParts(run));
}

function overviewParts(run) {
  const command = Array.isArray(run.command) ? run.command.map(fmt.shellWord).join(" ") : run.command;
  const base = run.base ? h("span", { class: "mono" }, run.base.slice(0, 12), run.branch ? ` (${run.branch})` : "", run.dirty ? " + uncommitted changes" : "") : "no base commit";
  const parts = [
    run.damage ? h("p", { class: "note error" }, `damaged: ${fmt.value(run.damage)}`) : null,
    facts([
      ["status", h("span", { class: `status ${run.status}` }, run.status)],
      ["exit code", run.exit_code === null ? "" : fmt.value(run.exit_code)],
      ["experiment", run.experiment],
      ["started", fmt.time(run.start_ms)],
      ["ended", fmt.time(run.end_ms)],
      ["duration", fmt.duration(run.duration_ms)],
      ["command", command ? h("code", { class: "pre-wrap" }, command) : ""],
      ["folder", run.cwd],
      ["entry point", run.entry_point],
      ["base", base],
      ["commit", run.commit ? h("span", { class: "mono" }, run.commit) : ""],
      ["user", run.user],
      ["host", run.host],
      ["python", run.python],
      ["platform", run.platform],
      ["environment", [run.env_manager, run.env_hash ? `(${run.env_hash.slice(0, 12)})` : ""].filter(Boolean).join(" ")],
      ["reproduces", run.reproduces ? h("a", { href: runHref(run.reproduces) }, run.reproduces) : ""],
      ["note", run.note],
      ["left out", skipped(run.skipped)],
      ["snapshot", run.snapshot_lost ? "lost: the code of this run could not be saved" : ""],
    ]),
  ];
  const params = Object.entries(run.params || {});
  const metrics = Object.entries(run.metrics || {});
  const tags = Object.entries(run.tags || {});
  parts.push(
    h(
      "div",
      { class: "columns" },
      h("div", null, h("h2", null, `Params (${params.length})`), params.length ? table(["param", "value"], params.map(([k, v]) => [k, fmt.value(v)]), { "data-section": "params" }) : note("none")),
      h(
        "div",
        null,
        h("h2", null, `Metrics (${metrics.length})`),
        metrics.length
          ? table(
              ["metric", "last", "min", "max", "points", "last step"],
              metrics.map(([k, m]) => [h("a", { href: runHref(run.id, { tab: "metrics" }) }, k), fmt.value(m.last), fmt.value(m.min), fmt.value(m.max), fmt.value(m.count), fmt.value(m.last_step)]),
              { "data-section": "metrics" },
            )
          : note("none"),
      ),
      h("div", null, h("h2", null, `Tags (${tags.length})`), tags.length ? table(["tag", "value"], tags.map(([k, v]) => [k, fmt.value(v)]), { "data-section": "tags" }) : note("none")),
    ),
  );
  const artifacts = run.artifacts || [];
  if (artifacts.length) {
    parts.push(h("h2", null, `Artifacts (${artifacts.length})`), table(["path", "size"], artifacts.slice(0, 50).map((a) => [a.path, fmt.bytes(a.size)])));
  }
  return parts;
}

function skipped(value) {
  if (!value) return "";
  const large = value.large || [];
  const secret = value.secret || [];
  const words = [];
  if (large.length) words.push(`${large.length} large file(s): ${large.join(", ")}`);
  if (secret.length) words.push(`${secret.length} file(s) named like secrets: ${secret.join(", ")}`);
  return words.join("; ");
}

// ---- metrics ----------------------------------------------------------------------------------

function metrics(body, run, params) {
  const keys = Object.keys(run.metrics || {}).sort();
  if (!keys.length) {
    replace(body, note("this run logged no metric"));
    return null;
  }
  let x = params.x === "time" ? "time" : "step";
  let log = params.log === "1";
  const charts = [];
  const xSelect = h("select", { "aria-label": "x axis" }, h("option", { value: "step", selected: x === "step" }, "step"), h("option", { value: "time", selected: x === "time" }, "wall time"));
  const logBox = h("input", { type: "checkbox", checked: log, "aria-label": "log scale" });
  const update = () => {
    x = xSelect.value;
    log = logBox.checked;
    replaceParams(`/run/${encodeURIComponent(run.id)}`, { tab: "metrics", x: x === "time" ? "time" : "", log: log ? "1" : "" });
    for (const chart of charts) chart.setOptions({ x, log });
  };
  xSelect.addEventListener("change", update);
  logBox.addEventListener("change", update);
  const grid = h("div", { class: "charts" });
  replace(
    body,
    h("div", { class: "controls" }, h("label", null, "x axis ", xSelect), h("label", null, logBox, "log scale"), h("span", { class: "dim" }, "drag to zoom (exact points are fetched), double-click to reset")),
    grid,
  );
  for (const key of keys) {
    const label = h("span", { class: "points-label" });
    const plot = h("div", { class: "chart", "data-metric": key });
    grid.appendChild(h("div", { class: "chart-card", "data-card": key }, h("div", { class: "chart-title" }, h("span", null, key), label), plot));
    const chart = new MetricChart(plot, run.id, key, {
      x,
      log,
      onLabel: (text, bad) => {
        label.textContent = text;
        label.classList.toggle("error-text", bad);
      },
    });
    charts.push(chart);
  }
  // Draw the charts one after another (each is a request and a Plotly draw).
  (async () => {
    for (const chart of charts) await chart.draw();
  })();
  const stopTheme = followTheme(grid);
  // A running run logs: its charts follow (those not zoomed into), at most every 2 s.
  let timer = null;
  const stopLive = subscribe(`run:${run.id}`, () => {
    timer ||= setTimeout(() => {
      timer = null;
      for (const chart of charts) if (!chart.zoomed) chart.draw();
    }, 2000);
  });
  return () => {
    stopTheme();
    stopLive();
    clearTimeout(timer);
    charts.forEach((c) => c.destroy());
  };
}

// ---- artifacts --------------------------------------------------------------------------------

function artifacts(body, run) {
  return artifactsView(body, run);
}

// ---- output -----------------------------------------------------------------------------------

function output(body, run) {
  const text = h("pre", { class: "text wrap output" });
  const status = h("p", { class: "note" }, "reading…");
  replace(body, status, text);
  let offset = 0;
  let stopped = false;
  let timer = null;
  const read = async () => {
    let answer;
    try {
      answer = await get(`/api/runs/${seg(run.id)}/output`, { offset });
    } catch (error) {
      status.textContent = `cannot read the output: ${error.message}`;
      return;
    }
    if (stopped) return;
    const atBottom = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
    if (answer.reset) text.replaceChildren(); // the output was cut to its tail: read it again
    if (answer.text) text.appendChild(document.createTextNode(answer.text));
    offset = answer.offset;
    if (atBottom) text.scrollTop = text.scrollHeight;
    const running = answer.running;
    status.textContent = running ? "live: the run is still running" : `${fmt.bytes(answer.size)} of output`;
    if (!text.textContent) status.textContent = running ? "live: no output yet" : "this run printed nothing";
    if (running) timer = setTimeout(read, 1000);
  };
  read();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- environment ------------------------------------------------------------------------------

async function environment(body, run) {
  replace(body, note("reading…"));
  try {
    const env = await get(`/api/runs/${seg(run.id)}/environment`);
    replace(body, ...environmentParts(env));
  } catch (error) {
    replace(body, note(`cannot read the environment: ${error.message}`, "error"));
  }
}

const FREEZE = "pip-freeze.txt";

function environmentParts(env) {
  const parts = [
    facts([
      ["python", env.python],
      ["platform", env.platform],
      ["manager", env.env_manager],
      ["environment hash", env.env_hash],
    ]),
  ];
  const vars = Object.entries(env.env_vars || {});
  if (vars.length) parts.push(h("h2", null, "Environment variables"), table(["name", "value"], vars.map(([k, v]) => [k, fmt.value(v)])));
  for (const [name, text] of Object.entries(env.files || {})) {
    if (name === FREEZE) continue; // shown as the packages table
    parts.push(h("h2", null, name), text ? h("pre", { class: "text" }, text) : note("empty"));
  }
  const packages = Object.entries(env.packages || {});
  parts.push(h("h2", null, `Packages (${packages.length})`));
  if (packages.length) {
    const find = h("input", { type: "search", placeholder: "find a package", "aria-label": "find a package" });
    const grid = table(["package", "version"], packages.map(([k, v]) => [k, v]), { "data-section": "packages" });
    find.addEventListener("input", () => {
      const needle = find.value.toLowerCase();
      for (const row of grid.tBodies[0].rows) row.hidden = needle && !row.cells[0].textContent.toLowerCase().includes(needle);
    });
    parts.push(find, grid);
  } else parts.push(note(env.files?.[FREEZE] === undefined ? "no package list was recorded" : "none"));
  return parts;
}

// ---- code -------------------------------------------------------------------------------------

async function code(body, run) {
  replace(body, note("reading…"));
  try {
    const answer = await get(`/api/runs/${seg(run.id)}/code`);
    const against = run.base ? `against its base ${run.base.slice(0, 12)}` : "(no base commit)";
    replace(body, h("p", { class: "dim" }, `The run's code ${against}: uncommitted edits and untracked files it saw.`), codeDiff(answer));
  } catch (error) {
    replace(body, note(`cannot read the code: ${error.message}`, "error"));
  }
}
