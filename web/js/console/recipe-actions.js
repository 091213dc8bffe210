// The recipe editor's actions: a list of cards (add, remove, move up and down with
// buttons that keep the keyboard focus on the moved card) and a form per action type
// with exactly the parameters of the recipes contract. `draft.actions` is edited in
// place; the list redraws itself after structural changes so every control's JSON path
// (actions[<i>].<param>) stays right for the API's field errors.

import { h } from "../dom.js";
import {
  checkList, checkbox, choice, fill, joinList, numberInput, pathField, pathGroup, radios, splitList, textInput, uid,
} from "./recipe-form.js";
import { ACTION_TYPES, PRIORITIES, REPLY_MODES, WINDOWS, actionLabel } from "./recipe-summary.js";
import { newWebhookAction, webhookForm } from "./recipe-webhook.js";

export const MAX_ACTIONS = 20;
const PROPERTY_NAMES = [["country", "Country"], ["language", "Language"], ["sentiment", "Sentiment"], ["category", "Category"]];

/** A new action of `type` with the contract's defaults. */
export function newAction(type, kind) {
  switch (type) {
    case "notify":
      return { type, users: [], console: true, email: false, every: 1, at_most_every_minutes: 0 };
    case "assign":
      return { type, user: null };
    case "smart_assign":
      return { type, window: "24h", fallback: null };
    case "set_properties":
      return { type, properties: {} };
    case "reply":
      return { type, text: "", mode: "send" };
    case "add_tags":
    case "remove_tags":
      return { type, tags: [] };
    case "webhook":
      return newWebhookAction(kind);
    default:
      return { type };
  }
}

/** A checkbox field for the JSON path `path`, with an error slot of its own. */
function toggle(path, label, checked, onChange, hint = null) {
  return h("div", { class: "field field--toggle", dataset: { path } },
    checkbox(label, checked, onChange),
    hint ? h("p", { class: "field-hint", text: hint }) : null,
    h("p", { class: "field-error", role: "alert", hidden: true, id: uid("err") }),
  );
}

function notifyForm(action, path, { refs }) {
  const users = refs.users.filter((u) => u.active !== false).map((u) => [u.id, u.name]);
  return [
    pathGroup(`${path}.users`, "Notify", [checkList(users, action.users, (ids) => {
      action.users = ids;
    }, { scroll: users.length > 8 })]),
    h("div", { class: "form-grid" },
      toggle(`${path}.console`, "In the console", action.console !== false, (on) => {
        action.console = on;
      }),
      toggle(`${path}.email`, "By email", action.email === true, (on) => {
        action.email = on;
      }),
      pathField(`${path}.every`, "Notify once every N matches", numberInput(action.every ?? 1, (v) => {
        action.every = v;
      }, { min: "1" }), "1: every match. 5: once five new matches accumulated."),
      pathField(`${path}.at_most_every_minutes`, "At most every (minutes)", numberInput(action.at_most_every_minutes ?? 0, (v) => {
        action.at_most_every_minutes = v;
      }, { min: "0" }), "0: no limit."),
    ),
    pathField(`${path}.text`, "Text (optional)", textInput(action.text, (v) => {
      action.text = v;
    }, { placeholder: "Derived from the recipe name when empty" })),
  ];
}

function assignForm(action, path, { refs }) {
  const target = action.team ? "team" : "user";
  const picker = h("div");
  const draw = (which) => {
    const items = which === "team" ? refs.teams.map((t) => [t.id, t.name]) : refs.users.filter((u) => u.active !== false).map((u) => [u.id, u.name]);
    const select = choice([["", which === "team" ? "Choose a team…" : "Choose a user…"], ...items], action[which] || "");
    select.addEventListener("change", () => {
      action[which] = select.value || null;
    });
    const hint = which === "team" ? "Round robin among the team's members who are online; none online: the team itself." : null;
    fill(picker, pathField(`${path}.${which}`, which === "team" ? "Team" : "User", select, hint));
  };
  draw(target);
  return [
    pathGroup(`${path}.target`, "Assign to", [radios(uid("assign"), [["user", "A user"], ["team", "A team (round robin)"]], target, (which) => {
      delete action.user;
      delete action.team;
      action[which] = null;
      draw(which);
    })], { className: "group--bare" }),
    picker,
  ];
}

function assigneeOptions(refs, none) {
  return [
    ["", none],
    ...refs.users.filter((u) => u.active !== false).map((u) => [`user:${u.id}`, u.name]),
    ...refs.teams.map((t) => [`team:${t.id}`, `Team ${t.name}`]),
  ];
}

function smartAssignForm(action, path, { refs }) {
  const window = choice(WINDOWS, action.window || "24h");
  window.addEventListener("change", () => {
    action.window = window.value;
  });
  const current = action.fallback ? (action.fallback.team ? `team:${action.fallback.team}` : `user:${action.fallback.user}`) : "";
  const fallback = choice(assigneeOptions(refs, "Nobody (leave as is)"), current);
  fallback.addEventListener("change", () => {
    const [kind, id] = fallback.value.split(/:(.*)/s);
    action.fallback = fallback.value ? { [kind]: id } : null;
  });
  return [h("div", { class: "form-grid" },
    pathField(`${path}.window`, "Handled the same contact within", window, "Only if that agent is online now."),
    pathField(`${path}.fallback`, "Otherwise assign to", fallback),
  )];
}

function propertiesForm(action, path) {
  action.properties = action.properties || {};
  const props = action.properties;
  const rows = PROPERTY_NAMES.map(([name, label]) => {
    const input = textInput(props[name] ?? "", (v) => {
      if (v.trim()) props[name] = v;
      else delete props[name];
    }, { placeholder: "Unchanged" });
    input.disabled = props[name] === null;
    const clearBox = checkbox(`Clear ${label.toLowerCase()}`, props[name] === null, (on) => {
      input.disabled = on;
      if (on) props[name] = null;
      else if (input.value.trim()) props[name] = input.value;
      else delete props[name];
    });
    const wrap = pathField(`${path}.properties.${name}`, label, input);
    wrap.insertBefore(clearBox, input.nextSibling);
    return wrap;
  });
  const priority = choice([["", "Unchanged"], ...PRIORITIES], props.priority || "");
  priority.addEventListener("change", () => {
    if (priority.value) props.priority = priority.value;
    else delete props.priority;
  });
  return [pathGroup(`${path}.properties`, null, [h("div", { class: "form-grid" }, rows, pathField(`${path}.properties.priority`, "Priority", priority))], { className: "group--bare" })];
}

function replyForm(action, path) {
  const text = h("textarea", { class: "textarea", rows: "4", maxlength: "16000" });
  text.value = action.text || "";
  text.addEventListener("input", () => {
    action.text = text.value;
  });
  const mode = choice(REPLY_MODES, action.mode || "send");
  mode.addEventListener("change", () => {
    action.mode = mode.value;
  });
  return [pathField(`${path}.text`, "Reply text", text), pathField(`${path}.mode`, "How", mode)];
}

function tagsForm(action, path) {
  return [pathField(`${path}.tags`, "Tags", textInput(joinList(action.tags), (v) => {
    action.tags = splitList(v);
  }, { placeholder: "vip, billing" }), "Comma-separated, up to 20.")];
}

function noteFor(action, { triggerType }) {
  if (action.type === "hide_message") {
    return [h("p", { class: triggerType === "new_message" ? "muted" : "banner banner--error", text: triggerType === "new_message"
      ? "Hides (deletes for everyone) the message that triggered the run."
      : "Only possible with the “New message” trigger." })];
  }
  if (action.type === "block_contact") return [h("p", { class: "muted", text: "The contact's token stops working and new sends are refused." })];
  return [h("p", { class: "muted", text: "No settings." })];
}

const FORMS = {
  notify: notifyForm,
  assign: assignForm,
  smart_assign: smartAssignForm,
  set_properties: propertiesForm,
  reply: replyForm,
  add_tags: tagsForm,
  remove_tags: tagsForm,
  webhook: webhookForm,
};

function actionCard(draft, index, ctx, redraw) {
  const action = draft.actions[index];
  const path = `actions[${index}]`;
  const n = index + 1;
  const count = draft.actions.length;
  const move = (delta, which) => {
    const [moved] = draft.actions.splice(index, 1);
    draft.actions.splice(index + delta, 0, moved);
    redraw({ index: index + delta, button: which });
  };
  const up = h("button", { class: "btn btn--small btn--ghost", type: "button", dataset: { move: "up" }, "aria-label": `Move action ${n} up`, title: "Move up", text: "↑", disabled: index === 0 });
  const down = h("button", { class: "btn btn--small btn--ghost", type: "button", dataset: { move: "down" }, "aria-label": `Move action ${n} down`, title: "Move down", text: "↓", disabled: index === count - 1 });
  const remove = h("button", { class: "btn btn--small btn--ghost btn--danger", type: "button", "aria-label": `Remove action ${n}`, text: "Remove" });
  up.addEventListener("click", () => move(-1, "up"));
  down.addEventListener("click", () => move(1, "down"));
  remove.addEventListener("click", () => {
    draft.actions.splice(index, 1);
    redraw({ index: Math.min(index, draft.actions.length - 1), button: "add" });
  });
  const form = FORMS[action.type] || noteFor;
  return pathGroup(path, `Action ${n}: ${actionLabel(action.type)}`, [
    ctx.readOnly ? null : h("div", { class: "action-tools" }, up, down, remove),
    h("div", { class: "action-body" }, form(action, path, ctx)),
  ], { className: "action-card" });
}

/**
 * The actions part of the editor for `draft.actions`. ctx: {refs, app, readOnly,
 * kind(): "new_item"|"update", triggerType(): string}. Returns {el, redraw()}.
 */
export function actionsSection(draft, ctx) {
  draft.actions = draft.actions || [];
  const list = h("div", { class: "action-list" });
  const typeSelect = choice(ACTION_TYPES, "resolve", { "aria-label": "Action to add" });
  const add = h("button", { class: "btn btn--small", type: "button", dataset: { move: "add" }, text: "Add action" });
  add.addEventListener("click", () => {
    draft.actions.push(newAction(typeSelect.value, ctx.kind()));
    redraw({ index: draft.actions.length - 1, button: "first" });
  });
  const adder = h("div", { class: "action-adder" }, typeSelect, add);

  function redraw(focus = null) {
    const state = { ...ctx, kind: ctx.kind(), triggerType: ctx.triggerType() };
    fill(list, draft.actions.length
      ? draft.actions.map((_, i) => actionCard(draft, i, state, redraw))
      : h("p", { class: "muted", text: "No actions yet: a recipe needs at least one." }));
    add.disabled = draft.actions.length >= MAX_ACTIONS;
    if (!focus) return;
    const card = list.children[focus.index];
    let target = null;
    if (card && focus.button === "first") target = card.querySelector(".action-body :is(input, select, textarea)");
    else if (card && focus.button !== "add") target = card.querySelector(`[data-move="${focus.button}"]:not(:disabled)`) || card.querySelector("[data-move]:not(:disabled)");
    (target || (card ? card.querySelector("button") : null) || typeSelect).focus();
  }
  redraw();
  const el = pathGroup("actions", "Actions", [
    h("p", { class: "field-hint", text: "Run in this order. The same action may appear more than once." }),
    list,
    ctx.readOnly ? null : adder,
  ], { className: "editor-section" });
  return { el, redraw: () => redraw() };
}
