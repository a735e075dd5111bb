// A run's artifacts: a folder tree, and a preview of the file chosen — images as images,
// JSON pretty-printed, CSV as a table, model folders with their flavors and signature,
// any other text as text. Contents are data: they are only ever put in as text.

import { get, getText, pathSegs, seg } from "./api.js";
import { h, note, pre, replace, table } from "./dom.js";
import * as fmt from "./format.js";

const TEXT_LIMIT = 1_000_000;
const CSV_ROWS = 500;

export function artifactsView(body, run) {
  const tree = h("div", { class: "tree", role: "tree" });
  const preview = h("div", { class: "preview" }, note("choose a file"));
  replace(body, h("div", { class: "artifacts" }, tree, preview));
  let active = null;
  const open = (entry, row) => {
    active?.classList.remove("active");
    active = row;
    row.classList.add("active");
    showPreview(preview, run.id, entry);
  };
  (async () => {
    let listing;
    try {
      listing = await get(`/api/runs/${seg(run.id)}/artifacts`);
    } catch (error) {
      replace(tree, note(`cannot list artifacts: ${error.message}`, "error"));
      return;
    }
    if (!listing.files.length) {
      replace(tree, note("this run logged no artifact"));
      replace(preview);
      return;
    }
    const models = new Set(listing.models || []);
    const root = buildTree(listing.files);
    const items = renderTree(root, open, models);
    if (models.has("")) items.unshift(modelRow({ path: "", name: "(the artifacts folder)", files: root.files }, open));
    replace(tree, ...items);
    const first = tree.querySelector(".file > .node");
    first?.click();
  })();
  return null;
}

function buildTree(entries) {
  const root = { name: "", path: "", folders: new Map(), files: [] };
  for (const entry of entries) {
    const parts = entry.path.split("/");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!node.folders.has(part)) {
        node.folders.set(part, { name: part, path: node.path ? `${node.path}/${part}` : part, folders: new Map(), files: [] });
      }
      node = node.folders.get(part);
    }
    node.files.push({ ...entry, name: parts[parts.length - 1] });
  }
  return root;
}

/** The tree's rows: folders first (a model folder opens its model preview), then files. */
function renderTree(node, open, models) {
  const items = [];
  for (const folder of [...node.folders.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const children = h("div", { class: "children" }, ...renderTree(folder, open, models));
    const row = h("div", { class: "node", role: "treeitem", "data-path": folder.path + "/" }, h("span", null, `▾ ${folder.name}/`));
    row.addEventListener("click", () => {
      children.hidden = !children.hidden;
      row.firstChild.textContent = `${children.hidden ? "▸" : "▾"} ${folder.name}/`;
    });
    const model = models.has(folder.path) ? modelRow(folder, open) : null;
    items.push(h("div", { class: "folder" }, row, model ? h("div", { class: "children" }, model) : null, children));
  }
  for (const file of node.files.sort((a, b) => a.name.localeCompare(b.name))) {
    const row = h("div", { class: "node", role: "treeitem", "data-path": file.path }, h("span", null, file.name), h("span", { class: "size" }, fmt.bytes(file.size)));
    row.addEventListener("click", () => open(file, row));
    items.push(h("div", { class: "file" }, row));
  }
  return items;
}

function modelRow(folder, open) {
  const row = h("div", { class: "node model", role: "treeitem", "data-model": folder.path }, h("span", null, "◆ model: signature"), h("span", { class: "size" }, "MLmodel"));
  row.addEventListener("click", () => open({ path: folder.path, model: true, files: folder.files, kind: "model" }, row));
  return h("div", { class: "file" }, row);
}

function fileUrl(runId, path) {
  return `/api/runs/${seg(runId)}/artifacts/${pathSegs(path)}`;
}

const previewsAsked = new WeakMap(); // answers can arrive out of order: only the last file's is shown

async function showPreview(preview, runId, entry) {
  const asked = (previewsAsked.get(preview) || 0) + 1;
  previewsAsked.set(preview, asked);
  const url = fileUrl(runId, entry.path);
  const title = h("h3", null, entry.path, " ", entry.model ? null : h("a", { href: url, download: entry.path.split("/").pop(), class: "dim" }, "download"));
  replace(preview, title, note("reading…"));
  let shown;
  try {
    shown = await previewOf(runId, entry, url);
  } catch (error) {
    shown = note(`cannot show ${entry.path}: ${error.message}`, "error");
  }
  if (previewsAsked.get(preview) === asked) replace(preview, title, shown);
}

/** The preview of one file, by the kind the server gave it. */
async function previewOf(runId, entry, url) {
  if (entry.model) return modelPreview(runId, entry);
  const kind = entry.kind;
  if (kind === "image") return h("img", { src: url, alt: entry.path });
  if (kind === "link") return note("a symbolic link: its target is not followed");
  if (kind === "binary") return note(`binary file (${fmt.bytes(entry.size)}): use download`);
  if (entry.size !== null && entry.size > 20 * TEXT_LIMIT) return note(`${fmt.bytes(entry.size)}: too large to preview; use download`);
  const { text, truncated } = await getText(url, TEXT_LIMIT);
  const more = truncated ? note(`the first ${fmt.bytes(TEXT_LIMIT)} are shown`) : null;
  if (kind === "svg") {
    // Drawn as an image from a blob: in an <img>, an SVG's scripts never run.
    const blob = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    return h("div", null, h("img", { src: blob, alt: entry.path }), h("details", null, h("summary", null, "source"), pre(text)));
  }
  const name = entry.path.toLowerCase();
  if (kind === "json" && !truncated) {
    try {
      return pre(JSON.stringify(JSON.parse(text), null, 2));
    } catch {
      return h("div", null, note("not valid JSON; shown as text"), pre(text));
    }
  }
  if (kind === "csv") {
    const rows = parseDelimited(text, name.endsWith(".tsv") ? "\t" : ",");
    if (rows.length) {
      const [header, ...rest] = rows;
      const shown = rest.slice(0, CSV_ROWS);
      return h(
        "div",
        null,
        h("p", { class: "dim" }, rest.length > CSV_ROWS ? `${header.length} columns; the first ${CSV_ROWS} rows shown` : `${rest.length} row${rest.length === 1 ? "" : "s"} × ${header.length} column${header.length === 1 ? "" : "s"}`),
        h("div", { class: "csv" }, table(header, shown)),
        more,
      );
    }
  }
  if (entry.path.split("/").pop() === "MLmodel") return h("div", null, signatureOf(text), pre(text));
  return h("div", null, pre(text, null), more);
}

async function modelPreview(runId, entry) {
  const { text } = await getText(fileUrl(runId, `${entry.path}/MLmodel`), TEXT_LIMIT);
  return h(
    "div",
    null,
    h("p", null, `Model folder with ${entry.files.length} file(s): `, entry.files.map((f) => f.name).join(", ")),
    flavorsOf(text),
    signatureOf(text),
    h("h3", null, "MLmodel"),
    pre(text),
  );
}

/** The flavors named in an MLmodel file (the keys under `flavors:`). */
function flavorsOf(text) {
  const block = text.match(/^flavors:\n((?:[ \t]+.*\n?)*)/m);
  if (!block) return null;
  const names = [...block[1].matchAll(/^  ([A-Za-z0-9_.-]+):/gm)].map((m) => m[1]);
  return names.length ? h("p", null, "Flavors: ", h("b", null, names.join(", "))) : null;
}

/**
 * The signature of an MLmodel file as tables: its inputs and outputs, written either as
 * MLflow does (a JSON string: `inputs: '[{"name": "a", "type": "double"}]'`) or as a YAML
 * list of `- name: a` / `type: double` items (gitml's).
 */
function signatureOf(text) {
  const parts = [];
  for (const side of ["inputs", "outputs"]) {
    const columns = signatureSide(text, side);
    if (!columns) continue;
    parts.push(
      h("h3", null, `Signature ${side}`),
      table(["name", "type", "shape"], columns.map((c) => [fmt.value(c.name ?? ""), fmt.value(c.type ?? c["tensor-spec"]?.dtype ?? ""), c.shape || c["tensor-spec"]?.shape ? JSON.stringify(c.shape ?? c["tensor-spec"]?.shape) : ""]), { "data-section": `signature-${side}` }),
    );
  }
  return parts.length ? h("div", null, parts) : h("p", { class: "dim" }, "no signature recorded");
}

function signatureSide(text, side) {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line === "signature:");
  if (start < 0) return null;
  for (let i = start + 1; i < lines.length && /^\s/.test(lines[i]); i++) {
    if (lines[i].startsWith(`  ${side}: '`)) {
      // A single-quoted YAML scalar, folded over several lines when long: each line
      // break (and the next line's indent) reads as one space; '' is a quote.
      let quoted = lines[i].slice(side.length + 5);
      for (let j = i + 1; !/(^|[^'])('')*'$/.test(quoted) && j < lines.length; j++) quoted += " " + lines[j].trim();
      try {
        const parsed = JSON.parse(quoted.slice(0, -1).replace(/''/g, "'"));
        return Array.isArray(parsed) ? parsed : null;
      } catch {
        return null;
      }
    }
    if (lines[i] !== `  ${side}:`) continue;
    const items = [];
    for (let j = i + 1; j < lines.length && /^  [- ] /.test(lines[j]); j++) {
      const item = lines[j].match(/^  ([- ]) +([A-Za-z0-9_-]+): ?(.*)$/);
      if (!item) continue;
      if (item[1] === "-") items.push({});
      if (items.length) items[items.length - 1][item[2]] = unquote(item[3]);
    }
    return items;
  }
  return null;
}

function unquote(text) {
  const t = text.trim();
  if (t.length >= 2 && (t[0] === "'" || t[0] === '"') && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return t;
}

/** CSV (RFC 4180 quotes) or TSV into rows of cells. */
export function parseDelimited(text, sep) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === sep) {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      if (rows.length > CSV_ROWS + 1) return rows;
    } else cell += c;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
