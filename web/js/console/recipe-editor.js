// The recipe editor: name and enabled flag, trigger, scope, filter, business hours and
// actions of one recipe definition (the JSON of the recipes contract). It edits a deep
// copy of the definition (the "draft"); `definition()` returns the cleaned JSON the API
// takes (only the parameters the trigger and filter types use). Saving POSTs or PUTs it;
// a 400 is shown next to the field its `field` path names. The same editor, disabled,
// is the read-only view for agents and for old versions.

import { h } from "../dom.js";
import { api, post } from "./api.js";
import { actionsSection } from "./recipe-actions.js";
import { filterSection } from "./recipe-conditions.js";
import {
  checkList, checkbox, choice, clearErrors, fill, joinList, numberInput, pathField, pathGroup, showError, splitList, textInput,
} from "./recipe-form.js";
import { CHANNELS, MAX_MINUTES, STATUSES, TIMER_TRIGGERS, TRIGGERS, triggerKind } from "./recipe-summary.js";

const CUSTOM_PREFIX = "custom:";

/** The definition a new recipe starts from. */
export function blankDefinition() {
  return {
    name: "",
    enabled: true,
    trigger: { type: "new_conversation" },
    scope: { contexts: [], channels: [] },
    filter: { type: "all" },
    business_hours: null,
    actions: [],
  };
}

const DEFINITION_KEYS = ["name", "enabled", "trigger", "scope", "filter", "business_hours", "actions"];

/** The definition part of a recipe as REST shows it (definition keys beside id, version…). */
export function definitionOf(recipe) {
  if (!recipe) return null;
  const source = recipe.definition || recipe;
  return Object.fromEntries(DEFINITION_KEYS.filter((k) => k in source).map((k) => [k, structuredClone(source[k])]));
}

/** The JSON the API takes, from the editor's draft: unused parameters left out. */
export function cleanDefinition(draft) {
  const t = draft.trigger || {};
  const trigger = { type: t.type };
  if (t.type === "status_changed") trigger.status = t.status ?? null;
  if (t.type === "tag_added") trigger.tag = String(t.tag ?? "").trim();
  if (TIMER_TRIGGERS.has(t.type)) trigger.minutes = t.minutes ?? null;
  const f = draft.filter || { type: "all" };
  let filter = { type: f.type };
  if (f.type === "saved") filter.saved_filter = f.saved_filter ?? null;
  if (f.type === "conditions") {
    filter = {
      type: "conditions",
      match: f.match || "all",
      conditions: (f.conditions || []).map((c) => (c.value === undefined ? { field: c.field, operator: c.operator } : { field: c.field, operator: c.operator, value: c.value })),
    };
  }
  const kind = triggerKind(trigger);
  const actions = (draft.actions || []).map((action) => {
    const out = structuredClone(action);
    if (out.type === "notify" && !String(out.text ?? "").trim()) delete out.text;
    if (out.type === "webhook") {
      if (kind !== "new_item") delete out.fields;
      if (!String(out.description ?? "").trim()) delete out.description;
      if (!String(out.authorization ?? "").trim()) delete out.authorization;
    }
    return out;
  });
  return {
    name: String(draft.name ?? "").trim(),
    enabled: draft.enabled !== false,
    trigger,
    scope: { contexts: [...(draft.scope?.contexts || [])], channels: [...(draft.scope?.channels || [])] },
    filter,
    business_hours: draft.business_hours && draft.business_hours.schedule !== undefined ? { schedule: draft.business_hours.schedule || null, when: draft.business_hours.when } : null,
    actions,
  };
}

function triggerSection(draft, onKind) {
  const extra = h("div", { class: "trigger-extra" });
  const type = choice(TRIGGERS, draft.trigger.type);
  const drawExtra = () => {
    const t = draft.trigger;
    if (t.type === "status_changed") {
      t.status = t.status || "resolved";
      const status = choice(STATUSES, t.status);
      status.addEventListener("change", () => {
        t.status = status.value;
      });
      fill(extra, pathField("trigger.status", "Status", status));
    } else if (t.type === "tag_added") {
      fill(extra, pathField("trigger.tag", "Tag", textInput(t.tag, (v) => {
        t.tag = v;
      }, { maxlength: "64", placeholder: "vip" })));
    } else if (TIMER_TRIGGERS.has(t.type)) {
      fill(extra, pathField("trigger.minutes", "Minutes", numberInput(t.minutes ?? 30, (v) => {
        t.minutes = v;
      }, { min: "1", max: String(MAX_MINUTES), step: "1" }), t.type === "no_attendee_reply"
        ? "Counted from the last staff reply while the attendee has not answered."
        : "Counted from when the conversation entered that state."));
      if (t.minutes === undefined) t.minutes = 30;
    } else {
      fill(extra);
    }
  };
  type.addEventListener("change", () => {
    const before = triggerKind(draft.trigger);
    draft.trigger = { type: type.value, status: draft.trigger.status, tag: draft.trigger.tag, minutes: draft.trigger.minutes };
    drawExtra();
    onKind(before !== triggerKind(draft.trigger));
  });
  drawExtra();
  return pathGroup("trigger", "Trigger", [h("div", { class: "form-grid" }, pathField("trigger.type", "When", type), extra)], { className: "editor-section" });
}

function scopeSection(draft, refs) {
  draft.scope = draft.scope || { contexts: [], channels: [] };
  const scope = draft.scope;
  const known = new Set(CHANNELS.map(([v]) => v));
  const standard = () => (scope.channels || []).filter((c) => known.has(c));
  const custom = () => (scope.channels || []).filter((c) => c.startsWith(CUSTOM_PREFIX)).map((c) => c.slice(CUSTOM_PREFIX.length));
  let chosenStandard = standard();
  let chosenCustom = custom();
  const sync = () => {
    scope.channels = [...chosenStandard, ...chosenCustom.map((name) => `${CUSTOM_PREFIX}${name}`)];
  };
  const contexts = refs.contexts.map((c) => [c.id, c.title]);
  return pathGroup("scope", "Scope", [
    h("p", { class: "field-hint", text: "Nothing chosen: all of them." }),
    h("div", { class: "form-grid" },
      pathGroup("scope.contexts", "Webinars and contexts", [checkList(contexts, scope.contexts, (ids) => {
        scope.contexts = ids;
      }, { scroll: contexts.length > 6, empty: "No contexts yet." })], { className: "group--bare" }),
      pathGroup("scope.channels", "Channels", [
        checkList(CHANNELS, chosenStandard, (values) => {
          chosenStandard = values;
          sync();
        }),
        pathField("scope.channels.custom", "Custom channels", textInput(joinList(chosenCustom), (v) => {
          chosenCustom = splitList(v);
          sync();
        }, { placeholder: "Comma-separated names" })),
      ], { className: "group--bare" }),
    ),
  ], { className: "editor-section" });
}

function hoursSection(draft, refs) {
  const rule = draft.business_hours;
  const when = choice([["", "Any time"], ["inside", "Only inside business hours"], ["outside", "Only outside business hours"]], rule ? rule.when : "");
  const options = [["", "Choose a schedule…"], ...refs.schedules.map((s) => [s.id, `${s.name} (${s.timezone})`])];
  if (rule?.schedule && !refs.schedules.some((s) => s.id === rule.schedule)) options.push([rule.schedule, rule.schedule]);
  const schedule = choice(options, rule?.schedule || "");
  const scheduleField = pathField("business_hours.schedule", "Schedule", schedule,
    refs.schedules.length ? null : "No schedules yet: add one under Settings, Business hours.");
  const sync = () => {
    scheduleField.hidden = !when.value;
    draft.business_hours = when.value ? { schedule: schedule.value || null, when: when.value } : null;
  };
  when.addEventListener("change", sync);
  schedule.addEventListener("change", sync);
  sync();
  return pathGroup("business_hours", "Business hours", [
    h("div", { class: "form-grid" }, pathField("business_hours.when", "Runs", when), scheduleField),
  ], { className: "editor-section" });
}

/**
 * The editor. refs: {users, teams, contexts, savedFilters, schedules}. Options: recipe
 * (the stored recipe when editing), definition (what to show), readOnly, onSaved(answer).
 * Returns {el, definition()}.
 */
export function recipeEditor(app, refs, { recipe = null, definition = null, readOnly = false, onSaved = null } = {}) {
  const draft = structuredClone(definition || blankDefinition());
  draft.trigger = draft.trigger || { type: "new_conversation" };
  const ctx = { refs, app, readOnly, kind: () => triggerKind(draft.trigger), triggerType: () => draft.trigger.type };
  const actions = actionsSection(draft, ctx);
  const name = textInput(draft.name, (v) => {
    draft.name = v;
  }, { maxlength: "200", placeholder: "e.g. Resolve quiet conversations" });
  const enabled = h("div", { class: "field field--toggle", dataset: { path: "enabled" } },
    checkbox("Enabled", draft.enabled !== false, (on) => {
      draft.enabled = on;
    }),
    h("p", { class: "field-error", role: "alert", hidden: true }),
  );
  const banner = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: recipe ? "Save recipe" : "Create recipe" });
  const fields = h("fieldset", { class: "editor-fields", disabled: readOnly },
    h("div", { class: "form-grid form-grid--name" }, pathField("name", "Name", name), enabled),
    triggerSection(draft, (kindChanged) => actions.redraw(kindChanged)),
    scopeSection(draft, refs),
    filterSection(draft, refs, { readOnly }),
    hoursSection(draft, refs),
    actions.el,
  );
  const form = h("form", { class: "recipe-editor", "aria-label": readOnly ? "Recipe (read only)" : "Recipe", novalidate: true },
    fields,
    readOnly ? null : h("div", { class: "editor-footer" }, banner, h("div", { class: "form-actions" }, save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (readOnly) return;
    clearErrors(form, banner);
    save.disabled = true;
    const body = cleanDefinition(draft);
    try {
      const answer = recipe ? await api("PUT", `/recipes/${encodeURIComponent(recipe.id)}`, body) : await post("/recipes", body);
      if (onSaved) onSaved(answer);
    } catch (error) {
      showError(form, banner, error);
    } finally {
      save.disabled = false;
    }
  });
  return {
    el: form,
    definition: () => cleanDefinition(draft),
  };
}
