// The runs page: every run in one virtualised table, filtered and sorted by the server
// (the same grammar as `gitml ls --filter/--sort`), grouped, selected for comparison.
// The whole view lives in the URL: /?filter=…&sort=…&columns=…&group=…&sel=…

import { ApiError, get } from "./api.js";
import { renderChooser } from "./chooser.js";
import { filterFor } from "./filter.js";
import { h, replace } from "./dom.js";
import * as fmt from "./format.js";
import { subscribe } from "./live.js";
import { go, list, query, replaceParams, runHref } from "./state.js";
import { SavedViews } from "./views.js";
import { VirtualTable } from "./vtable.js";

const DEFAULT_ATTRIBUTES = ["name", "experiment", "status", "start_time", "duration"];
const GROUP_ATTRIBUTES = ["experiment", "branch", "base", "status"];
const NO_STATS = new Set(["start_time", "end_time"]);
const MAX_COMPARE = 50; // runs on one compare page
const MAX_IN_URL = 200; // selected runs kept in the address (more make it unreadable)

/** The page. Returns the function that leaves it. */
export function mount(root, route) {
  const page = new RunsPage(root, route.params);
  return () => page.destroy();
}

class RunsPage {
  constructor(root, params) {
    this.root = root;
    this.filter = params.filter || "";
    this.sort = list(params.sort);
    this.cols = list(params.columns);
    this.group = params.group || "";
    this.selPrefixes = list(params.sel);
    this.selected = new Set();
    this.collapsed = new Set();
    this.data = null;
    this.order = null;
    this.display = [];
    this.groups = [];
    this.request = null;
    this.build();
    this.load();
    this.stopLive = subscribe("runs", () => this.load());
    this.watched = new Map(); // id of a running run -> its subscription
  }

  destroy() {
    this.stopLive();
    for (const stop of this.watched.values()) stop();
    clearTimeout(this.reloadTimer);
    this.table.destroy();
    this.request?.abort();
  }

  // ---- layout ---------------------------------------------------------------------------------

  build() {
    this.filterInput = h("input", {
      type: "search",
      class: "filter",
      placeholder: "filter: metrics.acc > 0.9 and (params.opt = 'adam' or not status = 'failed')",
      value: this.filter,
      spellcheck: "false",
      autocomplete: "off",
      "aria-label": "filter",
      oninput: () => this.setFilter(this.filterInput.value),
    });
    this.filterError = h("div", { class: "filter-error", hidden: true, role: "alert" });
    this.countLabel = h("span", { class: "count" });
    this.groupSelect = h("select", { "aria-label": "group by", onchange: () => this.setGroup(this.groupSelect.value) });
    this.compareButton = h("button", { class: "primary", disabled: true, onclick: () => this.compare() }, "Compare");
    this.clearButton = h("button", { disabled: true, onclick: () => this.clearSelection() }, "Clear selection");
    this.columnsButton = h("button", { onclick: () => this.toggleChooser() }, "Columns");
    this.chooser = h("div", { class: "chooser", hidden: true });
    this.lsCommand = h("input", { class: "ls-command", readonly: true, "aria-label": "gitml ls command" });
    this.copyButton = h("button", { onclick: () => this.copyCommand() }, "Copy as gitml ls");
    this.views = new SavedViews(() => query(this.params()), (text) => this.flash(text));
    this.message = h("span", { class: "message" });
    this.table = new VirtualTable({
      rowHeight: 28,
      header: (column, cell) => this.headerCell(column, cell),
      makeCell: (column) => this.makeCell(column),
      fill: (index, rowEl, cells) => this.fillRow(index, rowEl, cells),
    });
    this.table.el.classList.add("runs-table");
    this.table.body.addEventListener("click", (event) => this.onBodyClick(event));
    replace(
      this.root,
      h(
        "section",
        { class: "runs-page" },
        h("div", { class: "toolbar" }, h("div", { class: "filter-box" }, this.filterInput, this.filterError)),
        h(
          "div",
          { class: "toolbar" },
          this.countLabel,
          h("label", null, "Group by ", this.groupSelect),
          this.columnsButton,
          this.compareButton,
          this.clearButton,
          h("span", { class: "spacer" }),
          ...this.views.elements(),
        ),
        this.chooser,
        h("div", { class: "toolbar" }, this.lsCommand, this.copyButton, this.message),
        this.table.el,
      ),
    );
  }

  // ---- data -----------------------------------------------------------------------------------

  async load() {
    let data;
    try {
      data = await get("/api/runs");
    } catch (error) {
      this.countLabel.textContent = `cannot read runs: ${error.message}`;
      return;
    }
    this.data = data;
    this.index = new Map(data.columns.id.map((id, i) => [id, i]));
    if (this.selPrefixes.length) {
      for (const prefix of this.selPrefixes) {
        const id = data.columns.id.find((x) => x.startsWith(prefix));
        if (id) this.selected.add(id);
      }
      this.selPrefixes = [];
    }
    if (!this.cols.length) this.cols = this.defaultColumns();
    this.cols = this.cols.filter((c) => data.fields.includes(c));
    this.fillGroupSelect();
    this.setColumns();
    this.watchRunning();
    await this.select();
  }

  /** A running run that logs (event run:<id>) changes its row: reload, at most every 2 s. */
  watchRunning() {
    const running = new Set(this.data.columns.id.filter((_, i) => this.data.columns.status[i] === "running"));
    for (const [id, stop] of this.watched) {
      if (!running.has(id)) {
        stop();
        this.watched.delete(id);
      }
    }
    for (const id of running) {
      if (this.watched.has(id)) continue;
      this.watched.set(
        id,
        subscribe(`run:${id}`, () => {
          if (this.reloadTimer) return;
          this.reloadTimer = setTimeout(() => {
            this.reloadTimer = null;
            this.load();
          }, 2000);
        }),
      );
    }
  }

  defaultColumns() {
    const fields = this.data.fields;
    const present = DEFAULT_ATTRIBUTES.filter((f) => fields.includes(f));
    const params = fields.filter((f) => f.startsWith("params.")).slice(0, 4);
    const metrics = fields.filter((f) => f.startsWith("metrics.")).slice(0, 4);
    return [...present, ...params, ...metrics];
  }

  /**
   * The runs that pass the filter, in the sort's order; then redraw. The filter is tested
   * here on the table's columns when this page reads it exactly as the server does
   * (filter.js), on the runs in the sort's order (asked of the server once per sort: a
   * stable sort of all runs, then the filter, is the filter, then the sort); else the
   * server answers both (it also says what is wrong with a filter that does not parse).
   */
  async select() {
    if (!this.data) return; // the table, once loaded, is selected from with what is typed then
    this.request?.abort();
    this.request = null;
    const generation = (this.generation = (this.generation || 0) + 1);
    const sortText = this.sort.join(",");
    if (!this.filter.trim() && !sortText) {
      this.table.el.removeAttribute("aria-busy");
      this.order = null;
      this.showError(null);
      this.arrange();
      return;
    }
    const filter = filterFor(this.filter, this.data);
    if (filter) {
      let rows;
      try {
        if (sortText) this.table.el.setAttribute("aria-busy", "true");
        rows = sortText ? await this.sortedRows(sortText) : this.allRows();
      } catch (error) {
        if (generation === this.generation) this.failed(error);
        return;
      }
      if (generation !== this.generation) return; // a later keystroke took over
      const order = filter(rows);
      if (order) {
        this.order = order;
        this.table.el.removeAttribute("aria-busy");
        this.showError(null);
        this.arrange();
        return;
      }
    }
    const controller = new AbortController();
    this.request = controller;
    this.table.el.setAttribute("aria-busy", "true");
    try {
      const answer = await get("/api/select", { filter: this.filter, sort: this.sort }, controller.signal);
      if (controller.signal.aborted) return;
      this.order = this.rowsOf(answer.ids);
      this.showError(null);
    } catch (error) {
      if (error.name !== "AbortError") this.failed(error);
      return;
    }
    this.table.el.removeAttribute("aria-busy");
    this.arrange();
  }

  failed(error) {
    this.table.el.removeAttribute("aria-busy");
    if (error instanceof ApiError) this.showError(error.detail);
    else this.showError({ message: error.message });
  }

  /** Table rows of run ids, in their order (ids the table lacks left out). */
  rowsOf(ids) {
    const rows = new Int32Array(ids.length);
    let n = 0;
    for (const id of ids) {
      const i = this.index.get(id);
      if (i !== undefined) rows[n++] = i;
    }
    return rows.subarray(0, n);
  }

  allRows() {
    if (this.naturalRows?.length !== this.data.count) {
      this.naturalRows = Int32Array.from({ length: this.data.count }, (_, i) => i);
    }
    return this.naturalRows;
  }

  /** Every run in the order of sort keys `sortText`, asked once per table and sort. */
  sortedRows(sortText) {
    const cached = this.sorted;
    if (cached?.data === this.data && cached.sortText === sortText) return cached.rows;
    const rows = get("/api/select", { sort: this.sort }).then((answer) => this.rowsOf(answer.ids));
    this.sorted = { data: this.data, sortText, rows };
    rows.catch(() => {
      if (this.sorted?.rows === rows) this.sorted = null; // asked again next time
    });
    return rows;
  }

  /** Rows in view order, in groups when grouping. */
  arrange() {
    const count = this.data.count;
    const order = this.order || Array.from({ length: count }, (_, i) => i);
    this.rowsInView = order;
    if (!this.group || !this.data.columns[this.group]) {
      this.groups = [];
      this.display = order;
    } else {
      const values = this.data.columns[this.group];
      const byKey = new Map();
      for (const i of order) {
        const key = values[i] === null || values[i] === undefined ? "" : String(values[i]);
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key).push(i);
      }
      this.groups = [...byKey.entries()].map(([key, rows]) => ({ key, rows, stats: this.stats(rows) }));
      const display = [];
      this.groups.forEach((group, g) => {
        display.push(-(g + 1));
        if (!this.collapsed.has(group.key)) for (const i of group.rows) display.push(i);
      });
      this.display = display;
    }
    const shown = order.length;
    this.countLabel.textContent =
      shown === count ? `${fmt.count(count)} runs` : `${fmt.count(shown)} of ${fmt.count(count)} runs`;
    this.table.setCount(this.display.length);
    this.table.render();
    this.updateSelection();
    this.writeUrl();
  }

  /** min / mean / max of each shown numeric column over the group's rows. */
  stats(rows) {
    const result = {};
    for (const field of this.cols) {
      if (NO_STATS.has(field)) continue;
      const column = this.data.columns[field];
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      let n = 0;
      for (const i of rows) {
        const v = column[i];
        if (typeof v !== "number" || !Number.isFinite(v)) continue;
        if (v < min) min = v;
        if (v > max) max = v;
        sum += v;
        n++;
      }
      if (n) result[field] = { min, max, mean: sum / n };
    }
    return result;
  }

  // ---- table ----------------------------------------------------------------------------------

  setColumns() {
    const columns = [{ key: "#select", width: 34 }];
    for (const field of this.cols) columns.push({ key: field, width: widthOf(field) });
    this.table.setColumns(columns);
    this.renderChooser();
  }

  headerCell(column, cell) {
    if (column.key === "#select") {
      const box = h("input", { type: "checkbox", title: "select every run in view", "aria-label": "select all" });
      box.addEventListener("change", () => this.selectAll(box.checked));
      this.selectAllBox = box;
      cell.appendChild(box);
      return;
    }
    const direction = this.sortDirection(column.key);
    cell.classList.add("sortable", `kind-${kind(column.key)}`);
    cell.title = `${column.key}: click to sort, shift-click to add a sort key`;
    cell.append(h("span", { class: "label" }, label(column.key)), h("span", { class: "arrow" }, direction));
    cell.addEventListener("click", (event) => this.toggleSort(column.key, event.shiftKey));
  }

  makeCell(column) {
    const cell = document.createElement("div");
    cell.dataset.key = column.key;
    if (column.key === "#select") {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.setAttribute("aria-label", "select run");
      cell.appendChild(box);
    } else if (column.key === "name") {
      cell.appendChild(document.createElement("a"));
    }
    if (column.key.startsWith("metrics.") || column.key === "duration") cell.classList.add("num");
    return cell;
  }

  fillRow(position, rowEl, cells) {
    const entry = this.display[position];
    const columns = this.table.columns;
    if (entry < 0) {
      const group = this.groups[-entry - 1];
      rowEl.className = "vt-row group-row";
      rowEl.dataset.group = group.key;
      delete rowEl.dataset.id;
      for (let c = 0; c < columns.length; c++) {
        const key = columns[c].key;
        const cell = cells[c];
        let text = "";
        if (c === 1) {
          const arrow = this.collapsed.has(group.key) ? "▸ " : "▾ ";
          text = `${arrow}${fmt.cell(this.group, group.key) || "(none)"} · ${group.rows.length}`;
        } else if (group.stats[key]) {
          const s = group.stats[key];
          text = `${fmt.short(s.min)} / ${fmt.short(s.mean)} / ${fmt.short(s.max)}`;
        }
        setCell(cell, key, text, c === 1 ? group.key : "min / mean / max");
      }
      return;
    }
    const id = this.data.columns.id[entry];
    rowEl.className = this.selected.has(id) ? "vt-row selected" : "vt-row";
    rowEl.dataset.id = id;
    delete rowEl.dataset.group;
    for (let c = 0; c < columns.length; c++) {
      const key = columns[c].key;
      const cell = cells[c];
      if (key === "#select") {
        cell.firstChild.checked = this.selected.has(id);
        cell.firstChild.hidden = false;
        continue;
      }
      const raw = this.data.columns[key]?.[entry];
      const text = fmt.cell(key, raw);
      if (key === "name") {
        const a = cell.firstChild;
        a.textContent = text || id.slice(0, 10);
        a.href = runHref(id);
        cell.title = text;
      } else {
        cell.textContent = text;
        cell.title = text;
        if (key === "status") cell.className = `vt-cell status ${statusClass(raw)}`;
      }
    }
  }

  onBodyClick(event) {
    const rowEl = event.target.closest(".vt-row");
    if (!rowEl) return;
    if (rowEl.dataset.group !== undefined && rowEl.classList.contains("group-row")) {
      const key = rowEl.dataset.group;
      if (this.collapsed.has(key)) this.collapsed.delete(key);
      else this.collapsed.add(key);
      this.arrange();
      return;
    }
    if (event.target.matches("input[type=checkbox]")) {
      const id = rowEl.dataset.id;
      if (event.target.checked) this.selected.add(id);
      else this.selected.delete(id);
      rowEl.classList.toggle("selected", event.target.checked);
      this.updateSelection();
      this.writeUrl();
    }
  }

  // ---- sort, filter, group, columns -----------------------------------------------------------

  sortDirection(field) {
    const k = this.sort.findIndex((s) => s.replace(/^[-+]/, "") === field);
    if (k < 0) return "";
    const mark = this.sort[k].startsWith("-") ? "▼" : "▲";
    return this.sort.length > 1 ? `${mark}${k + 1}` : mark;
  }

  /** Fields are in the filter grammar's spelling already (metrics.`my key`). */
  toggleSort(field, add) {
    const text = field;
    const k = this.sort.findIndex((s) => s.replace(/^[-+]/, "") === text);
    let next;
    if (k < 0) next = add ? [...this.sort, text] : [text];
    else if (!this.sort[k].startsWith("-")) {
      next = [...this.sort];
      next[k] = "-" + text;
      if (!add) next = [next[k]];
    } else {
      next = this.sort.filter((_, j) => j !== k);
      if (!add) next = [];
    }
    this.sort = next;
    this.setColumns();
    this.select();
  }

  setFilter(text) {
    this.filter = text;
    this.writeUrl();
    this.select();
  }

  showError(detail) {
    for (const cell of this.table.head.querySelectorAll(".error")) cell.classList.remove("error");
    if (!detail) {
      this.filterError.hidden = true;
      this.filterInput.classList.remove("invalid");
      return;
    }
    this.filterInput.classList.add("invalid");
    const position = Number.isInteger(detail.position) ? detail.position : null;
    const lines = [];
    if (position !== null) {
      // The filter, then a caret under the character the parser stopped at (0-based).
      lines.push(h("div", { class: "filter-echo" }, this.filter));
      lines.push(h("div", { class: "filter-caret" }, " ".repeat(Math.max(0, position)) + "^"));
    }
    lines.push(h("div", { class: "filter-message" }, detail.message || "invalid filter"));
    replace(this.filterError, ...lines);
    this.filterError.hidden = false;
    if (detail.field) {
      const cell = [...this.table.head.children].find((c) => c.dataset.key === detail.field);
      cell?.classList.add("error");
    }
  }

  fillGroupSelect() {
    const fields = this.data.fields;
    const options = ["", ...GROUP_ATTRIBUTES.filter((f) => fields.includes(f)), ...fields.filter((f) => f.startsWith("tags."))];
    replace(this.groupSelect, ...options.map((f) => h("option", { value: f, selected: f === this.group }, f || "nothing")));
  }

  setGroup(field) {
    this.group = field;
    this.collapsed.clear();
    this.arrange();
  }

  toggleChooser() {
    this.chooser.hidden = !this.chooser.hidden;
    if (!this.chooser.hidden) this.chooser.querySelector("input")?.focus();
  }

  renderChooser() {
    if (!this.data) return;
    renderChooser(this.chooser, this.data.fields, this.cols, {
      onToggle: (field, on) => this.toggleColumn(field, on),
      onReset: () => this.resetColumns(),
    });
  }

  toggleColumn(field, on) {
    if (on && !this.cols.includes(field)) this.cols.push(field);
    if (!on) this.cols = this.cols.filter((c) => c !== field);
    const hidden = this.chooser.hidden;
    this.setColumns();
    this.chooser.hidden = hidden;
    this.arrange();
  }

  resetColumns() {
    this.cols = this.defaultColumns();
    this.setColumns();
    this.chooser.hidden = false;
    this.arrange();
  }

  // ---- selection ------------------------------------------------------------------------------

  selectAll(on) {
    for (const i of this.rowsInView) {
      const id = this.data.columns.id[i];
      if (on) this.selected.add(id);
      else this.selected.delete(id);
    }
    this.table.invalidate();
    this.updateSelection();
    this.writeUrl();
  }

  clearSelection() {
    this.selected.clear();
    this.table.invalidate();
    this.updateSelection();
    this.writeUrl();
  }

  updateSelection() {
    const n = this.selected.size;
    this.compareButton.textContent = n ? `Compare ${n}` : "Compare";
    this.compareButton.disabled = n < 2 || n > MAX_COMPARE;
    this.compareButton.title = n > MAX_COMPARE ? `compare at most ${MAX_COMPARE} runs` : "";
    this.clearButton.disabled = n === 0;
    if (this.selectAllBox) this.selectAllBox.checked = n > 0 && this.rowsInView.every((i) => this.selected.has(this.data.columns.id[i]));
  }

  compare() {
    go("/compare", { runs: this.shortIds([...this.selected]).join(",") });
  }

  /** The shortest prefix (8 characters or more) that names each id among all runs. */
  shortIds(ids) {
    if (!ids.length) return [];
    if (this.sortedIds?.source !== this.data) {
      const sorted = [...this.data.columns.id].sort();
      this.sortedIds = { source: this.data, ids: sorted, at: new Map(sorted.map((id, k) => [id, k])) };
    }
    const all = this.sortedIds.ids;
    return ids.map((id) => {
      const k = this.sortedIds.at.get(id);
      let length = 8;
      for (const other of [all[k - 1], all[k + 1]]) {
        if (!other) continue;
        let common = 0;
        while (common < id.length && id[common] === other[common]) common++;
        length = Math.max(length, common + 1);
      }
      return id.slice(0, length);
    });
  }

  // ---- URL, command, views --------------------------------------------------------------------

  params() {
    const defaults = this.data ? this.defaultColumns() : [];
    const sameColumns = this.cols.length === defaults.length && this.cols.every((c, k) => c === defaults[k]);
    return {
      filter: this.filter,
      sort: this.sort.join(","),
      columns: sameColumns ? "" : this.cols.join(","),
      group: this.group,
      sel: this.data && this.selected.size <= MAX_IN_URL ? this.shortIds([...this.selected]).join(",") : "",
    };
  }

  writeUrl() {
    replaceParams("/", this.params());
    this.lsCommand.value = this.command();
  }

  /** The same listing on the command line. */
  command() {
    const words = ["gitml", "ls", "--all"];
    if (this.filter.trim()) words.push("--filter", fmt.shellWord(this.filter.trim()));
    for (const key of this.sort) words.push("--sort", fmt.shellWord(key));
    if (this.cols.length) words.push("--columns", fmt.shellWord(this.cols.join(",")));
    return words.join(" ");
  }

  async copyCommand() {
    this.lsCommand.select();
    try {
      await navigator.clipboard.writeText(this.lsCommand.value);
      this.flash("copied");
    } catch {
      this.flash("selected: press Ctrl+C to copy");
    }
  }

  flash(text) {
    this.message.textContent = text;
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => (this.message.textContent = ""), 3000);
  }
}

function setCell(cell, key, text, title) {
  if (key === "#select") {
    cell.firstChild.hidden = true;
    return;
  }
  if (key === "name") {
    cell.firstChild.textContent = text;
    cell.firstChild.removeAttribute("href");
  } else cell.textContent = text;
  if (key === "status") cell.className = "vt-cell status"; // a run's row coloured it
  cell.title = title || text;
}

function statusClass(status) {
  return ["running", "finished", "failed", "killed"].includes(status) ? status : "";
}

/** A header's text: the key without its prefix (the cell's colour says which kind). */
function label(field) {
  const dot = field.indexOf(".");
  return dot < 0 ? field.replace("_", " ") : field.slice(dot + 1);
}

function kind(field) {
  const dot = field.indexOf(".");
  return dot < 0 ? "attribute" : field.slice(0, dot);
}

function widthOf(field) {
  if (field === "name") return 200;
  if (field === "id") return 230;
  if (field === "start_time" || field === "end_time") return 165;
  if (field === "status") return 80;
  if (field === "base") return 100;
  if (field.startsWith("metrics.")) return 150;
  return 120;
}
