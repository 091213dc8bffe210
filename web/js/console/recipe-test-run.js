// The recipe editor's "Test run": pick a conversation (recent ones, or search), evaluate
// the definition as it is in the editor (saved or not) against it through
// POST /api/v1/recipes/test-run, and show what would happen: scope and business hours,
// each condition with the value it saw, and what every action would do. Nothing is done.

import { h } from "../dom.js";
import { get, post, query } from "./api.js";
import { checksTable } from "./recipe-history.js";
import { choice, fill, pathField, textInput } from "./recipe-form.js";
import { actionLabel } from "./recipe-summary.js";
import { attempt } from "./toast.js";

const RECENT = 50;

function conversationLabel(c) {
  const who = c.contact?.name || "Unknown visitor";
  const where = c.context?.title ? ` · ${c.context.title}` : "";
  const preview = c.preview ? ` · ${c.preview.length > 50 ? `${c.preview.slice(0, 50)}…` : c.preview}` : "";
  return `${who}${where} · ${c.status}${preview}`;
}

function whyNot(answer) {
  if (answer.in_scope === false) return "The conversation is outside the recipe's scope.";
  if (answer.business_hours && answer.business_hours.ok === false) return answer.business_hours.reason || "Not at this time (business hours).";
  if (answer.matched === false) return "The filter does not match.";
  return "";
}

function verdict(answer) {
  const runs = Boolean(answer.would_run);
  return h("p", { class: `banner ${runs ? "banner--success" : "banner--info"} test-verdict`, role: "status" },
    h("strong", { text: runs ? "The recipe would run now." : "The recipe would not run now." }),
    runs ? "" : ` ${whyNot(answer)}`,
  );
}

function gate(label, ok, detail = null) {
  return h("li", { class: ok ? "check-ok" : "check-fail" },
    h("span", { class: `check-mark check-mark--${ok ? "ok" : "fail"}`, role: "img", "aria-label": ok ? "passes" : "fails", text: ok ? "✓" : "✗" }),
    ` ${label}`,
    detail ? h("span", { class: "muted", text: ` (${detail})` }) : null,
  );
}

function hoursGate(hours) {
  if (!hours || !hours.schedule) return null;
  const state = hours.open === null || hours.open === undefined ? "schedule missing" : hours.open ? "open now" : "closed now";
  return gate(`Business hours: only ${hours.when} ${hours.name || hours.schedule}`, hours.ok, state);
}

function messageNote(message) {
  if (!message) return h("p", { class: "muted", text: "The conversation has no message: message conditions see none." });
  const body = String(message.body ?? "");
  const who = message.author?.name || message.author?.kind || "someone";
  return h("p", { class: "muted test-message", text: `Message used (the latest): #${message.seq} by ${who}: “${body.length > 80 ? `${body.slice(0, 80)}…` : body}”` });
}

function plannedList(actions) {
  if (!actions?.length) return h("p", { class: "muted", text: "No actions." });
  return h("ol", { class: "test-actions" }, actions.map((a) =>
    h("li", { class: a.skip ? "test-action test-action--skipped" : "test-action" },
      h("strong", { text: actionLabel(a.type) }),
      ": ",
      a.skip ? h("span", { text: `would be skipped: ${a.skip}` }) : h("span", { text: a.describe || "would run" }),
    ),
  ));
}

/** Render the answer of POST /recipes/test-run. */
export function testRunResult(answer) {
  return h("section", { class: "test-result", "aria-label": "Test run result" },
    verdict(answer),
    h("ul", { class: "test-gates" },
      gate("In scope", answer.in_scope !== false),
      hoursGate(answer.business_hours),
      gate("Filter matches", answer.matched !== false),
    ),
    messageNote(answer.message),
    h("h4", { text: "Conditions" }),
    checksTable(answer.checks || []),
    h("h4", { text: "What the actions would do" }),
    plannedList(answer.actions),
  );
}

/**
 * The Test run tab. definitionOf(): the editor's current definition, or null when the
 * editor was never opened (then the saved recipe is tested).
 */
export function renderTestRun(panel, app, definitionOf, recipe) {
  const select = choice([["", "Loading conversations…"]], "");
  const search = textInput("", () => {}, { type: "search", placeholder: "Search messages", "aria-label": "Search conversations" });
  const find = h("button", { class: "btn btn--small", type: "button", text: "Search" });
  const run = h("button", { class: "btn btn--primary", type: "submit", text: "Run test" });
  const output = h("div", { class: "test-output", "aria-live": "polite" });
  const load = async () => {
    const answer = await attempt(() => get(`/conversations${query({ limit: RECENT, q: search.value.trim() })}`), "Could not load conversations");
    const items = answer?.items || [];
    fill(select, h("option", { value: "", text: items.length ? "Choose a conversation…" : "No conversations found" }),
      items.map((c) => h("option", { value: c.id, text: conversationLabel(c) })));
  };
  find.addEventListener("click", load);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      load();
    }
  });
  const form = h("form", { class: "inline-form test-form", "aria-label": "Test run", novalidate: true },
    h("p", { class: "muted", text: "Evaluates the recipe as it is in the editor, saved or not, against one conversation. Nothing is changed, sent or called." }),
    h("div", { class: "test-pick" }, pathField("conversation", "Conversation", select), h("div", { class: "test-search" }, search, find)),
    h("div", { class: "form-actions" }, run),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!select.value) {
      fill(output, h("p", { class: "banner banner--error", role: "alert", text: "Choose a conversation first." }));
      select.focus();
      return;
    }
    const definition = definitionOf();
    const body = definition ? { definition, conversation: select.value } : { recipe: recipe.id, conversation: select.value };
    run.disabled = true;
    try {
      const answer = await post("/recipes/test-run", body);
      fill(output, testRunResult(answer));
    } catch (error) {
      fill(output, h("p", { class: "banner banner--error", role: "alert", text: `The test could not run: ${error.message}` }));
    } finally {
      run.disabled = false;
    }
  });
  panel.append(form, output);
  load();
}
