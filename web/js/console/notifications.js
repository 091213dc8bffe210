// The notifications bell in the console's rail: recipes' "notify" actions write
// notifications for chosen staff (actors/recipe_inbox.py). The bell shows the viewer's
// unread count (GET /api/v1/notifications?unread=1), re-read every 30 s and whenever
// the window gets the focus back; there is no push for them. Its panel lists the newest
// notifications, each linking to its conversation, with "Mark all read".

import { h, clear, icon } from "../dom.js";
import { ago, fullTime } from "../format.js";
import { get, post, query } from "./api.js";
import { attempt } from "./toast.js";

// How often the unread count is re-read (ms).
const REFRESH_MS = 30_000;
// Notifications listed in the panel.
const PANEL_LIMIT = 30;
const BELL = ["M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z", "M10 21h4"];

export class NotificationBell {
  constructor(app) {
    this.app = app;
    this.unread = 0;
    this.badge = h("span", { class: "rail-badge", hidden: true, "aria-hidden": "true" });
    this.button = h("button", { class: "rail-link", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false", title: "Notifications" }, icon(BELL, { size: 22 }), this.badge);
    this.button.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
    this.list = h("ul", { class: "notif-list", "aria-label": "Notifications" });
    this.markAll = h("button", { class: "btn btn--small", type: "button", text: "Mark all read", disabled: true });
    this.markAll.addEventListener("click", () => this.markRead(null));
    this.panel = h("div", { class: "notif-panel", role: "dialog", "aria-labelledby": "notif-title", hidden: true, tabindex: "-1" },
      h("div", { class: "notif-head" }, h("h2", { id: "notif-title", text: "Notifications" }), this.markAll),
      this.list,
    );
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.close();
      }
    });
    this.el = h("div", { class: "rail-bell" }, this.button, this.panel);
    document.addEventListener("click", (event) => {
      if (!this.panel.hidden && !this.el.contains(event.target)) this.close({ focus: false });
    });
    this._show(0);
  }

  /** Read the count now, then every REFRESH_MS and on focus. */
  start() {
    this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
    window.addEventListener("focus", () => this.refresh());
  }

  async refresh() {
    const answer = await get(`/notifications${query({ unread: 1 })}`).catch(() => null);
    if (answer) this._show(unreadCount(answer));
  }

  _show(count) {
    this.unread = count;
    this.badge.hidden = count === 0;
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.button.setAttribute("aria-label", count ? `Notifications, ${count} unread` : "Notifications");
    this.markAll.disabled = count === 0;
  }

  async open() {
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    clear(this.list).append(h("li", { class: "notif-empty", text: "Loading…" }));
    this.panel.focus();
    await this._load();
  }

  close({ focus = true } = {}) {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (focus) this.button.focus();
  }

  async _load() {
    const answer = await attempt(() => get(`/notifications${query({ limit: PANEL_LIMIT })}`), "Could not load the notifications");
    if (!answer) return;
    const items = answer.items || [];
    clear(this.list).append(...(items.length ? items.map((n) => this._item(n)) : [h("li", { class: "notif-empty", text: "No notifications yet." })]));
    this.refresh();
  }

  _item(n) {
    const unread = !n.read_at;
    const conversation = n.conversation_id || n.conversation || null;
    const content = [
      unread ? h("span", { class: "visually-hidden", text: "Unread: " }) : null,
      h("span", { class: "notif-title", text: n.title }),
      n.body ? h("span", { class: "notif-body", text: n.body }) : null,
      h("time", { class: "notif-time", datetime: new Date(n.created_at).toISOString(), title: fullTime(n.created_at), text: ago(n.created_at) }),
    ];
    let main;
    if (conversation) {
      const href = `/console/c/${encodeURIComponent(conversation)}`;
      main = h("a", { class: "notif-main", href }, ...content, h("span", { class: "visually-hidden", text: " (open the conversation)" }));
      main.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        if (unread) this.markRead([n.id]);
        this.close({ focus: false });
        this.app.navigate(href);
      });
    } else {
      main = h("div", { class: "notif-main" }, ...content);
    }
    return h("li", { class: `notif${unread ? " notif--unread" : ""}`, dataset: { id: String(n.id) } },
      unread ? h("span", { class: "notif-dot", "aria-hidden": "true" }) : null,
      main,
    );
  }

  /** Mark `ids` read (null: all of the viewer's), then show the new state. */
  async markRead(ids) {
    const answer = await attempt(() => post("/notifications/read", ids ? { ids } : {}), "Could not mark the notifications read");
    if (!answer) return;
    if (!this.panel.hidden) await this._load();
    else await this.refresh();
  }
}

function unreadCount(answer) {
  for (const key of ["unread_count", "unread", "total"]) {
    if (typeof answer[key] === "number") return answer[key];
  }
  return (answer.items || []).filter((n) => !n.read_at).length;
}
