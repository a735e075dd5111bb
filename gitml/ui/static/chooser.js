// The runs page's column chooser: every field by kind (attributes, params, metrics, tags),
// a box to find one, and a way back to the default columns.

import { h, replace } from "./dom.js";

const KINDS = [
  ["Attributes", (f) => !f.includes(".") || f.startsWith("attributes.")],
  ["Params", (f) => f.startsWith("params.")],
  ["Metrics", (f) => f.startsWith("metrics.")],
  ["Tags", (f) => f.startsWith("tags.")],
];

/** Draw the chooser into `panel`: onToggle(field, on) for a box, onReset() for the button. */
export function renderChooser(panel, fields, chosen, { onToggle, onReset }) {
  const search = h("input", { type: "search", placeholder: "find a column", "aria-label": "find a column" });
  const rows = [];
  const sections = KINDS.map(([title, isKind]) => [title, fields.filter(isKind)])
    .filter(([, found]) => found.length)
    .map(([title, found]) =>
      h(
        "fieldset",
        null,
        h("legend", null, `${title} (${found.length})`),
        found.map((field) => {
          const box = h("input", { type: "checkbox", checked: chosen.includes(field), value: field });
          box.addEventListener("change", () => onToggle(field, box.checked));
          const row = h("label", { class: "choice", dataset: { field } }, box, " ", field);
          rows.push(row);
          return row;
        }),
      ),
    );
  search.addEventListener("input", () => {
    const needle = search.value.toLowerCase();
    for (const row of rows) row.hidden = needle && !row.dataset.field.toLowerCase().includes(needle);
  });
  const reset = h("button", { onclick: onReset }, "Default columns");
  replace(panel, h("div", { class: "chooser-head" }, search, reset), h("div", { class: "chooser-body" }, sections));
}
