// The registry board: every model, its versions and the version each stage holds; the
// full history (who, when, message); what each stage held at a date; and register,
// promote, unassign — the same tags `gitml model` writes, sent with the launch's token.
// URL: /models?model=<name>&date=YYYY-MM-DD

import { get, post, seg } from "./api.js";
import { h, note, replace, table } from "./dom.js";
import * as fmt from "./format.js";
import { subscribe } from "./live.js";
import { replaceParams, runHref } from "./state.js";

export function mount(root, route) {
  const state = { ...route.params };
  // kept when the board redraws (after each write, on each `models` event): the models
  // whose history is shown, and what was typed in a card's inputs
  const open = new Set();
  const drafts = new Map();
  const board = h("div", { class: "models" });
  const message = h("p", { class: "message", role: "status" });
  replace(root, h("h1", null, "Models"), registerForm(message, () => load()), message, board);
  const load = async () => {
    let answer;
    try {
      answer = await get("/api/models");
    } catch (error) {
      replace(board, note(`cannot read the registry: ${error.message}`, "error"));
      return;
    }
    const models = answer.models || [];
    if (!models.length) {
      replace(board, note("no model is registered yet: register a run's artifact above, or `gitml model register NAME RUN`"));
      return;
    }
    const stages = [...new Set(["staging", "production", ...models.flatMap((m) => Object.keys(m.stages || {}))])];
    replace(board, h("datalist", { id: "stage-names" }, stages.map((s) => h("option", { value: s }))), models.map((m) => modelCard(m, { state, open, drafts, message, reload: load })));
  };
  load();
  const stop = subscribe("models", load);
  return stop;
}

/** Register a run's artifact as the next version of a model (new or existing). */
function registerForm(message, reload) {
  const name = h("input", { placeholder: "model name", "aria-label": "model name", required: true });
  const run = h("input", { placeholder: "run (name or id)", "aria-label": "run" });
  const path = h("input", { placeholder: "artifact path (optional)", "aria-label": "artifact path" });
  const text = h("input", { placeholder: "message (optional)", "aria-label": "register message" });
  const submit = async () => {
    if (!name.value.trim() || !run.value.trim()) {
      say(message, "give a model name and a run", true);
      return;
    }
    const body = { run: run.value.trim(), message: text.value };
    if (path.value.trim()) body.path = path.value.trim();
    await write(message, name.value.trim(), "register", body, reload);
  };
  return h("div", { class: "form register" }, h("b", null, "Register"), name, run, path, text, h("button", { class: "primary", onclick: submit }, "Register"));
}

/** A text input whose value outlives the board's redraws (kept in `drafts` under `key`). */
function draftInput(drafts, key, attrs) {
  const input = h("input", { ...attrs, value: drafts.get(key) ?? attrs.value ?? "" });
  input.addEventListener("input", () => drafts.set(key, input.value));
  return input;
}

function modelCard(model, { state, open, drafts, message, reload }) {
  const name = model.model;
  const versions = model.versions || [];
  const held = {}; // version -> stages it holds
  for (const [stage, list] of Object.entries(model.stages || {})) for (const v of list) (held[v] ||= []).push(stage);
  const stageChips = Object.entries(model.stages || {}).flatMap(([stage, list]) =>
    list.map((version) =>
      h(
        "span",
        { class: "stage", "data-stage": stage, "data-version": version },
        `${stage} `,
        h("b", null, version),
        h("button", { class: "small", title: `take ${stage} away from ${version}`, "aria-label": `unassign ${stage} from ${version}`, onclick: () => write(message, name, "unassign", { version, stage }, reload) }, "×"),
      ),
    ),
  );
  const rows = versions.map((v) => {
    const stage = draftInput(drafts, `${name}\u0000${v.version}`, { placeholder: "stage", list: "stage-names", "aria-label": `stage for ${v.version}`, class: "stage-input" });
    const promote = h(
      "button",
      {
        class: "small",
        onclick: async () => {
          if (!stage.value.trim()) return stage.focus();
          const body = { version: v.version, stage: stage.value.trim() };
          await write(message, name, "promote", body, reload, () => drafts.delete(`${name}\u0000${v.version}`));
        },
      },
      "Promote",
    );
    return h(
      "tr",
      { "data-version": v.version, class: v.deregistered ? "dim" : null },
      h("td", null, v.version, v.deregistered ? " (deregistered)" : ""),
      h("td", { class: "nowrap" }, v.run_id ? h("a", { href: runHref(v.run_id), title: v.run_id }, v.run_id.slice(0, 10)) : h("span", { class: "mono" }, (v.commit || "").slice(0, 10))),
      h("td", null, v.artifact || ""),
      h("td", null, (held[v.version] || []).join(", ")),
      h("td", null, v.deregistered ? null : h("span", { class: "form" }, stage, promote)),
    );
  });
  const history = h("div", { class: "history" });
  const at = h("div", { class: "at" });
  const historyButton = h("button", { class: "small", onclick: () => toggleHistory() }, "History");
  const toggleHistory = () => {
    if (open.has(name)) open.delete(name);
    else open.add(name);
    showHistory(name, open.has(name), history, historyButton);
  };
  const date = draftInput(drafts, `${name}\u0000date`, { type: "date", value: state.model === name ? state.date || "" : "", "aria-label": `date for ${name}` });
  const when = h("button", { class: "small", onclick: () => showAt(name, date.value, at, state) }, "Show");
  const card = h(
    "article",
    { class: "model-card", "data-model": name },
    h("h2", null, h("span", null, name, model.deprecated ? h("span", { class: "dim" }, " (deprecated)") : null), h("span", { class: "dim" }, model.latest ? `latest ${model.latest}` : "")),
    h("div", null, stageChips.length ? stageChips : h("span", { class: "dim" }, "no stage assigned")),
    table(["version", "run", "artifact", "stages", "promote to"], rows),
    h("div", { class: "form" }, historyButton, h("span", { class: "dim" }, "What was where on "), date, when),
    at,
    history,
  );
  if (state.model === name && state.date) showAt(name, state.date, at, state);
  if (open.has(name)) showHistory(name, true, history, historyButton);
  return card;
}

async function showHistory(name, shown, into, button) {
  button.textContent = shown ? "Hide history" : "History";
  if (!shown) {
    replace(into);
    return;
  }
  if (!into.childElementCount) replace(into, note("reading…"));
  try {
    const answer = await get(`/api/models/${seg(name)}/history`);
    const events = [...(answer.events || [])].reverse();
    replace(
      into,
      h("h3", null, `History (${events.length} events, newest first)`),
      table(
        ["when", "event", "version", "stage", "who", "message"],
        events.map((e) => [fmt.timeSeconds(e.time), e.event, e.version || "", e.stage || "", e.author ? `${e.author}` : "", h("span", { class: "pre-wrap" }, e.message || "")]),
        { "data-section": "history" },
      ),
    );
  } catch (error) {
    replace(into, note(`cannot read the history: ${error.message}`, "error"));
  }
}

let atAsked = 0; // answers can arrive out of order: only the last date's is shown

async function showAt(name, date, into, state) {
  const asked = ++atAsked;
  if (!date) {
    replace(into, note("choose a date"));
    return;
  }
  state.model = name;
  state.date = date;
  replaceParams("/models", { model: name, date });
  try {
    const answer = await get(`/api/models/${seg(name)}/at`, { date });
    if (asked !== atAsked) return;
    const stages = Object.entries(answer.stages || {});
    replace(
      into,
      h(
        "p",
        { class: "at-answer" },
        `On ${date} (end of day): `,
        stages.length ? stages.map(([stage, versions], k) => [k ? "; " : "", `${stage} → `, h("b", null, versions.join(", "))]) : "no stage held a version",
        answer.latest ? `; latest version ${answer.latest}` : "; no version registered yet",
      ),
    );
  } catch (error) {
    if (asked === atAsked) replace(into, note(error.message, "error"));
  }
}

/** POST a registry write; on success, `done()` then the board redrawn. */
async function write(message, name, action, body, reload, done = () => {}) {
  say(message, `${action}…`, false);
  try {
    const answer = await post(`/api/models/${seg(name)}/${action}`, body);
    const tags = (answer.events || []).map((e) => e.tag).join(", ");
    say(message, `${action}: ${name} ${tags ? `(${tags})` : ""}`, false);
  } catch (error) {
    say(message, `${action} refused: ${error.message}`, true);
    return;
  }
  done();
  await reload();
}

function say(el, text, bad) {
  el.textContent = text;
  el.classList.toggle("error-text", !!bad);
}
