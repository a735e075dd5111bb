// The page shell: header, theme, and a router from the URL's path to one page module.
// Pages: / (runs), /run/<id>, /compare?runs=a,b, /models. Links between them are followed
// without reloading (history.pushState); the server answers any of these paths with this page.

import { h, replace } from "./dom.js";
import { current } from "./state.js";
import { initTheme, themeButton } from "./theme.js";

const PAGES = [
  { pattern: /^\/$/, load: () => import("./runs.js"), nav: "runs" },
  { pattern: /^\/run\/([^/]+)$/, load: () => import("./run.js"), nav: "runs" },
  { pattern: /^\/compare$/, load: () => import("./compare.js"), nav: "compare" },
  { pattern: /^\/models$/, load: () => import("./registry.js"), nav: "models" },
];

let unmount = null;
let generation = 0;

function header() {
  const link = (href, text, nav) => h("a", { href, class: "nav", "data-nav": nav }, text);
  return h(
    "header",
    { class: "top" },
    h("a", { href: "/", class: "brand" }, "gitml"),
    h("nav", null, link("/", "Runs", "runs"), link("/compare", "Compare", "compare"), link("/models", "Models", "models")),
    h("span", { class: "spacer" }),
    h("span", { class: "live-dot", title: "live updates" }),
    themeButton(),
  );
}

async function route() {
  const mine = ++generation;
  const { path, params } = current();
  const page = PAGES.find((p) => p.pattern.test(path));
  for (const a of document.querySelectorAll("header a.nav")) {
    a.classList.toggle("active", !!page && a.dataset.nav === page.nav);
  }
  if (unmount) unmount();
  unmount = null;
  const main = document.getElementById("app");
  if (!page) {
    replace(main, h("p", { class: "note error" }, "No such page. "), h("a", { href: "/" }, "All runs"));
    return;
  }
  const match = path.match(page.pattern) || [];
  const module = await page.load();
  if (mine !== generation) return;
  replace(main);
  window.scrollTo(0, 0);
  unmount = module.mount(main, { path, params, args: match.slice(1).map(decodeURIComponent) }) || null;
}

/** Follow a link to one of our pages without reloading. */
function follow(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || /^\/(api|static|vendor)\//.test(url.pathname)) return;
  event.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search) return;
  history.pushState(null, "", url.pathname + url.search);
  route();
}

initTheme();
document.body.prepend(header());
document.addEventListener("click", follow);
window.addEventListener("popstate", route);
window.addEventListener("gitml-route", route);
route();
