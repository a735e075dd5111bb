// Pieces shared by the run and compare pages: a key/value list, a unified diff, any JSON.

import { h, pre, table } from "./dom.js";
import * as fmt from "./format.js";

/** A definition list of [label, value] pairs; empty values left out. */
export function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(h("dt", null, label), h("dd", null, value));
  }
  return dl;
}

/** A unified diff, one coloured line at a time (as text: a diff is data from runs). */
export function diffBlock(patch) {
  if (!patch) return h("p", { class: "note" }, "no change to the code");
  return pre(patch, (line) => {
    if (line.startsWith("diff --git") || line.startsWith("+++ ") || line.startsWith("--- ")) return "file";
    if (line.startsWith("@@")) return "hunk";
    if (line.startsWith("+")) return "add";
    if (line.startsWith("-")) return "del";
    return "";
  });
}

/** The changed files of a code diff: path, status, +added, -removed. */
export function filesTable(files) {
  if (!files || !files.length) return null;
  return table(
    ["file", "status", "+", "−"],
    files.map((f) => [f.path, f.status || "", f.binary ? "binary" : fmt.value(f.added), f.binary ? "" : fmt.value(f.removed)]),
  );
}

/** A code answer ({files, patch} or a patch text) drawn as a file list and a diff. */
export function codeDiff(answer) {
  if (typeof answer === "string") return diffBlock(answer);
  return h("div", null, filesTable(answer.files), diffBlock(answer.patch ?? answer.diff ?? ""));
}

/** Any JSON value drawn readably: text as pre, lists of objects as tables, objects as facts. */
export function anything(value) {
  if (value === null || value === undefined) return h("span", { class: "dim" }, "—");
  if (typeof value === "string") return value.includes("\n") ? pre(value) : h("span", null, value);
  if (typeof value !== "object") return h("span", null, fmt.value(value));
  if (Array.isArray(value)) {
    if (!value.length) return h("span", { class: "dim" }, "none");
    if (value.every((v) => typeof v !== "object" || v === null)) return pre(value.map(fmt.value).join("\n"));
    if (value.every((v) => v && typeof v === "object" && !Array.isArray(v))) {
      const keys = [...new Set(value.flatMap((v) => Object.keys(v)))];
      return table(keys, value.map((v) => keys.map((k) => (typeof v[k] === "object" && v[k] !== null ? JSON.stringify(v[k]) : fmt.value(v[k])))));
    }
    return pre(JSON.stringify(value, null, 2));
  }
  return facts(Object.entries(value).map(([k, v]) => [k, anything(v)]));
}
