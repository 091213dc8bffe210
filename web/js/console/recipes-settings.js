// Settings > Recipes: the list of automation recipes (name, trigger, enabled switch,
// version, last run) and one page per recipe with tabs: the definition editor, a test
// run, the versions, the runs log and the recipe's webhook deliveries. Admins edit;
// agents see the same pages read-only. Sub-pages live in the URL
// (/console/settings/recipes/<id>/<tab>, /console/settings/recipes/new) so reload and
// the back button work; the settings router re-renders this section for any of them.

import { h, clear } from "../dom.js";
import { fullTime, ago } from "../format.js";
import { api, get, post } from "./api.js";
import { definitionOf, recipeEditor } from "./recipe-editor.js";
import { fill, link, tabSet } from "./recipe-form.js";
import { renderDeliveries, renderRuns, renderVersions } from "./recipe-history.js";
import { filterSummary, hoursSummary, triggerSummary } from "./recipe-summary.js";
import { renderTestRun } from "./recipe-test-run.js";
import { secretsNotice } from "./recipe-webhook.js";
import { attempt, toast } from "./toast.js";

const BASE = "/console/settings/recipes";
const TABS = ["definition", "test", "versions", "runs", "deliveries"];

// The signing secrets in the answer of the last save, for the page the save navigates to.
let pendingSecrets = null;

const isAdmin = (app) => app.me.role === "admin";
const recipePath = (id, tab = "") => `${BASE}/${encodeURIComponent(id)}${tab && tab !== "definition" ? `/${tab}` : ""}`;

/** Users, teams, contexts, saved filters and schedules the editor offers. */
export async function loadRefs(app) {
  const [users, teams, contexts, saved, schedules] = await Promise.all([
    get("/users").catch(() => ({ items: [...app.users.values()] })),
    get("/teams").catch(() => ({ items: [...app.teams.values()] })),
    get("/contexts?limit=200").catch(() => ({ items: app.contexts || [] })),
    get("/saved-filters").catch(() => ({ items: [] })),
    get("/business-hours").catch(() => ({ items: [] })),
  ]);
  return {
    users: users.items || [],
    teams: teams.items || [],
    contexts: contexts.items || [],
    savedFilters: saved.items || [],
    schedules: schedules.items || [],
  };
}

/** The enabled switch of a recipe (role="switch"); admins flip it, agents only see it. */
function enabledSwitch(app, recipe, onChange) {
  const button = h("button", { class: "switch", type: "button", role: "switch", "aria-checked": String(recipe.enabled), "aria-label": `Enabled: ${recipe.name}`, disabled: !isAdmin(app) },
    h("span", { class: "switch-knob", "aria-hidden": "true" }),
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    const verb = recipe.enabled ? "disable" : "enable";
    const answer = await attempt(() => post(`/recipes/${encodeURIComponent(recipe.id)}/${verb}`), `Could not ${verb} the recipe`);
    button.disabled = false;
    if (!answer) return;
    Object.assign(recipe, answer);
    button.setAttribute("aria-checked", String(recipe.enabled));
    toast(`${recipe.name} is ${recipe.enabled ? "on" : "off"} (version ${recipe.version}).`, "success");
    if (onChange) onChange(recipe);
  });
  return button;
}

function lastRunText(run) {
  if (!run) return h("span", { class: "muted", text: "Never" });
  const at = run.created_at ?? run.finished_at;
  return h("span", { class: `run-state run-state--${run.state}`, title: at ? fullTime(at) : "" }, `${run.state}${at ? ` · ${ago(at)}` : ""}`);
}

function recipeRow(app, recipe, refs) {
  const lastRun = h("td", {}, h("span", { class: "muted", text: "…" }));
  const last = recipe.last_run !== undefined ? Promise.resolve(recipe.last_run) : get(`/recipes/${encodeURIComponent(recipe.id)}/runs?limit=1`).then((a) => a.items?.[0] || null, () => null);
  last.then((run) => fill(lastRun, lastRunText(run)));
  const def = definitionOf(recipe);
  const version = h("td", { class: "recipe-version", text: `v${recipe.version}` });
  return h("tr", { class: "recipe-row", dataset: { id: recipe.id } },
    h("td", {}, link(app, recipePath(recipe.id), recipe.name, { class: "recipe-name" }), h("div", { class: "muted recipe-sub", text: `${filterSummary(def.filter, refs.savedFilters)} · ${hoursSummary(def.business_hours, refs.schedules)}` })),
    h("td", { text: triggerSummary(def.trigger) }),
    h("td", {}, enabledSwitch(app, recipe, (r) => {
      version.textContent = `v${r.version}`;
    })),
    version,
    lastRun,
  );
}

async function renderList(body, app) {
  const holder = h("div", { class: "settings-stack" }, h("p", { class: "muted", text: "Loading recipes…" }));
  const newButton = isAdmin(app) ? h("button", { class: "btn btn--primary", type: "button", text: "New recipe", on: { click: () => app.navigate(`${BASE}/new`) } }) : null;
  body.append(h("div", { class: "recipes-bar" }, isAdmin(app) ? null : h("p", { class: "muted", text: "Only admins can change recipes." }), h("span", { class: "rail-spacer" }), newButton), holder);
  const [answer, refs] = await Promise.all([attempt(() => get("/recipes"), "Could not load the recipes"), loadRefs(app)]);
  if (!answer) {
    fill(holder, h("p", { class: "banner banner--error", role: "alert", text: "The recipes could not be loaded." }));
    return;
  }
  if (!answer.items.length) {
    fill(holder, h("div", { class: "empty-card" }, h("strong", { text: "No recipes yet" }), h("p", { text: "A recipe runs actions on conversations when they arrive or change: resolve quiet ones, assign, reply, call a webhook." })));
    return;
  }
  fill(holder, h("table", { class: "table recipes-table" },
    h("thead", {}, h("tr", {}, ["Recipe", "Trigger", "Enabled", "Version", "Last run"].map((t) => h("th", { text: t })))),
    h("tbody", {}, answer.items.map((recipe) => recipeRow(app, recipe, refs))),
  ));
}

function deleteButton(app, recipe) {
  const button = h("button", { class: "btn btn--danger", type: "button", text: "Delete" });
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = "Click again to delete";
      setTimeout(() => {
        armed = false;
        button.textContent = "Delete";
      }, 4000);
      return;
    }
    if (await attempt(() => api("DELETE", `/recipes/${encodeURIComponent(recipe.id)}`), "Could not delete the recipe")) {
      toast(`Deleted ${recipe.name}.`, "success");
      app.navigate(BASE);
    }
  });
  return button;
}

function pageHeader(app, recipe, onToggle) {
  const title = h("h3", { class: "recipe-title", text: recipe ? recipe.name : "New recipe" });
  const meta = recipe
    ? h("div", { class: "recipe-meta" },
      h("span", { class: "chip", text: `Version ${recipe.version}` }),
      h("span", { class: "check" }, enabledSwitch(app, recipe, onToggle), h("span", { "aria-hidden": "true", text: "Enabled" })),
      recipe.updated_at ? h("span", { class: "muted", text: `Saved ${fullTime(recipe.updated_at)}` }) : null,
      h("span", { class: "rail-spacer" }),
      isAdmin(app) ? deleteButton(app, recipe) : null)
    : null;
  return h("div", { class: "recipe-head" }, link(app, BASE, "← All recipes", { class: "back-link" }), title, meta);
}

async function renderRecipePage(body, app, id, tab) {
  const holder = h("div", { class: "settings-stack" }, h("p", { class: "muted", text: "Loading the recipe…" }));
  body.append(holder);
  const [recipe, refs] = await Promise.all([
    id === "new" ? Promise.resolve(null) : attempt(() => get(`/recipes/${encodeURIComponent(id)}`), "Could not load the recipe"),
    loadRefs(app),
  ]);
  if (id !== "new" && !recipe) {
    fill(holder, h("p", { class: "banner banner--error", role: "alert", text: "This recipe could not be loaded." }), link(app, BASE, "← All recipes"));
    return;
  }
  if (id === "new" && !isAdmin(app)) {
    app.navigate(BASE);
    return;
  }
  const readOnly = !isAdmin(app);
  const notices = h("div", { class: "recipe-notices" });
  let editor = null;
  let tabs = null;
  const header = pageHeader(app, recipe, () => {
    clear(holder.querySelector(".recipe-head .chip")).append(`Version ${recipe.version}`);
    // Keep the editor's checkbox in step (other unsaved edits stay as they are).
    const box = holder.querySelector('.recipe-editor [data-path="enabled"] input');
    if (box && box.checked !== recipe.enabled) box.click();
    tabs?.rerender("versions");
  });

  const showDefinition = (panel, definition = null, note = null) => {
    editor = recipeEditor(app, refs, {
      recipe,
      definition: definition || definitionOf(recipe),
      readOnly,
      onSaved(answer) {
        const saved = answer.recipe || answer;
        toast(recipe ? `Saved ${saved.name}: version ${saved.version}.` : `Created ${saved.name}.`, "success");
        pendingSecrets = answer.webhook_secrets || answer.secrets || null;
        app.navigate(recipePath(saved.id));
      },
    });
    fill(panel, note, editor.el);
  };

  // Secrets of webhooks created by the save that led here: shown once, then forgotten.
  if (pendingSecrets && recipe) fill(notices, secretsNotice(pendingSecrets, definitionOf(recipe).actions || []));
  pendingSecrets = null;

  // Test runs and the delivery log are for admins (the API's rule too).
  const available = [{ id: "definition", label: readOnly ? "Definition" : "Edit", render: (panel) => showDefinition(panel) }];
  if (!readOnly) available.push({ id: "test", label: "Test run", render: (panel) => renderTestRun(panel, app, () => editor?.definition(), recipe) });
  if (recipe) {
    available.push(
      { id: "versions", label: "Versions", render: (panel) => renderVersions(panel, app, recipe, refs, {
        restore: readOnly ? null : (definition, version) => {
          tabs.select("definition");
          showDefinition(available[0].panel, definition, h("p", { class: "banner banner--info", role: "status", text: `Loaded version ${version}. Saving makes it version ${recipe.version + 1}.` }));
        },
      }) },
      { id: "runs", label: "Runs", render: (panel) => renderRuns(panel, app, recipe) },
    );
    if (!readOnly) available.push({ id: "deliveries", label: "Webhook deliveries", render: (panel) => renderDeliveries(panel, app, recipe) });
  }
  tabs = tabSet("Recipe", available, {
    initial: tab,
    onChange(current) {
      if (recipe) history.replaceState(null, "", recipePath(recipe.id, current));
    },
  });
  fill(holder, header, notices, tabs.el);
}

function renderRecipes(body, app) {
  const parts = location.pathname.replace(/\/+$/, "").split("/").slice(4).map(decodeURIComponent);
  const [id, tab] = parts;
  if (!id) renderList(body, app);
  else renderRecipePage(body, app, id, TABS.includes(tab) ? tab : "definition");
}

/** The Recipes settings section (admins edit, agents view). */
export function recipesSection() {
  return {
    id: "recipes",
    title: "Recipes",
    description: "Automation that triages, replies, assigns, resolves and calls webhooks when conversations arrive or change.",
    render: renderRecipes,
  };
}
