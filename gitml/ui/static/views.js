// Saved views: a name for the runs page's query string, kept by the server under
// refs/gitml/views/<name> (it travels with gitml push). A list to open one, a box to save.

import { get, post } from "./api.js";
import { h, replace } from "./dom.js";
import { go, parseQuery } from "./state.js";

export class SavedViews {
  /** query(): the page's query string now; say(text): a short message to the user. */
  constructor(query, say) {
    this.query = query;
    this.say = say;
    this.views = [];
    this.select = h("select", { "aria-label": "saved views", onchange: () => this.open() });
    this.name = h("input", { class: "view-name", placeholder: "view name", "aria-label": "view name" });
    this.button = h("button", { onclick: () => this.save() }, "Save view");
    this.load();
  }

  elements() {
    return [this.select, this.name, this.button];
  }

  async load() {
    try {
      this.views = (await get("/api/views")).views || [];
    } catch {
      this.views = [];
    }
    replace(
      this.select,
      h("option", { value: "" }, this.views.length ? "Saved views…" : "No saved views"),
      this.views.map((view) =>
        view.query === null
          ? h("option", { value: view.name, disabled: true, title: view.problem }, `${view.name} (unreadable: ${view.problem})`)
          : h("option", { value: view.name, title: view.query }, view.name),
      ),
    );
  }

  open() {
    const view = this.views.find((v) => v.name === this.select.value);
    if (view && view.query !== null) go("/", parseQuery(view.query));
  }

  async save() {
    const name = this.name.value.trim();
    if (!name) {
      this.name.focus();
      this.say("name the view first");
      return;
    }
    try {
      await post("/api/views", { name, query: this.query() });
      this.say(`saved view ${name}`);
      this.name.value = "";
      this.load();
    } catch (error) {
      this.say(`not saved: ${error.message}`);
    }
  }
}
