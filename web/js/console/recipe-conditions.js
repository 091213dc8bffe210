// The recipe editor's filter: everything, a saved inbox filter, or custom conditions
// (rows of field, operator and value joined by all/any). Each field offers only the
// operators the contract allows for it, and the value control follows the operator: a
// select for known values (several for "is any of"), text or a comma-separated list
// otherwise, nothing for "is set". The filter object of the draft is edited in place.

import { h } from "../dom.js";
import {
  choice, fill, joinList, pathField, pathGroup, radios, splitList, textInput, uid,
} from "./recipe-form.js";
import { CHANNELS, PRIORITIES, STATUSES } from "./recipe-summary.js";

export const MAX_CONDITIONS = 20;
const EQUALITY = ["is", "is_not", "in", "not_in"];
const TEXTUAL = [...EQUALITY, "contains", "not_contains", "is_set", "is_not_set"];
const LISTS = new Set(["in", "not_in", "includes", "excludes", "matches_keywords"]);
const NO_VALUE = new Set(["is_set", "is_not_set"]);

const OPERATOR_LABELS = {
  is: "is",
  is_not: "is not",
  in: "is any of",
  not_in: "is none of",
  contains: "contains",
  not_contains: "does not contain",
  is_set: "is set",
  is_not_set: "is not set",
  includes: "include any of",
  excludes: "include none of",
  matches_keywords: "matches keywords",
  gt: "is higher than",
  lt: "is lower than",
};

/** The condition fields: operators and, for fields with known values, their choices. */
function fieldCatalog(refs) {
  const users = refs.users.map((u) => [u.id, u.name]);
  return [
    { id: "status", label: "Status", ops: EQUALITY, choices: STATUSES },
    { id: "kind", label: "Message kind", ops: EQUALITY, choices: [["attendee_message", "Attendee message"], ["staff_reply", "Staff reply"]] },
    { id: "author_kind", label: "Author kind", ops: EQUALITY, choices: [["contact", "Contact"], ["staff", "Staff"], ["bot", "Bot"], ["system", "System"]] },
    { id: "author", label: "Author", ops: EQUALITY, hint: "A participant id (user id for staff)" },
    { id: "channel", label: "Channel", ops: EQUALITY, choices: CHANNELS },
    { id: "context", label: "Context", ops: EQUALITY, choices: refs.contexts.map((c) => [c.id, c.title]) },
    { id: "priority", label: "Priority", ops: [...EQUALITY, "gt", "lt"], choices: PRIORITIES },
    { id: "assignee", label: "Assignee", ops: EQUALITY, choices: [["unassigned", "Unassigned"], ...users, ...refs.teams.map((t) => [`team:${t.id}`, `Team ${t.name}`])] },
    { id: "tags", label: "Tags", ops: ["includes", "excludes"] },
    { id: "language", label: "Language", ops: TEXTUAL },
    { id: "country", label: "Country", ops: TEXTUAL },
    { id: "contact_email", label: "Contact email", ops: TEXTUAL },
    { id: "contact_name", label: "Contact name", ops: TEXTUAL },
    { id: "text", label: "Message text", ops: ["contains", "not_contains", "matches_keywords", "is_set", "is_not_set"] },
    { id: "property", label: "Property…", ops: TEXTUAL },
  ];
}

const baseField = (field) => (String(field).startsWith("property.") ? "property" : field);

function defaultValue(spec, operator) {
  if (NO_VALUE.has(operator)) return undefined;
  if (LISTS.has(operator)) return [];
  return spec.choices?.[0]?.[0] ?? "";
}

/** Keep what was typed when the operator changes between one value and a list. */
function convertValue(value, spec, operator) {
  if (NO_VALUE.has(operator)) return undefined;
  if (LISTS.has(operator)) {
    if (Array.isArray(value)) return value;
    return value === undefined || value === "" ? [] : [value];
  }
  if (Array.isArray(value)) return value[0] ?? defaultValue(spec, operator);
  return value ?? defaultValue(spec, operator);
}

/** A new condition row's data. */
export function newCondition() {
  return { field: "status", operator: "is", value: "open" };
}

function valueControl(condition, spec, onChange) {
  const { operator } = condition;
  if (spec.choices) {
    if (LISTS.has(operator)) {
      const select = choice(spec.choices, null, { multiple: true, size: String(Math.min(spec.choices.length, 5)) });
      const chosen = new Set(Array.isArray(condition.value) ? condition.value : [condition.value]);
      for (const option of select.options) option.selected = chosen.has(option.value);
      select.addEventListener("change", () => onChange([...select.selectedOptions].map((o) => o.value)));
      return select;
    }
    const options = spec.choices.some(([v]) => v === condition.value) || condition.value === undefined
      ? spec.choices
      : [[condition.value, `${condition.value} (unknown)`], ...spec.choices];
    const select = choice(options, condition.value);
    select.addEventListener("change", () => onChange(select.value));
    return select;
  }
  if (LISTS.has(operator)) {
    return textInput(joinList(condition.value), (text) => onChange(splitList(text)), { placeholder: "Comma-separated" });
  }
  return textInput(condition.value, onChange, { placeholder: spec.hint || "" });
}

function conditionRow(filter, index, refs, redraw, readOnly) {
  const condition = filter.conditions[index];
  const catalog = fieldCatalog(refs);
  const base = baseField(condition.field);
  const spec = catalog.find((f) => f.id === base) || { id: base, label: base, ops: [condition.operator] };
  const path = `filter.conditions[${index}]`;
  const n = index + 1;

  const fieldSelect = choice(catalog.map((f) => [f.id, f.label]), base, { "aria-label": `Condition ${n} field` });
  fieldSelect.addEventListener("change", () => {
    const next = catalog.find((f) => f.id === fieldSelect.value);
    condition.field = next.id === "property" ? "property." : next.id;
    condition.operator = next.ops[0];
    condition.value = defaultValue(next, condition.operator);
    redraw();
  });
  const fieldWrap = pathField(`${path}.field`, "Field", fieldSelect);
  if (base === "property") {
    const name = textInput(String(condition.field).slice("property.".length), (text) => {
      condition.field = `property.${text.trim()}`;
    }, { "aria-label": `Condition ${n} property name`, placeholder: "Property name" });
    fieldWrap.insertBefore(name, fieldSelect.nextSibling);
  }

  const ops = spec.ops.includes(condition.operator) ? spec.ops : [condition.operator, ...spec.ops];
  const opSelect = choice(ops.map((op) => [op, OPERATOR_LABELS[op] || op]), condition.operator, { "aria-label": `Condition ${n} operator` });
  opSelect.addEventListener("change", () => {
    condition.operator = opSelect.value;
    condition.value = convertValue(condition.value, spec, condition.operator);
    redraw();
  });

  let valueWrap = h("div", { class: "field condition-novalue", "aria-hidden": "true" });
  if (!NO_VALUE.has(condition.operator)) {
    const control = valueControl(condition, spec, (value) => {
      condition.value = value;
    });
    control.setAttribute("aria-label", `Condition ${n} value`);
    const hint = condition.operator === "matches_keywords" ? "Whole words, any of them, case-insensitive." : null;
    valueWrap = pathField(`${path}.value`, "Value", control, hint);
  }

  const remove = h("button", { class: "icon-button condition-remove", type: "button", "aria-label": `Remove condition ${n}`, title: "Remove condition", text: "×" });
  remove.addEventListener("click", () => {
    filter.conditions.splice(index, 1);
    redraw(Math.min(index, filter.conditions.length - 1));
  });
  return pathGroup(path, `Condition ${n}`, [
    h("div", { class: "condition-grid" }, fieldWrap, pathField(`${path}.operator`, "Operator", opSelect), valueWrap, readOnly ? null : remove),
  ], { className: "condition" });
}

/**
 * The filter part of the editor for `draft.filter` (edited in place).
 * refs: {users, teams, contexts, savedFilters}.
 */
export function filterSection(draft, refs, { readOnly = false } = {}) {
  draft.filter = draft.filter || { type: "all" };
  const filter = draft.filter;
  const name = uid("filter");
  const body = h("div", { class: "filter-body" });
  const section = pathGroup("filter", "Filter", [
    pathGroup("filter.type", null, [radios(name, [["all", "Everything"], ["saved", "A saved filter"], ["conditions", "Custom conditions"]], filter.type, (type) => {
      filter.type = type;
      if (type === "conditions" && !filter.conditions?.length) filter.conditions = [newCondition()];
      if (type === "conditions" && !filter.match) filter.match = "all";
      draw();
    }, "Which conversations")], { className: "group--bare" }),
    body,
  ], { className: "editor-section" });

  function draw(focusRow = null) {
    if (filter.type === "saved") {
      const options = [["", "Choose a saved filter…"], ...refs.savedFilters.map((f) => [f.id, f.name])];
      if (filter.saved_filter && !refs.savedFilters.some((f) => f.id === filter.saved_filter)) options.push([filter.saved_filter, `${filter.saved_filter} (deleted?)`]);
      const select = choice(options, filter.saved_filter || "");
      select.addEventListener("change", () => {
        filter.saved_filter = select.value || null;
      });
      const hint = refs.savedFilters.length ? "The same filters as the inbox." : "No saved filters yet: save one from the inbox.";
      fill(body, pathField("filter.saved_filter", "Saved filter", select, hint));
      return;
    }
    if (filter.type !== "conditions") {
      fill(body, h("p", { class: "muted", text: "Every conversation in scope." }));
      return;
    }
    filter.conditions = filter.conditions || [];
    const match = choice([["all", "All of these conditions"], ["any", "Any of these conditions"]], filter.match || "all");
    match.addEventListener("change", () => {
      filter.match = match.value;
    });
    const rows = h("div", { class: "condition-list" }, filter.conditions.map((_, i) => conditionRow(filter, i, refs, draw, readOnly)));
    const add = h("button", { class: "btn btn--small", type: "button", text: "Add condition", disabled: filter.conditions.length >= MAX_CONDITIONS });
    add.addEventListener("click", () => {
      filter.conditions.push(newCondition());
      draw(filter.conditions.length - 1);
    });
    fill(body,
      pathField("filter.match", "Match", match),
      pathGroup("filter.conditions", null, [rows], { className: "group--bare" }),
      readOnly ? null : add,
    );
    if (focusRow !== null && focusRow >= 0) rows.children[focusRow]?.querySelector("select")?.focus();
    else if (focusRow !== null) add.focus();
  }
  draw();
  return section;
}
