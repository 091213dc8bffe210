// Keyboard shortcuts of the console and the help overlay that lists them.

import { h } from "../dom.js";

export const SHORTCUTS = [
  ["j", "Next conversation"],
  ["k", "Previous conversation"],
  ["r", "Reply to the attendee"],
  ["n", "Write an internal note"],
  ["e", "Resolve the conversation"],
  ["a", "Assign to me"],
  ["/", "Search messages"],
  ["?", "Show this help"],
  ["Enter", "Send (in the composer)"],
  ["Shift + Enter", "New line (in the composer)"],
  ["Esc", "Leave the composer, close this help"],
];

function typingTarget(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

/** Call `handlers[key]` for unmodified key presses outside text fields. */
export function installShortcuts(handlers) {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (closeHelp()) return;
      if (typingTarget(event.target)) event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typingTarget(event.target)) return;
    const handler = handlers[event.key];
    if (handler) {
      event.preventDefault();
      handler();
    }
  });
}

let overlay = null;
let returnFocus = null;

export function closeHelp() {
  if (!overlay) return false;
  overlay.remove();
  overlay = null;
  returnFocus?.focus?.();
  return true;
}

export function showHelp() {
  if (overlay) return;
  returnFocus = document.activeElement;
  const close = h("button", { class: "icon-button", type: "button", "aria-label": "Close", text: "×", on: { click: closeHelp } });
  const rows = SHORTCUTS.map(([key, what]) => h("tr", {}, h("td", {}, ...key.split(" + ").flatMap((k, i) => (i ? [" + ", h("kbd", { text: k })] : [h("kbd", { text: k })]))), h("td", { text: what })));
  const dialog = h(
    "div",
    { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "help-title", tabindex: "-1" },
    h("div", { class: "dialog-head" }, h("h2", { id: "help-title", text: "Keyboard shortcuts" }), close),
    h("table", { class: "shortcuts" }, h("tbody", {}, rows)),
  );
  overlay = h("div", { class: "overlay", on: { click: (event) => event.target === overlay && closeHelp() } }, dialog);
  document.body.append(overlay);
  dialog.focus();
}

export function toggleHelp() {
  if (!closeHelp()) showHelp();
}
