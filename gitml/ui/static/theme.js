// Light and dark themes: the OS's choice by default, a switch that cycles auto / light / dark
// (kept in localStorage), and an event for charts to redraw in the new colours.

const KEY = "gitml-theme";
const MODES = ["auto", "light", "dark"];
const LABELS = { auto: "◐ auto", light: "☀ light", dark: "☾ dark" };

export function mode() {
  const saved = localStorage.getItem(KEY);
  return MODES.includes(saved) ? saved : "auto";
}

export function isDark() {
  const m = mode();
  if (m !== "auto") return m === "dark";
  return window.matchMedia("(prefers-color-scheme: dark)").matches;
}

function apply() {
  const m = mode();
  if (m === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = m;
  document.documentElement.classList.toggle("dark", isDark());
  window.dispatchEvent(new CustomEvent("gitml-theme"));
}

/** The switch button for the header. */
export function themeButton() {
  const button = document.createElement("button");
  button.className = "theme-switch";
  button.title = "Theme: follows the OS, light or dark";
  const label = () => (button.textContent = LABELS[mode()]);
  button.addEventListener("click", () => {
    localStorage.setItem(KEY, MODES[(MODES.indexOf(mode()) + 1) % MODES.length]);
    apply();
    label();
  });
  label();
  return button;
}

export function initTheme() {
  apply();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}

/** A CSS colour variable's current value (for charts). */
export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
