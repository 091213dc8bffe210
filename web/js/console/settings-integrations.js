// Shared parts of the integration settings pages (Slack, mail): form fields that show the
// API's validation message next to the field it names, and the activity and error log
// with "Errors only", paging and a re-drive button. Server data is only ever rendered as
// text (h(..., {text}) / text nodes), never as HTML.

import { h, clear } from "../dom.js";
import { fullTime } from "../format.js";
import { get, post, query } from "./api.js";
import { attempt, toast } from "./toast.js";

// How often an open activity log re-reads the log and the held count (ms): the log is
// written by background deliveries, and admins watch it while fixing things.
const ACTIVITY_REFRESH_MS = 3000;
// Entries per page of the activity log.
const ACTIVITY_PAGE = 50;

/**
 * A labelled form field with a hint and a slot for the API's error about it.
 * Returns the <label>; `setError(text)` on it shows (or, with null, hides) the error.
 */
export function formField(label, control, hint = null) {
  const id = control.id || `f-${control.name || Math.random().toString(36).slice(2)}`;
  control.id = id;
  const error = h("p", { class: "field-error", role: "alert", hidden: true, id: `${id}-error` });
  const wrap = h("div", { class: "field", dataset: { field: control.name || "" } },
    h("label", { for: id, text: label }),
    control,
    hint ? h("p", { class: "field-hint", text: hint }) : null,
    error,
  );
  wrap.setError = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
    if (text) control.setAttribute("aria-describedby", error.id);
    else control.removeAttribute("aria-describedby");
    control.toggleAttribute("aria-invalid", Boolean(text));
  };
  return wrap;
}

/** A checkbox with its label and an optional hint below. */
export function toggleField(label, name, checked, hint = null) {
  const box = h("input", { type: "checkbox", name, checked: Boolean(checked) });
  const wrap = h("div", { class: "field field--toggle", dataset: { field: name } },
    h("label", { class: "check" }, box, label),
    hint ? h("p", { class: "field-hint", text: hint }) : null,
  );
  wrap.input = box;
  wrap.setError = () => {};
  return wrap;
}

/**
 * Show an API error of a settings PUT next to the field its message names ("api_url must
 * be ...": the API's messages start with the field), else in `fallback`.
 */
export function showFieldError(fields, fallback, error) {
  for (const wrap of Object.values(fields)) wrap.setError(null);
  fallback.hidden = true;
  const name = String(error.message || "").split(/[\s:]/)[0];
  if (error.status === 400 && fields[name]) {
    fields[name].setError(error.message);
    fields[name].querySelector("input, select")?.focus();
    return;
  }
  fallback.textContent = error.message;
  fallback.hidden = false;
}

/** A banner of `kind` (info, error, success) with text only. */
export function banner(kind, text) {
  return h("p", { class: `banner banner--${kind}`, role: kind === "error" ? "alert" : "status", text });
}

function conversationLink(app, id) {
  const href = `/console/conversations/${encodeURIComponent(id)}`;
  const link = h("a", { href, class: "mono", text: id });
  link.addEventListener("click", (event) => {
    event.preventDefault();
    app.navigate(href);
  });
  return link;
}

function activityRow(app, item) {
  const result = h("td", {}, h("div", { class: "activity-result" },
    h("div", {}, h("span", { class: `level level--${item.level}`, text: item.level }), item.code ? h("code", { class: "activity-code", text: item.code }) : null),
    h("div", { class: "activity-message", text: item.message }),
    item.hint ? h("div", { class: "activity-hint" }, h("strong", { text: "Fix: " }), item.hint) : null,
  ));
  return h("tr", { class: `activity-row activity-row--${item.level}`, dataset: { id: String(item.id) } },
    h("td", { class: "activity-time" }, h("time", { datetime: new Date(item.ts).toISOString(), text: fullTime(item.ts) })),
    h("td", {}, h("code", { text: item.action })),
    h("td", {}, item.conversation ? conversationLink(app, item.conversation) : h("span", { class: "muted", text: "—" })),
    result,
  );
}

/**
 * The activity and error log of an integration, newest first.
 * @param {HTMLElement} body the settings page body
 * @param {object} app the console
 * @param {{base: string, held: () => Promise<number>, heldWord: string, button: string, empty: string}} opts
 *   base: "/integrations/slack"; held(): how many wait for a re-drive; heldWord: what
 *   they are called ("held operation"); button: the re-drive button's label.
 */
export function renderActivityLog(body, app, { base, held, heldWord, button, empty }) {
  let errorsOnly = false;
  let next = null;
  let heldCount = 0;
  const errorsBox = h("input", { type: "checkbox", name: "errors_only" });
  const tbody = h("tbody");
  const table = h("table", { class: "table activity" },
    h("thead", {}, h("tr", {}, ["Time", "Operation", "Conversation", "Result"].map((t) => h("th", { text: t })))),
    tbody,
  );
  const emptyNote = h("p", { class: "empty-card", hidden: true, text: empty });
  const more = h("button", { class: "btn btn--small inbox-more", type: "button", hidden: true, text: "Load older entries" });
  const heldNote = h("span", { class: "muted held-note" });
  const redrive = h("button", { class: "btn btn--primary", type: "button", text: button, disabled: true });
  const outcome = h("div", { class: "redrive-outcome" });
  const refresh = h("button", { class: "btn", type: "button", text: "Refresh" });

  const showHeld = (n) => {
    heldCount = n;
    redrive.disabled = n === 0;
    heldNote.textContent = n === 0 ? "Nothing waits for a re-drive." : `${n} ${heldWord}${n === 1 ? "" : "s"} waiting for a re-drive.`;
  };
  const fill = (items, append) => {
    if (!append) clear(tbody);
    tbody.append(...items.map((item) => activityRow(app, item)));
    emptyNote.hidden = tbody.children.length > 0;
    table.hidden = tbody.children.length === 0;
  };
  const load = async ({ quiet = false, older = false } = {}) => {
    const path = `${base}/activity${query({ errors_only: errorsOnly ? 1 : "", limit: ACTIVITY_PAGE, before: older ? next : "" })}`;
    const answer = quiet ? await get(path).catch(() => null) : await attempt(() => get(path), "Could not load the activity");
    const count = quiet ? await held().catch(() => null) : await attempt(held, "Could not read the queue");
    if (answer) {
      // A quiet refresh only replaces the first page when the reader has not paged on.
      if (!(quiet && tbody.children.length > ACTIVITY_PAGE)) {
        fill(answer.items, older);
        next = answer.next;
        more.hidden = !next;
      }
    }
    if (typeof count === "number") showHeld(count);
  };

  errorsBox.addEventListener("change", () => {
    errorsOnly = errorsBox.checked;
    load();
  });
  more.addEventListener("click", () => load({ older: true }));
  refresh.addEventListener("click", () => load());
  redrive.addEventListener("click", async () => {
    redrive.disabled = true;
    const answer = await attempt(() => post(`${base}/redrive`), "Could not re-drive");
    if (answer) {
      const n = answer.redriven;
      const text = n === 0 ? "Nothing was waiting." : `Released ${n} ${heldWord}${n === 1 ? "" : "s"}, in their original order.`;
      clear(outcome).append(banner("success", text));
      toast(text, "success");
    }
    await load();
    if (!answer) redrive.disabled = heldCount === 0;
  });

  body.append(
    h("div", { class: "activity-bar" },
      h("label", { class: "check" }, errorsBox, "Errors only"),
      refresh,
      h("span", { class: "rail-spacer" }),
      heldNote,
      redrive,
    ),
    outcome,
    table,
    emptyNote,
    more,
  );
  load();
  const timer = setInterval(() => {
    if (!body.isConnected) clearInterval(timer);
    else if (!document.hidden) load({ quiet: true });
  }, ACTIVITY_REFRESH_MS);
}
