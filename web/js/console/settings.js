// Settings pages. Each capability registers a section (registerSettingsSection); the
// Slack bridge and mail (slack-settings.js, mail-settings.js), recipes, links and
// channels plug in here as they arrive. Users and teams are managed here by admins.

import { h, clear } from "../dom.js";
import { fullTime } from "../format.js";
import { get, patch, post } from "./api.js";
import { hoursSection } from "./hours-settings.js";
import { mailSections } from "./mail-settings.js";
import { recipesSection } from "./recipes-settings.js";
import { slackSections } from "./slack-settings.js";
import { attempt, toast } from "./toast.js";
import { webhooksSection } from "./webhooks-settings.js";

const sections = [];

/**
 * Add a settings page.
 * @param {{id: string, title: string, description: string, adminOnly?: boolean,
 *          render: (container: HTMLElement, app: object) => void}} section
 */
export function registerSettingsSection(section) {
  const index = sections.findIndex((s) => s.id === section.id);
  if (index >= 0) sections[index] = section;
  else sections.push(section);
}

/** Render the settings view for `sectionId` (the first visible one when unknown). */
export function renderSettings(container, app, sectionId, navigate) {
  const visible = sections.filter((s) => !s.adminOnly || app.me.role === "admin");
  const current = visible.find((s) => s.id === sectionId) || visible[0];
  const nav = h(
    "nav",
    { class: "settings-nav", "aria-label": "Settings" },
    h("h1", { text: "Settings" }),
    visible.map((s) => {
      const link = h("a", { href: `/console/settings/${s.id}`, class: "settings-link", "aria-current": s === current ? "page" : null, text: s.title });
      link.addEventListener("click", (event) => {
        event.preventDefault();
        navigate(`/console/settings/${s.id}`);
      });
      return link;
    }),
  );
  const body = h("div", { class: "settings-body" }, h("h2", { text: current.title }), h("p", { class: "settings-lead", text: current.description }));
  clear(container).append(h("div", { class: "settings" }, nav, h("main", { class: "settings-main" }, body)));
  current.render(body, app);
}

function placeholder(id, title, description) {
  registerSettingsSection({
    id,
    title,
    description,
    adminOnly: true,
    render(body) {
      body.append(h("div", { class: "empty-card" }, h("strong", { text: "Not set up yet" }), h("p", { text: "This capability arrives in a later release; its settings will appear on this page." })));
    },
  });
}

registerSettingsSection({
  id: "profile",
  title: "Your profile",
  description: "Who you are signed in as.",
  render(body, app) {
    body.append(
      h("dl", { class: "facts facts--wide" }, [
        h("dt", { text: "Name" }), h("dd", { text: app.me.name }),
        h("dt", { text: "Email" }), h("dd", { text: app.me.email }),
        h("dt", { text: "Role" }), h("dd", { text: app.me.role }),
        h("dt", { text: "Member since" }), h("dd", { text: fullTime(app.me.created_at) }),
      ]),
    );
  },
});

registerSettingsSection({
  id: "users",
  title: "Users",
  description: "Staff who can log in to the console. Deactivated users can neither log in nor use their API tokens.",
  adminOnly: true,
  render(body, app) {
    const table = h("table", { class: "table" });
    const refresh = async () => {
      const answer = await attempt(() => get("/users"), "Could not load users");
      if (!answer) return;
      app.users = new Map(answer.items.map((u) => [u.id, u]));
      clear(table).append(
        h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Status", ""].map((t) => h("th", { text: t })))),
        h("tbody", {}, answer.items.map((user) => userRow(user, app, refresh))),
      );
    };
    const form = h(
      "form",
      { class: "inline-form", "aria-label": "Add a user" },
      h("h3", { text: "Add a user" }),
      h("div", { class: "form-grid" },
        field("Name", h("input", { class: "input", name: "name", required: true, autocomplete: "off" })),
        field("Email", h("input", { class: "input", name: "email", type: "email", required: true, autocomplete: "off" })),
        field("Role", h("select", { class: "select", name: "role" }, h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }))),
        field("Password", h("input", { class: "input", name: "password", type: "password", minlength: "8", required: true, autocomplete: "new-password" })),
      ),
      h("button", { class: "btn btn--primary", type: "submit", text: "Add user" }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const user = await attempt(() => post("/users", data), "Could not add the user");
      if (user) {
        form.reset();
        toast(`${user.name} can now log in.`, "success");
        refresh();
      }
    });
    body.append(table, form);
    refresh();
  },
});

function field(label, control) {
  return h("label", { class: "field" }, h("span", { text: label }), control);
}

function userRow(user, app, refresh) {
  const role = h("select", { class: "select select--small", "aria-label": `Role of ${user.name}` }, h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }));
  role.value = user.role;
  role.addEventListener("change", async () => {
    if (!(await attempt(() => patch(`/users/${user.id}`, { role: role.value }), "Could not change the role"))) role.value = user.role;
    else refresh();
  });
  const toggle = h("button", { class: `btn btn--small ${user.active ? "btn--danger" : ""}`, type: "button", text: user.active ? "Deactivate" : "Activate" });
  toggle.addEventListener("click", async () => {
    if (await attempt(() => patch(`/users/${user.id}`, { active: !user.active }), "Could not change the user")) refresh();
  });
  return h(
    "tr",
    {},
    h("td", {}, h("strong", { text: user.name }), user.id === app.me.id ? h("span", { class: "muted", text: " (you)" }) : null),
    h("td", { text: user.email }),
    h("td", {}, role),
    h("td", {}, h("span", { class: `status-pill ${user.active ? "status-pill--open" : "status-pill--resolved"}`, text: user.active ? "Active" : "Deactivated" })),
    h("td", { class: "table-actions" }, user.id === app.me.id ? null : toggle),
  );
}

registerSettingsSection({
  id: "teams",
  title: "Teams",
  description: "Groups of agents that conversations can be assigned to.",
  adminOnly: true,
  render(body, app) {
    const list = h("div", { class: "team-list" });
    const refresh = async () => {
      const answer = await attempt(() => get("/teams"), "Could not load teams");
      if (!answer) return;
      app.teams = new Map(answer.items.map((t) => [t.id, t]));
      const cards = answer.items.map((team) => teamCard(team, app, refresh));
      clear(list).append(...(cards.length ? cards : [h("p", { class: "muted", text: "No teams yet." })]));
    };
    const name = h("input", { class: "input", name: "name", required: true, placeholder: "e.g. Support", "aria-label": "Team name" });
    const form = h("form", { class: "inline-form inline-form--row", "aria-label": "Create a team" }, name, h("button", { class: "btn btn--primary", type: "submit", text: "Create team" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await attempt(() => post("/teams", { name: name.value.trim(), members: [] }), "Could not create the team")) {
        form.reset();
        refresh();
      }
    });
    body.append(form, list);
    refresh();
  },
});

function teamCard(team, app, refresh) {
  const boxes = [...app.users.values()].filter((u) => u.active).map((user) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: user.id, checked: team.members.includes(user.id) }), user.name),
  );
  const save = h("button", { class: "btn btn--small", type: "button", text: "Save members" });
  save.addEventListener("click", async () => {
    const members = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (await attempt(() => patch(`/teams/${team.id}`, { members }), "Could not save the team")) {
      toast(`Saved ${team.name}.`, "success");
      refresh();
    }
  });
  return h("section", { class: "card team-card" }, h("h3", { text: team.name }), h("div", { class: "checks" }, boxes), save);
}

// Slack and mail (admins only): settings forms and their activity and error logs.
for (const section of [...slackSections(), ...mailSections()]) registerSettingsSection(section);
registerSettingsSection(recipesSection());
registerSettingsSection(hoursSection());
placeholder("links", "Chat links", "Shareable chat links for emails, notes and events.");
placeholder("channels", "Channels", "Custom channels that connect other messaging services.");
registerSettingsSection(webhooksSection);
