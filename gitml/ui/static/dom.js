// Building the page from data without ever parsing it as HTML: every text from a run
// (names, params, tags, artifact contents) goes in through textContent or an attribute.

/** An element: h("a", {href: "/x", class: "c", onclick: fn}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") {
        el.addEventListener(name.slice(2), value);
      } else if (name === "class") {
        el.className = value;
      } else if (name === "style" && typeof value === "object") {
        Object.assign(el.style, value);
      } else if (name === "dataset") {
        Object.assign(el.dataset, value);
      } else if (name === "value" || name === "checked" || name === "selected" || name === "disabled") {
        el[name] = value;
      } else if (name === "href" || name === "src") {
        el.setAttribute(name, safeUrl(value));
      } else {
        el.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Append children: nodes as they are, anything else as text; arrays flattened. */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Replace everything inside el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Links and image sources are our own paths; anything with a scheme but http(s) is refused. */
function safeUrl(value) {
  const text = String(value);
  if (/^\s*[a-z][a-z0-9+.-]*:/i.test(text) && !/^\s*https?:/i.test(text) && !/^\s*blob:/i.test(text)) {
    return "#";
  }
  return text;
}

/** A table from a header row and rows of cells (each cell text or a node). */
export function table(headers, rows, attrs) {
  return h(
    "table",
    Object.assign({ class: "grid" }, attrs || {}),
    h("thead", null, h("tr", null, headers.map((text) => h("th", null, text)))),
    h("tbody", null, rows.map((cells) => (cells instanceof Node ? cells : h("tr", null, cells.map((c) => h("td", null, c)))))),
  );
}

/** A one-line message in place of content: loading, empty, error. */
export function note(text, kind) {
  return h("p", { class: "note" + (kind ? " " + kind : "") }, text);
}

/** A pre block of text, optionally one span per line with a class chosen by lineClass(line). */
export function pre(text, lineClass) {
  const el = h("pre", { class: "text" });
  if (!lineClass) {
    el.textContent = text;
    return el;
  }
  const lines = text.split("\n");
  for (const line of lines) {
    el.appendChild(h("span", { class: lineClass(line) || null }, line + "\n"));
  }
  return el;
}
