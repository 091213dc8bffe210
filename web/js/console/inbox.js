// The inbox column: conversations by last activity, filters, full-text search, and live
// updates from the LiveFeed (`conversation` frames) so new ones appear without a reload.
//
// Unread counts are the server's, per staff user: the list API gives each conversation's
// `read_seq` (the viewer's read mark) and `unread` (messages after it that someone else
// wrote; notes and events never count). Live `conversation` frames then count new
// messages up; opening a conversation sends `read` and resets it to 0. When a frame cannot
// tell whether the viewer wrote the new message (a staff reply) or how many came, the
// console asks the server for the exact count instead of guessing.
//
// Saved filters (saved-filters.js) keep a set of filters under a name; choosing one
// applies it to every control at once.

import { h, clear, icon, ICONS } from "../dom.js";
import { shortTime } from "../format.js";
import { avatar } from "../messages.js";
import { get, query } from "./api.js";
import { SavedFilters, inboxFilters, savable } from "./saved-filters.js";
import { attempt } from "./toast.js";

const PAGE = 50;
// Where consoles before server read marks kept their per-browser "seen" map.
const LEGACY_SEEN_KEY = "switchboard:seen:";
const SEARCH_DEBOUNCE_MS = 300;
const STATUSES = [
  ["open", "Open"],
  ["pending", "Pending"],
  ["resolved", "Resolved"],
  ["", "All"],
];
const CHANNELS = [
  ["", "All channels"],
  ["widget", "Widget"],
  ["link", "Link"],
  ["api", "API"],
];

export class Inbox {
  constructor(app, { onSelect }) {
    this.app = app;
    this.onSelect = onSelect;
    this.filters = { status: "open", assignee: "", context: "", channel: "", tag: "", q: "" };
    this.rows = new Map(); // id -> {state, el}
    this.selectedId = null;
    this.next = null;
    this.loading = 0;
    // id -> {readSeq, unread, lastSeq, activity, generation}: the viewer's count and the
    // state it was counted against. Kept for conversations filtered out of the list too.
    this.counts = new Map();
    // id -> true when another refresh is wanted once the one in flight answers.
    this.refreshing = new Map();
    try {
      window.localStorage.removeItem(`${LEGACY_SEEN_KEY}${app.me.id}`);
    } catch {
      // storage denied: nothing was kept there either
    }
    this._build();
  }

  // -- layout --------------------------------------------------------------------------------

  _build() {
    const app = this.app;
    this.status = h("span", { class: "live-status", text: "Connecting…" });
    this.search = h("input", { class: "input search-input", type: "search", placeholder: "Search messages", "aria-label": "Search messages" });
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setFilter("q", this.search.value.trim()), SEARCH_DEBOUNCE_MS);
    });
    const statusGroup = h("div", { class: "segmented", role: "group", "aria-label": "Status" });
    for (const [value, label] of STATUSES) {
      const button = h("button", { type: "button", "aria-pressed": String(value === this.filters.status), dataset: { value }, text: label });
      button.addEventListener("click", () => {
        for (const b of statusGroup.children) b.setAttribute("aria-pressed", String(b === button));
        this.setFilter("status", value);
      });
      statusGroup.append(button);
    }
    this.statusGroup = statusGroup;
    this.controls = {};
    const assignee = this._select("Assignee", [
      ["", "Anyone"],
      ["me", "Mine"],
      ["unassigned", "Unassigned"],
      ...[...app.users.values()].filter((u) => u.active).map((u) => [u.id, u.name]),
      ...[...app.teams.values()].map((t) => [`team:${t.id}`, `Team: ${t.name}`]),
    ], "assignee");
    const context = this._select("Webinar or context", [["", "All contexts"], ...app.contexts.map((c) => [c.id, c.title])], "context");
    const channel = this._select("Channel", CHANNELS, "channel");
    const tag = h("input", { class: "input input--small", type: "text", placeholder: "Tag", "aria-label": "Tag" });
    tag.addEventListener("change", () => this.setFilter("tag", tag.value.trim().toLowerCase()));
    Object.assign(this.controls, { assignee, context, channel, tag });
    this.list = h("ul", { class: "inbox-list", role: "listbox", "aria-label": "Conversations" });
    this.emptyState = h("li", { class: "inbox-empty", text: "No conversations here." });
    this.more = h("button", { class: "btn btn--small inbox-more", type: "button", text: "Load more", hidden: true });
    this.more.addEventListener("click", () => this.load({ append: true }));
    this.savedFilters = new SavedFilters({
      admin: app.me.role === "admin",
      current: () => savable(this.filters, app.me.id),
      onChoose: (filters) => this.applyFilters(filters),
    });
    this.el = h(
      "section",
      { class: "inbox", "aria-label": "Inbox" },
      h("div", { class: "inbox-head" }, h("h1", { text: "Inbox" }), this.status),
      h("div", { class: "search" }, icon(ICONS.search, { size: 16 }), this.search),
      h("div", { class: "inbox-filters" }, statusGroup, h("div", { class: "filter-row" }, assignee, context), h("div", { class: "filter-row" }, channel, tag), this.savedFilters.el),
      h("div", { class: "inbox-scroll" }, this.list, this.more),
    );
  }

  _select(label, options, key) {
    const select = h("select", { class: "select select--small", "aria-label": label });
    for (const [value, text] of options) select.append(h("option", { value, text }));
    select.addEventListener("change", () => this.setFilter(key, select.value));
    return select;
  }

  // -- saved filters (saved-filters.js) ------------------------------------------------------

  /** Show and load `filters` (a saved filter's), every other filter cleared. */
  applyFilters(filters) {
    const next = inboxFilters(filters, this.app.me.id);
    this.filters = next;
    for (const b of this.statusGroup.children) b.setAttribute("aria-pressed", String(b.dataset.value === next.status));
    for (const key of ["assignee", "context", "channel"]) {
      const select = this.controls[key];
      if (next[key] && ![...select.options].some((o) => o.value === next[key])) select.append(h("option", { value: next[key], text: next[key] }));
      select.value = next[key];
    }
    this.controls.tag.value = next.tag;
    this.search.value = next.q;
    this.load();
  }

  setConnection(state) {
    const online = state === "online";
    this.status.textContent = online ? "Live" : state === "failed" ? "Disconnected" : "Reconnecting…";
    this.status.classList.toggle("live-status--online", online);
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  // -- data ----------------------------------------------------------------------------------

  setFilter(key, value) {
    if (this.filters[key] === value) return;
    this.filters[key] = value;
    this.savedFilters?.deselect(); // no longer the saved filter
    this.load();
  }

  async load({ append = false } = {}) {
    const ticket = ++this.loading;
    const { status, assignee, context, channel, tag, q } = this.filters;
    const path = `/conversations${query({ status, assignee, context, channel, tag, q, limit: PAGE, before: append ? this.next : null })}`;
    const page = await attempt(() => get(path), "Could not load the inbox");
    if (!page || ticket !== this.loading) return;
    if (!append) {
      this.rows.clear();
      clear(this.list);
    }
    for (const state of page.items) {
      this._remember(state);
      this._put(state);
    }
    this.next = page.next;
    this.more.hidden = !page.next;
    this._sort();
  }

  /**
   * A `conversation` frame from the LiveFeed (`event` is the frame's: "created",
   * "updated" or "message"), or a conversation the console changed (no event).
   */
  update(state, event = null) {
    if (event) this._countLive(state);
    const known = this.rows.has(state.id);
    if (!known && this.filters.q) return; // cannot tell whether it matches the search
    if (!this._matches(state)) {
      if (known && state.id !== this.selectedId) this._remove(state.id);
      else if (known) this._put(state);
      return;
    }
    this._put(state);
    this._sort();
    // A row the list API did not give us (new, or from beyond the loaded pages).
    if (!this.counts.has(state.id)) this._refresh(state.id);
  }

  _matches(state) {
    const f = this.filters;
    const who = state.assignee || {};
    if (f.status && state.status !== f.status) return false;
    if (f.assignee === "me" && who.user !== this.app.me.id) return false;
    if (f.assignee === "unassigned" && (who.user || who.team)) return false;
    if (f.assignee.startsWith("team:") && who.team !== f.assignee.slice(5)) return false;
    if (f.assignee && !["me", "unassigned"].includes(f.assignee) && !f.assignee.startsWith("team:") && who.user !== f.assignee) return false;
    if (f.context && state.context?.id !== f.context) return false;
    if (f.channel && state.channel !== f.channel) return false;
    if (f.tag && !(state.tags || []).includes(f.tag)) return false;
    return true;
  }

  _put(state) {
    const row = this.rows.get(state.id);
    const el = this._render(state);
    if (row) row.el.replaceWith(el);
    this.rows.set(state.id, { state, el });
  }

  _remove(id) {
    const row = this.rows.get(id);
    if (row) row.el.remove();
    this.rows.delete(id);
    this._sort();
  }

  _sort() {
    const ordered = [...this.rows.values()].sort(
      (a, b) => b.state.last_activity_at - a.state.last_activity_at || (b.state.id > a.state.id ? 1 : -1),
    );
    ordered.forEach(({ el }, index) => {
      if (this.list.children[index] !== el) this.list.insertBefore(el, this.list.children[index] || null);
    });
    if (!ordered.length) this.list.append(this.emptyState);
    else this.emptyState.remove();
  }

  // -- unread --------------------------------------------------------------------------------

  /** Take the server's `read_seq` and `unread` of a state from the API. */
  _remember(state) {
    if (typeof state.unread !== "number") return;
    const entry = this.counts.get(state.id);
    // A read this console sent may not be in the answer yet: keep the higher mark.
    const readSeq = Math.max(state.read_seq || 0, entry?.readSeq || 0);
    this.counts.set(state.id, {
      readSeq,
      unread: Math.min(state.unread, Math.max(0, state.last_seq - readSeq)),
      lastSeq: state.last_seq,
      activity: state.last_activity_at,
      generation: (entry?.generation || 0) + 1,
    });
  }

  /**
   * A live frame: count its new message if someone else wrote it.
   *
   * The frame carries the state, not the message. Only a public message moves
   * `last_activity_at`; notes and events move `last_seq` alone. One new seq that moved it
   * is one message to count, unless `last_staff_at` moved with it: then a staff member
   * wrote it, maybe the viewer (from another tab, Slack or the API). That case, and
   * several new seqs in one frame (the feed coalesces a batch), ask the server for the
   * exact count instead.
   */
  _countLive(state) {
    const entry = this.counts.get(state.id);
    if (!entry || state.last_seq <= entry.lastSeq) return; // not counted here, or not newer
    const added = state.last_seq - entry.lastSeq;
    const published = state.last_activity_at > entry.activity;
    entry.lastSeq = state.last_seq;
    entry.activity = Math.max(entry.activity, state.last_activity_at);
    // On screen: the view sends `read` for it and markRead() resets the count.
    if (state.id === this.selectedId || !published) return;
    if (added > 1 || state.last_staff_at === state.last_activity_at) {
      this._refresh(state.id);
      return;
    }
    entry.unread = Math.min(entry.unread + 1, Math.max(0, state.last_seq - entry.readSeq));
  }

  /** Ask the server for the viewer's count of one conversation (one request at a time). */
  async _refresh(id) {
    if (this.refreshing.has(id)) {
      this.refreshing.set(id, true);
      return;
    }
    this.refreshing.set(id, false);
    const generation = this.counts.get(id)?.generation;
    const detail = await get(`/conversations/${encodeURIComponent(id)}`).catch(() => null);
    const again = this.refreshing.get(id);
    this.refreshing.delete(id);
    // Opened (and read) or reloaded meanwhile: that count is newer than this answer.
    if (detail && this.counts.get(id)?.generation === generation) {
      this._remember(detail);
      this._rerender(id);
    }
    if (again) this._refresh(id);
  }

  unread(state) {
    const entry = this.counts.get(state.id);
    return entry ? Math.min(entry.unread, Math.max(0, state.last_seq - entry.readSeq)) : 0;
  }

  /** The viewer read the conversation up to `seq` (the view sent the `read` frame). */
  markRead(id, seq) {
    const entry = this.counts.get(id);
    if (entry) {
      entry.readSeq = Math.max(entry.readSeq, seq);
      entry.unread = 0;
      entry.generation += 1;
    } else {
      this.counts.set(id, { readSeq: seq, unread: 0, lastSeq: seq, activity: 0, generation: 1 });
    }
    this._rerender(id);
  }

  _rerender(id) {
    const row = this.rows.get(id);
    if (row) this._put(row.state);
  }

  // -- selection -----------------------------------------------------------------------------

  select(id) {
    this.selectedId = id;
    for (const [rowId, { el }] of this.rows) {
      el.classList.toggle("conv-row--selected", rowId === id);
      el.setAttribute("aria-selected", String(rowId === id));
    }
  }

  /** Open the next (+1) or previous (-1) conversation of the list. */
  move(delta) {
    const ids = [...this.list.querySelectorAll(".conv-row")].map((el) => el.dataset.id);
    if (!ids.length) return;
    const index = ids.indexOf(this.selectedId);
    const target = index < 0 ? ids[0] : ids[Math.min(ids.length - 1, Math.max(0, index + delta))];
    if (target && target !== this.selectedId) this.onSelect(target);
    this.rows.get(target)?.el.scrollIntoView({ block: "nearest" });
  }

  _render(state) {
    const app = this.app;
    const name = state.contact?.name || "Unknown visitor";
    const unread = state.id === this.selectedId ? 0 : this.unread(state);
    const who = state.assignee || {};
    const assignee = who.user ? app.userName(who.user) : who.team ? app.teamName(who.team) : null;
    const link = h(
      "a",
      { class: "conv-link", href: `/console/c/${encodeURIComponent(state.id)}`, tabindex: "-1" },
      avatar(name),
      h(
        "div",
        { class: "conv-row-main" },
        h("div", { class: "conv-row-top" }, h("span", { class: "conv-name", text: name }), h("time", { text: shortTime(state.last_activity_at) })),
        state.context ? h("div", { class: "conv-row-context", text: state.context.title }) : null,
        h(
          "div",
          { class: "conv-row-bottom" },
          h("span", { class: "conv-preview", text: state.preview || "No messages yet" }),
          unread ? h("span", { class: "unread-badge", "aria-label": `${unread} unread`, text: unread > 99 ? "99+" : String(unread) }) : null,
        ),
        h(
          "div",
          { class: "conv-row-tags" },
          state.priority && state.priority !== "none" ? h("span", { class: `priority priority--${state.priority}`, text: state.priority }) : null,
          state.status !== "open" ? h("span", { class: `status-pill status-pill--${state.status}`, text: state.status }) : null,
          assignee ? h("span", { class: "conv-assignee", text: `→ ${assignee}` }) : null,
          ...(state.tags || []).map((t) => h("span", { class: "chip", text: t })),
        ),
      ),
    );
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onSelect(state.id);
    });
    const classes = ["conv-row"];
    if (unread) classes.push("conv-row--unread");
    if (state.id === this.selectedId) classes.push("conv-row--selected");
    return h("li", { class: classes.join(" "), role: "option", "aria-selected": String(state.id === this.selectedId), dataset: { id: state.id } }, link);
  }
}
