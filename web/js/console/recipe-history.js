// What a recipe has been and done: its versions (every save is one; an old one opens
// read-only and an admin may load it back into the editor), its runs (what matched,
// what each action did or why the run was skipped) and the deliveries of its webhook
// actions (request, response, attempts) with a redeliver button. Server text is only
// ever rendered as text.

import { h } from "../dom.js";
import { fullTime } from "../format.js";
import { get, post, query } from "./api.js";
import { recipeEditor } from "./recipe-editor.js";
import { fill } from "./recipe-form.js";
import { actionLabel, triggerSummary } from "./recipe-summary.js";
import { attempt, toast } from "./toast.js";

const PAGE = 50;
// How often an open runs or deliveries tab re-reads its first page (ms): runs and
// deliveries happen in the background while an admin watches.
const REFRESH_MS = 3000;

const recipeUrl = (recipe, rest) => `/recipes/${encodeURIComponent(recipe.id)}${rest}`;

function time(ms) {
  return ms ? h("time", { datetime: new Date(ms).toISOString(), text: fullTime(ms) }) : h("span", { class: "muted", text: "—" });
}

function conversationLink(app, id) {
  if (!id) return h("span", { class: "muted", text: "—" });
  const href = `/console/c/${encodeURIComponent(id)}`;
  const a = h("a", { href, class: "mono", text: id });
  a.addEventListener("click", (event) => {
    event.preventDefault();
    app.navigate(href);
  });
  return a;
}

function toolbar(...children) {
  return h("div", { class: "activity-bar" }, ...children);
}

function refreshButton(load) {
  const button = h("button", { class: "btn btn--small", type: "button", text: "Refresh" });
  button.addEventListener("click", () => load());
  return button;
}

/** The Versions tab. opts.restore(definition, version): load an old one into the editor (admins). */
export function renderVersions(panel, app, recipe, refs, { restore = null } = {}) {
  const list = h("div", {}, h("p", { class: "muted", text: "Loading versions…" }));
  const viewer = h("div", { class: "version-viewer" });
  const open = async (version) => {
    const answer = await attempt(() => get(recipeUrl(recipe, `/versions/${version}`)), "Could not load that version");
    if (!answer) return;
    const definition = answer.definition || answer;
    const editor = recipeEditor(app, refs, { definition, readOnly: true });
    const close = h("button", { class: "btn btn--small", type: "button", text: "Close" });
    close.addEventListener("click", () => fill(viewer));
    const load = restore ? h("button", { class: "btn btn--small btn--primary", type: "button", text: "Load into the editor" }) : null;
    load?.addEventListener("click", () => restore(definition, version));
    const heading = h("h4", { tabindex: "-1", text: `Version ${version} (read only)` });
    fill(viewer, h("section", { class: "card version-card", "aria-label": `Version ${version}` },
      h("div", { class: "version-head" }, heading, h("span", { class: "rail-spacer" }), load, close),
      answer.created_at ? h("p", { class: "muted", text: `Saved ${fullTime(answer.created_at)}${answer.created_by ? ` by ${app.userName(answer.created_by)}` : ""}` }) : null,
      editor.el,
    ));
    heading.focus();
  };
  const load = async () => {
    const answer = await attempt(() => get(recipeUrl(recipe, "/versions")), "Could not load the versions");
    if (!answer) return;
    const items = [...answer.items].sort((a, b) => b.version - a.version);
    fill(list, h("table", { class: "table versions-table" },
      h("thead", {}, h("tr", {}, ["Version", "Saved", "By", "Trigger", ""].map((t) => h("th", { text: t })))),
      h("tbody", {}, items.map((item) => {
        const view = h("button", { class: "btn btn--small", type: "button", "aria-label": `View version ${item.version}`, text: "View" });
        view.addEventListener("click", () => open(item.version));
        const def = item.definition;
        return h("tr", { class: "version-row", dataset: { version: String(item.version) } },
          h("td", {}, h("strong", { text: `v${item.version}` }), item.version === recipe.version ? h("span", { class: "chip chip--current", text: "current" }) : null),
          h("td", {}, time(item.created_at)),
          h("td", { text: item.created_by ? app.userName(item.created_by) : "—" }),
          h("td", { text: def ? `${triggerSummary(def.trigger)}${def.enabled === false ? " · disabled" : ""}` : "" }),
          h("td", { class: "table-actions" }, view),
        );
      })),
    ));
  };
  panel.append(toolbar(h("p", { class: "muted", text: "Every save and every switch on or off makes a new version." }), h("span", { class: "rail-spacer" }), refreshButton(load)), list, viewer);
  load();
}

function resultsList(results) {
  if (!results?.length) return h("span", { class: "muted", text: "—" });
  return h("ul", { class: "run-results" }, results.map((r) =>
    h("li", { class: `run-result run-result--${r.result}` },
      h("span", { class: "run-result-name", text: `${(r.index ?? 0) + 1}. ${actionLabel(r.action)}` }),
      h("span", { class: `level level--${r.result === "failed" ? "error" : r.result === "skipped" ? "warning" : "info"}`, text: r.result }),
      r.detail ? h("span", { class: "muted", text: ` ${r.detail}` }) : null,
    ),
  ));
}

/** A table of condition checks: field, operator, expected, actual, ✓/✗. */
export function checksTable(checks) {
  if (!checks?.length) return h("p", { class: "muted", text: "No conditions: everything matches." });
  const show = (v) => (v === undefined || v === null ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  return h("table", { class: "table checks-table" },
    h("thead", {}, h("tr", {}, ["", "Field", "Operator", "Value", "Actual"].map((t) => h("th", { text: t })))),
    h("tbody", {}, checks.map((c) => h("tr", { class: c.ok ? "check-ok" : "check-fail" },
      h("td", {}, h("span", { class: `check-mark check-mark--${c.ok ? "ok" : "fail"}`, role: "img", "aria-label": c.ok ? "matches" : "does not match", text: c.ok ? "✓" : "✗" })),
      h("td", { text: c.field }),
      h("td", { text: c.operator }),
      h("td", { text: show(c.value) }),
      h("td", { text: show(c.actual) }),
    ))),
  );
}

function runRow(app, run) {
  const checks = run.matched || [];
  const reason = run.reason || run.skipped;
  return h("tr", { class: `run-row run-row--${run.state}`, dataset: { id: run.id } },
    h("td", { class: "activity-time" }, time(run.created_at)),
    h("td", {}, conversationLink(app, run.conversation)),
    h("td", { text: `v${run.version}` }),
    h("td", {},
      h("span", { class: `run-state run-state--${run.state}`, text: run.state }),
      reason ? h("div", { class: "muted", text: reason }) : null,
      String(run.trigger_key || "").startsWith("timer:") ? h("div", { class: "muted", text: "by its timer" }) : null,
    ),
    h("td", {},
      resultsList(run.results),
      checks.length ? h("details", {}, h("summary", { text: `What matched (${checks.length})` }), checksTable(checks)) : null,
    ),
  );
}

/**
 * A paged log table (newest first, "Load older", refreshing its first page while shown).
 * opts: {path(before), columns, row(item, reload), empty, more, note, what}.
 */
function pagedLog(panel, { path, columns, row, empty, more: moreText, note, what, className }) {
  const tbody = h("tbody");
  const table = h("table", { class: `table activity ${className}`, hidden: true },
    h("thead", {}, h("tr", {}, columns.map((t) => h("th", { text: t })))),
    tbody,
  );
  const emptyNote = h("p", { class: "empty-card", hidden: true, text: empty });
  const more = h("button", { class: "btn btn--small inbox-more", type: "button", hidden: true, text: moreText });
  let next = null;
  let pages = 0;
  const load = async ({ older = false, quiet = false } = {}) => {
    const url = path(older ? next : "");
    const answer = quiet ? await get(url).catch(() => null) : await attempt(() => get(url), `Could not load the ${what}`);
    if (!answer) return;
    if (!older) fill(tbody);
    tbody.append(...answer.items.map((item) => row(item, () => load())));
    next = answer.next ?? null;
    pages = older ? pages + 1 : 1;
    more.hidden = !next;
    table.hidden = tbody.children.length === 0;
    emptyNote.hidden = tbody.children.length > 0;
  };
  more.addEventListener("click", () => load({ older: true }));
  panel.append(toolbar(h("p", { class: "muted", text: note }), h("span", { class: "rail-spacer" }), refreshButton(() => load())), table, emptyNote, more);
  load();
  const timer = setInterval(() => {
    if (!panel.isConnected) clearInterval(timer);
    // Not while the reader pages back or has a row's details open.
    else if (!panel.hidden && !document.hidden && pages <= 1 && !panel.querySelector("details[open]")) load({ quiet: true });
  }, REFRESH_MS);
}

/** The Runs tab. */
export function renderRuns(panel, app, recipe) {
  pagedLog(panel, {
    path: (before) => recipeUrl(recipe, `/runs${query({ limit: PAGE, before })}`),
    columns: ["Time", "Conversation", "Version", "Outcome", "Actions"],
    row: (run) => runRow(app, run),
    empty: "No runs yet.",
    more: "Load older runs",
    note: "Each run is also written to its conversation's history.",
    what: "runs",
    className: "runs-table",
  });
}

function deliveryRow(app, recipe, delivery, reload) {
  const redeliver = app.me.role === "admin" ? h("button", { class: "btn btn--small", type: "button", text: "Redeliver", "aria-label": `Redeliver ${delivery.id}` }) : null;
  redeliver?.addEventListener("click", async () => {
    redeliver.disabled = true;
    const answer = await attempt(() => post(recipeUrl(recipe, `/deliveries/${encodeURIComponent(delivery.id)}/redeliver`)), "Could not redeliver");
    if (answer) {
      toast("Queued for delivery again.", "success");
      reload();
    } else {
      redeliver.disabled = false;
    }
  });
  const attempts = delivery.attempt_log || [];
  const index = delivery.action_index;
  const action = Number.isInteger(index) ? (recipe.actions || [])[index] : null;
  const where = Number.isInteger(index) ? `Action ${index + 1}${action?.type === "webhook" && action.name ? `: ${action.name}` : ""}` : delivery.endpoint || "";
  return h("tr", { class: `delivery-row delivery-row--${delivery.state}`, dataset: { id: delivery.id } },
    h("td", { class: "activity-time" }, time(delivery.created_at)),
    h("td", { text: where }),
    h("td", {}, h("span", { class: `run-state run-state--${delivery.state}`, text: delivery.state }), delivery.error ? h("div", { class: "muted", text: delivery.error }) : null),
    h("td", { text: `${delivery.attempts ?? attempts.length}` }),
    h("td", { text: delivery.response_status ? `HTTP ${delivery.response_status}${delivery.duration_ms !== null && delivery.duration_ms !== undefined ? ` · ${delivery.duration_ms} ms` : ""}` : "—" }),
    h("td", {},
      h("details", {}, h("summary", { text: "Request and attempts" }),
        h("pre", { class: "delivery-body", text: delivery.request_body || "" }),
        delivery.response_excerpt ? h("pre", { class: "delivery-body", text: delivery.response_excerpt }) : null,
        h("ol", { class: "attempt-log" }, attempts.map((a) => h("li", { text: `${fullTime(a.ts)}: ${a.outcome}${a.response_status ? ` (HTTP ${a.response_status})` : ""}${a.duration_ms !== null && a.duration_ms !== undefined ? `, ${a.duration_ms} ms` : ""}${a.error ? `: ${a.error}` : ""}${a.retry_in ? `; retry in ${Math.round(a.retry_in / 1000)} s` : ""}` }))),
      ),
    ),
    h("td", { class: "table-actions" }, redeliver),
  );
}

/** The Webhook deliveries tab. */
export function renderDeliveries(panel, app, recipe) {
  pagedLog(panel, {
    path: (before) => recipeUrl(recipe, `/deliveries${query({ limit: PAGE, before })}`),
    columns: ["Time", "Webhook", "State", "Attempts", "Response", "Details", ""],
    row: (delivery, reload) => deliveryRow(app, recipe, delivery, reload),
    empty: "No webhook deliveries yet.",
    more: "Load older deliveries",
    note: "Deliveries of this recipe's webhook actions, newest first.",
    what: "deliveries",
    className: "deliveries-table",
  });
}
