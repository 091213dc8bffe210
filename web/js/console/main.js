// The staff console: boots the session (GET /api/v1/auth/me), opens one websocket with
// the session cookie (inbox: true, so the LiveFeed pushes conversation changes), and
// routes between the inbox (/console, /console/c/<id>), the replies waiting for approval
// (/console/approvals) and settings (/console/settings). /console/conversations/<id> (the
// Slack "Reply in chat" link) opens /console/c/<id>. The rail holds the notifications bell.

import { SwitchboardClient, websocketUrl } from "../client.js";
import { h, clear, icon, ICONS } from "../dom.js";
import { avatar } from "../messages.js";
import { get, post, setCsrf, loginUrl } from "./api.js";
import { ApprovalsView } from "./approvals.js";
import { ConversationView } from "./conversation.js";
import { Inbox } from "./inbox.js";
import { NotificationBell } from "./notifications.js";
import { renderSettings } from "./settings.js";
import { installShortcuts, toggleHelp } from "./shortcuts.js";
import { attempt } from "./toast.js";

const root = document.getElementById("app");

async function boot() {
  const me = await get("/auth/me").catch(() => null);
  if (!me || me.kind !== "staff") {
    location.assign(loginUrl());
    return;
  }
  setCsrf(me.csrf);
  const [users, teams, contexts] = await Promise.all([get("/users"), get("/teams"), get("/contexts?limit=200")]);
  const client = new SwitchboardClient({ url: websocketUrl(), token: "", inbox: true, clientName: "console" });
  const app = {
    me: me.user,
    users: new Map(users.items.map((u) => [u.id, u])),
    teams: new Map(teams.items.map((t) => [t.id, t])),
    contexts: contexts.items,
    client,
    userName(id) {
      return id === this.me.id ? "me" : this.users.get(id)?.name || "someone";
    },
    teamName(id) {
      return this.teams.get(id)?.name || "a team";
    },
  };
  window.switchboardConsole = app; // for support and tests

  const view = h("div", { class: "view" });
  const bell = new NotificationBell(app);
  const approvals = new ApprovalsView(app);
  clear(root).append(rail(app, { bell, approvals }), view);
  const inbox = new Inbox(app, { onSelect: (id) => navigate(`/console/c/${encodeURIComponent(id)}`) });
  const conversation = new ConversationView(app, {
    onState: (state) => inbox.update(state),
    onRead: (id, seq) => inbox.markRead(id, seq),
  });
  const inboxLayout = h("div", { class: "inbox-layout" }, inbox.el, conversation.el, conversation.side.el);

  // -- websocket ---------------------------------------------------------------------------------
  let welcomed = false;
  client.addEventListener("status", ({ detail }) => inbox.setConnection(detail.state));
  client.addEventListener("fatal", () => location.assign(loginUrl()));
  client.addEventListener("welcome", () => {
    // The LiveFeed pushes only what happens while connected: after a reconnect, reload.
    if (welcomed) inbox.load();
    welcomed = true;
  });
  client.addEventListener("conversation", ({ detail }) => {
    inbox.update(detail.state, detail.event);
    conversation.handle("conversation", detail);
  });
  for (const type of ["message", "typing", "presence", "receipt", "send_failed"]) {
    client.addEventListener(type, ({ detail }) => conversation.handle(type, detail));
  }

  // -- routing ---------------------------------------------------------------------------------
  function navigate(path) {
    if (location.pathname !== path) history.pushState(null, "", path);
    route();
  }
  function route() {
    let path = location.pathname.replace(/\/+$/, "") || "/console";
    const linked = path.match(/^\/console\/conversations\/([^/]+)$/);
    if (linked) {
      // Links from outside (Slack's "Reply in chat") name the conversation's long URL.
      path = `/console/c/${linked[1]}`;
      history.replaceState(null, "", path);
    }
    const section = path.startsWith("/console/settings") ? "settings" : path === "/console/approvals" ? "approvals" : "inbox";
    for (const link of document.querySelectorAll(".rail-link[data-nav]")) {
      link.setAttribute("aria-current", link.dataset.nav === section ? "page" : "false");
    }
    if (path.startsWith("/console/settings")) {
      conversation.close();
      inbox.select(null);
      renderSettings(view, app, path.split("/")[3] || "", navigate);
      document.title = "Settings · Switchboard";
      return;
    }
    if (section === "approvals") {
      conversation.close();
      inbox.select(null);
      clear(view).append(approvals.el);
      approvals.load();
      document.title = "Approvals · Switchboard";
      return;
    }
    if (!inboxLayout.isConnected) clear(view).append(inboxLayout);
    const match = path.match(/^\/console\/c\/([^/]+)$/);
    const id = match ? decodeURIComponent(match[1]) : null;
    inbox.select(id);
    if (id) conversation.open(id);
    else conversation.close();
    document.title = "Inbox · Switchboard";
  }
  window.addEventListener("popstate", route);
  app.navigate = navigate;

  installShortcuts({
    j: () => inbox.move(1),
    k: () => inbox.move(-1),
    r: () => conversation.focusComposer("message"),
    n: () => conversation.focusComposer("note"),
    e: () => conversation.change({ status: "resolved" }),
    a: () => conversation.change({ assignee: { user: app.me.id } }),
    "/": () => inbox.focusSearch(),
    "?": toggleHelp,
  });

  route();
  inbox.load();
  client.start();
  bell.start();
  approvals.startCount();
}

// A checked speech bubble: replies waiting for someone's approval.
const APPROVALS_ICON = ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z", "M8 10l3 3 5-5"];

function rail(app, { bell, approvals }) {
  const link = (nav, href, label, paths, badge = null) => {
    const a = h("a", { class: "rail-link", href, "aria-label": label, title: label, dataset: { nav } }, icon(paths, { size: 22 }), badge);
    a.addEventListener("click", (event) => {
      event.preventDefault();
      app.navigate(href);
    });
    return a;
  };
  const help = h("button", { class: "rail-link", type: "button", "aria-label": "Keyboard shortcuts", title: "Keyboard shortcuts (?)", on: { click: toggleHelp } }, icon(ICONS.help, { size: 22 }));
  const logout = h("button", { class: "rail-link", type: "button", "aria-label": "Log out", title: "Log out" }, icon(ICONS.logout, { size: 22 }));
  logout.addEventListener("click", async () => {
    if (await attempt(() => post("/auth/logout"), "Could not log out")) location.assign("/console/login");
  });
  const me = avatar(app.me.name, "rail-avatar");
  me.setAttribute("title", `${app.me.name} (${app.me.email})`);
  return h(
    "nav",
    { class: "rail", "aria-label": "Main" },
    h("a", { class: "rail-logo", href: "/console", "aria-label": "Switchboard" }, h("img", { src: "/static/img/logo.svg", alt: "", width: "34", height: "34" })),
    link("inbox", "/console", "Inbox", ICONS.inbox),
    link("approvals", "/console/approvals", "Approvals", APPROVALS_ICON, approvals.count),
    link("settings", "/console/settings", "Settings", ICONS.settings),
    h("span", { class: "rail-spacer" }),
    bell.el,
    help,
    logout,
    me,
  );
}

boot().catch((error) => {
  clear(root).append(h("div", { class: "notice" }, h("h1", { text: "The console could not start" }), h("p", { text: error.message })));
});
