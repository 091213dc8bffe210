// Form parts shared by the recipe editor and the business hours editor. Every field and
// group carries the JSON path of what it edits (data-path="actions[1].minutes"), so an
// API 400 that names a field (`field`, or a message starting "<path>: ") is shown next to
// that control, or next to the closest enclosing group when the exact control is not on
// the page (for example "actions" when the list is empty).

import { h, clear } from "../dom.js";

let counter = 0;

/** A fresh element id (labels point at their controls with it). */
export function uid(prefix = "rf") {
  counter += 1;
  return `${prefix}-${counter}`;
}

function errorSlot() {
  return h("p", { class: "field-error", role: "alert", hidden: true, id: uid("err") });
}

/**
 * A labelled control for the JSON path `path`, with an optional hint and a slot for the
 * API's error about it.
 */
export function pathField(path, label, control, hint = null, { className = "" } = {}) {
  control.id = control.id || uid("f");
  const hintEl = hint ? h("p", { class: "field-hint", id: uid("hint"), text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: `field ${className}`.trim(), dataset: { path } },
    h("label", { for: control.id, text: label }),
    control,
    hintEl,
    errorSlot(),
  );
}

/** A fieldset (legend + children) for the JSON path `path`: radio groups, checkbox lists, cards. */
export function pathGroup(path, legend, children, { className = "", hint = null } = {}) {
  return h("fieldset", { class: `group ${className}`.trim(), dataset: { path } },
    legend ? h("legend", { text: legend }) : null,
    hint ? h("p", { class: "field-hint", text: hint }) : null,
    [children].flat(Infinity),
    errorSlot(),
  );
}

/** The path an API error is about: the answer's `field`, else the prefix of its message. */
export function errorPath(error) {
  if (error && error.field) return String(error.field);
  const match = String(error?.message || "").match(/^([A-Za-z_][\w]*(?:\[\d+\]|\.[\w-]+)*): /);
  return match ? match[1] : null;
}

/** The message without a leading "<path>: " (the field already says where). */
export function errorText(error, path) {
  const message = String(error?.message || "That did not work");
  return path && message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
}

/** "actions[1].properties.country" -> itself, "actions[1].properties", "actions[1]", "actions". */
export function pathAndParents(path) {
  const out = [];
  let rest = path;
  while (rest) {
    out.push(rest);
    const cut = Math.max(rest.lastIndexOf("."), rest.lastIndexOf("["));
    rest = cut > 0 ? rest.slice(0, cut) : "";
  }
  return out;
}

/** Hide every error under `root` and the form-wide `banner`. */
export function clearErrors(root, banner) {
  for (const slot of root.querySelectorAll(".field-error")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const bad of root.querySelectorAll("[aria-invalid]")) bad.removeAttribute("aria-invalid");
  for (const bad of root.querySelectorAll(".group--invalid")) bad.classList.remove("group--invalid");
  if (banner) banner.hidden = true;
}

/**
 * Show `error` (an ApiError) next to the field it names under `root`; errors that name no
 * field on the page go to `banner`. Returns the path it was shown for, or null.
 */
export function showError(root, banner, error) {
  clearErrors(root, banner);
  const path = errorPath(error);
  const text = errorText(error, path);
  if (path && error.status === 400) {
    for (const candidate of pathAndParents(path)) {
      const holder = root.querySelector(`[data-path="${CSS.escape(candidate)}"]`);
      const slot = holder && [...holder.children].find((child) => child.classList.contains("field-error"));
      if (!slot) continue;
      slot.textContent = candidate === path ? text : `${path}: ${text}`;
      slot.hidden = false;
      const control = holder.matches("fieldset") ? null : holder.querySelector("input, select, textarea");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== slot.id);
        control.setAttribute("aria-describedby", [...described, slot.id].join(" "));
      } else {
        holder.classList.add("group--invalid");
      }
      holder.scrollIntoView({ block: "center" });
      (control || holder.querySelector("input, select, textarea, button"))?.focus({ preventScroll: true });
      return path;
    }
  }
  if (banner) {
    banner.textContent = path ? `${path}: ${text}` : text;
    banner.hidden = false;
    banner.scrollIntoView({ block: "center" });
  }
  return null;
}

/** A <select> of `[value, label]` pairs (or plain strings), set to `value`. */
export function choice(options, value, attrs = {}) {
  const select = h("select", { class: "select", ...attrs },
    options.map((option) => {
      const [v, label] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: v, text: label });
    }),
  );
  if (value !== undefined && value !== null) select.value = String(value);
  return select;
}

/** A text input set to `value`; `on.input` receives the new value. */
export function textInput(value, onInput, attrs = {}) {
  const input = h("input", { class: "input", autocomplete: "off", ...attrs });
  input.value = value ?? "";
  input.addEventListener("input", () => onInput(input.value));
  return input;
}

/** A number input; empty stays null, numbers become numbers, anything else is passed on for the API to name. */
export function numberInput(value, onInput, attrs = {}) {
  const input = h("input", { class: "input input--number", type: "number", inputmode: "numeric", ...attrs });
  input.value = value ?? "";
  input.addEventListener("input", () => {
    const raw = input.value.trim();
    onInput(raw === "" ? null : Number.isFinite(Number(raw)) ? Number(raw) : raw);
  });
  return input;
}

/** A checkbox with its label text. */
export function checkbox(label, checked, onChange, attrs = {}) {
  const box = h("input", { type: "checkbox", checked: Boolean(checked), ...attrs });
  box.addEventListener("change", () => onChange(box.checked));
  return h("label", { class: "check" }, box, label);
}

/**
 * Checkboxes for a set of `[value, label]` items; `selected` is the initial list of
 * values, `onChange(values)` gets the chosen ones in item order.
 */
export function checkList(items, selected, onChange, { empty = "Nothing to choose from.", scroll = false } = {}) {
  const chosen = new Set(selected || []);
  const list = h("div", { class: `check-list${scroll ? " check-list--scroll" : ""}` });
  if (!items.length) list.append(h("p", { class: "muted", text: empty }));
  for (const [value, label] of items) {
    list.append(checkbox(label, chosen.has(value), (on) => {
      if (on) chosen.add(value);
      else chosen.delete(value);
      onChange(items.map(([v]) => v).filter((v) => chosen.has(v)).concat([...chosen].filter((v) => !items.some(([iv]) => iv === v))));
    }, { value }));
  }
  return list;
}

/** Radio buttons of `[value, label]` under one name; `onChange(value)`. */
export function radios(name, items, value, onChange, label = null) {
  return h("div", { class: "radio-row", role: "radiogroup", "aria-label": label },
    items.map(([v, label]) => {
      const input = h("input", { type: "radio", name, value: v, checked: v === value });
      input.addEventListener("change", () => {
        if (input.checked) onChange(v);
      });
      return h("label", { class: "check" }, input, label);
    }),
  );
}

/** "a, b ,c" -> ["a", "b", "c"] (empty parts dropped). */
export function splitList(text) {
  return String(text ?? "").split(",").map((part) => part.trim()).filter(Boolean);
}

/** A list (or a single value) as the comma-separated text splitList reads back. */
export function joinList(value) {
  if (value === null || value === undefined) return "";
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Replace the children of `el` with `children`. */
export function fill(el, ...children) {
  clear(el).append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/**
 * Tabs over panels: arrow keys, Home and End move between tabs (roving tabindex). `tabs`
 * is a list of {id, label, render(panel)}; a panel renders when first shown.
 */
export function tabSet(label, tabs, { initial = null, onChange = null } = {}) {
  const list = h("div", { class: "tabs", role: "tablist", "aria-label": label });
  const panels = h("div", { class: "tab-panels" });
  const rendered = new Set();
  const buttons = tabs.map((tab) => {
    const panel = h("div", { class: "tab-panel", role: "tabpanel", id: uid("panel"), hidden: true });
    const button = h("button", { class: "tab", type: "button", role: "tab", id: uid("tab"), "aria-controls": panel.id, "aria-selected": "false", tabindex: "-1", text: tab.label });
    panel.setAttribute("aria-labelledby", button.id);
    panels.append(panel);
    tab.panel = panel;
    tab.button = button;
    return button;
  });
  const select = (tab, focus = false) => {
    for (const other of tabs) {
      const on = other === tab;
      other.button.setAttribute("aria-selected", String(on));
      other.button.tabIndex = on ? 0 : -1;
      other.panel.hidden = !on;
    }
    if (!rendered.has(tab.id)) {
      rendered.add(tab.id);
      tab.render(tab.panel);
    }
    if (focus) tab.button.focus();
    if (onChange) onChange(tab.id);
  };
  tabs.forEach((tab, index) => {
    tab.button.addEventListener("click", () => select(tab));
    tab.button.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
    });
  });
  list.append(...buttons);
  select(tabs.find((t) => t.id === initial) || tabs[0]);
  return {
    el: h("div", { class: "tab-set" }, list, panels),
    select: (id) => select(tabs.find((t) => t.id === id) || tabs[0], false),
    rerender(id) {
      const tab = tabs.find((t) => t.id === id);
      if (!tab) return;
      rendered.delete(id);
      clear(tab.panel);
      if (!tab.panel.hidden) {
        rendered.add(id);
        tab.render(tab.panel);
      }
    },
  };
}

/** A link inside the console: it navigates in place instead of loading the page. */
export function link(app, href, text, attrs = {}) {
  const a = h("a", { href, text, ...attrs });
  a.addEventListener("click", (event) => {
    event.preventDefault();
    app.navigate(href);
  });
  return a;
}
