// A recipe's run as staff see it in a conversation's history (MessageList, messages.js):
// the run leaves an internal event message (data.event "recipe_run"), shown as one line
// (recipe, version, what it did or why it skipped) that expands to the conditions that
// matched, with the values they saw, and each action's result.

import { h } from "./dom.js";
import { shortTime } from "./format.js";

// Longest value of a recipe condition's field shown in a run's details (a message body
// can be long).
const CLIP_CHARS = 80;

// What a recipe's action did, for its history line ("resolved; replied").
const ACTION_DONE = {
  notify: "notified",
  resolve: "resolved",
  set_pending: "set pending",
  assign: "assigned",
  smart_assign: "smart-assigned",
  set_properties: "set properties",
  reply: "replied",
  add_tags: "added tags",
  remove_tags: "removed tags",
  hide_message: "hid the message",
  block_contact: "blocked the contact",
  webhook: "called a webhook",
};
// Replies queued as drafts or for approval say so instead of "replied".
const ACTION_QUEUED = { reply: "prepared a reply", notify: "notified", webhook: "queued a webhook" };
const RESULT_TEXT = { done: "done", queued: "queued", skipped: "skipped", failed: "failed" };

/**
 * A recipe run's message (`data` is its data, event "recipe_run") as a list item: its
 * history line, expandable to what matched and each action's result.
 */
export function recipeRunItem(msg, data) {
  const line = recipeRunLine(data) || msg.body || "A recipe ran";
  const checks = (data.matched || []).map((c) =>
    h("li", { class: c.ok ? "hist-check hist-check--ok" : "hist-check hist-check--no" },
      h("span", { class: "hist-mark", text: c.ok ? "✓" : "✗", "aria-label": c.ok ? "matched" : "did not match", role: "img" }),
      h("code", { text: [c.field, c.operator, formatValue(c.value)].filter((part) => part !== "").join(" ") }),
      c.actual !== undefined ? h("span", { class: "hist-actual", text: ` (was ${clip(formatValue(c.actual)) || "empty"})` }) : null,
    ),
  );
  const results = (data.results || []).map((r) =>
    h("li", { class: `hist-result hist-result--${r.result}` },
      h("code", { text: r.action }),
      h("span", { class: `hist-outcome hist-outcome--${r.result}`, text: RESULT_TEXT[r.result] || r.result }),
      r.detail ? h("span", { class: "hist-detail", text: r.detail }) : null,
    ),
  );
  const details = h("details", { class: "hist-details" },
    h("summary", {}, h("span", { class: "hist-line", text: line }), h("time", { datetime: new Date(msg.ts).toISOString(), text: shortTime(msg.ts) })),
    h("div", { class: "hist-body" },
      data.trigger ? h("p", {}, h("span", { class: "hist-label", text: "Trigger: " }), h("code", { text: data.trigger })) : null,
      data.skipped ? h("p", {}, h("span", { class: "hist-label", text: "Skipped: " }), data.skipped) : null,
      h("p", { class: "hist-label", text: "Conditions" }),
      checks.length ? h("ul", { class: "hist-checks" }, checks) : h("p", { class: "hist-none", text: "None: the recipe applies to everything in its scope." }),
      results.length ? h("p", { class: "hist-label", text: "Actions" }) : null,
      results.length ? h("ol", { class: "hist-results" }, results) : null,
    ),
  );
  return h("li", { class: `msg-event msg-event--recipe${data.skipped ? " msg-event--skipped" : ""}`, dataset: { seq: String(msg.seq) } }, details);
}

/** "Recipe “Triage” v3: resolved; replied", or "... v3 skipped: outside business hours". */
export function recipeRunLine(data) {
  if (!data.name) return "";
  const title = `Recipe “${data.name}”${data.version ? ` v${data.version}` : ""}`;
  if (data.skipped) return `${title} skipped: ${data.skipped}`;
  const parts = (data.results || []).map((r) => {
    if (r.result === "done") return ACTION_DONE[r.action] || r.action;
    if (r.result === "queued") return ACTION_QUEUED[r.action] || `${r.action} queued`;
    return `${r.action} ${RESULT_TEXT[r.result] || r.result}`;
  });
  return parts.length ? `${title}: ${parts.join("; ")}` : `${title} ran`;
}

function clip(text) {
  return text.length > CLIP_CHARS ? `${text.slice(0, CLIP_CHARS - 1)}…` : text;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(formatValue).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
