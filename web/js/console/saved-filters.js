// Saved filters of the inbox (GET/POST /api/v1/saved-filters): a set of filters kept under
// a name, the same filters recipes can use. "Save filter" (admins: saved filters are
// shared) stores the inbox's current ones; choosing one in "Saved filters" hands its
// filters to the inbox, which shows them in every control at once (Inbox.applyFilters).

import { h, clear } from "../dom.js";
import { get, post } from "./api.js";
import { attempt, toast } from "./toast.js";

// The filters a saved filter holds, with their "no filter" values.
const FILTER_DEFAULTS = { status: "", assignee: "", context: "", channel: "", tag: "", q: "" };

/** The inbox's `filters` as saved: only those set; "Mine" becomes the viewer's id `me`. */
export function savable(filters, me) {
  const out = {};
  for (const [key, value] of Object.entries(filters)) {
    if (value) out[key] = key === "assignee" && value === "me" ? me : value;
  }
  return out;
}

/** A saved filter's `filters` as the inbox's: every other filter cleared, `me` as "Mine". */
export function inboxFilters(filters, me) {
  const next = { ...FILTER_DEFAULTS };
  for (const key of Object.keys(FILTER_DEFAULTS)) {
    if (typeof filters[key] === "string") next[key] = filters[key];
  }
  if (next.assignee === me) next.assignee = "me";
  return next;
}

/**
 * The "Saved filters" picker, with the "Save filter" form for admins. `current()` gives
 * the filters to save (see `savable`); `onChoose(filters)` gets a chosen saved filter's.
 */
export class SavedFilters {
  constructor({ admin, current, onChoose }) {
    this.saved = [];
    this.select = h("select", { class: "select select--small", "aria-label": "Saved filters" }, h("option", { value: "", text: "Saved filters…" }));
    this.select.addEventListener("change", () => {
      const chosen = this.saved.find((f) => f.id === this.select.value);
      if (chosen) onChoose(chosen.filters || {});
    });
    const name = h("input", { class: "input input--small", type: "text", maxlength: "100", required: true, placeholder: "Name of this filter", "aria-label": "Filter name" });
    const form = h("form", { class: "save-filter", hidden: true, "aria-label": "Save the current filters" },
      name,
      h("button", { class: "btn btn--small btn--primary", type: "submit", text: "Save" }),
      h("button", { class: "btn btn--small", type: "button", text: "Cancel", on: { click: () => close() } }),
    );
    const open = h("button", { class: "btn btn--small", type: "button", text: "Save filter", "aria-expanded": "false" });
    const close = () => {
      form.hidden = true;
      open.setAttribute("aria-expanded", "false");
      open.focus();
    };
    open.addEventListener("click", () => {
      form.hidden = false;
      open.setAttribute("aria-expanded", "true");
      name.value = this.saved.find((f) => f.id === this.select.value)?.name || "";
      name.focus();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        close();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!name.value.trim()) return;
      const created = await attempt(() => post("/saved-filters", { name: name.value.trim(), filters: current() }), "Could not save the filter");
      if (!created) return;
      toast(`Saved the filter “${created.name}”.`, "success");
      close();
      await this.loadSavedFilters();
      this.select.value = created.id;
    });
    this.loadSavedFilters();
    this.el = admin
      ? h("div", { class: "saved-filters" }, h("div", { class: "filter-row" }, this.select, open), form)
      : h("div", { class: "saved-filters" }, this.select);
  }

  /** The filters no longer are a saved filter's (one of them changed). */
  deselect() {
    this.select.value = "";
  }

  async loadSavedFilters() {
    const answer = await get("/saved-filters").catch(() => null);
    if (!answer) return;
    const current = this.select.value;
    this.saved = answer.items;
    clear(this.select).append(h("option", { value: "", text: "Saved filters…" }), ...this.saved.map((f) => h("option", { value: f.id, text: f.name })));
    this.select.value = this.saved.some((f) => f.id === current) ? current : "";
  }
}
