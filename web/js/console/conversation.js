// The open conversation: history paged by seq (scrolling up loads older messages), live
// updates over the websocket, the reply box with its internal-note mode, and the
// assignee / status / priority controls. The side panel shows context and contact.
// Replies a recipe prepared for this conversation (drafts, and replies waiting for
// approval) are offered above the composer (approvals.js DraftStrip): one in use is sent
// by approving it with the composer's text, never as a second, ordinary message.

import { newClientMsgId } from "../client.js";
import { h, clear, icon, ICONS, autogrow } from "../dom.js";
import { MessageList, cookieAttachments, participantKey } from "../messages.js";
import { get, patch, post, query } from "./api.js";
import { DraftStrip } from "./approvals.js";
import { SidePanel } from "./sidepanel.js";
import { attempt, toast } from "./toast.js";

const PAGE = 50;
const TYPING_IDLE_MS = 3000;
// Load older messages when the reader scrolls this close to the top.
const LOAD_OLDER_PX = 120;
const PRIORITIES = ["none", "low", "medium", "high", "urgent"];
const STATUSES = [
  ["open", "Open"],
  ["pending", "Pending"],
  ["resolved", "Resolved"],
];

export class ConversationView {
  constructor(app, { onState, onRead }) {
    this.app = app;
    this.onState = onState;
    this.onRead = onRead;
    this.id = null;
    this.detail = null;
    this.mode = "message";
    this.hasMore = false;
    this.loadingOlder = false;
    this.typingSent = false;
    this.side = new SidePanel({
      addTag: (tag) => this.change({ tags_add: [tag] }),
      removeTag: (tag) => this.change({ tags_remove: [tag] }),
    });
    this.drafts = new DraftStrip({ fill: (text) => this._fillComposer(text) });
    this.el = h("section", { class: "conversation", "aria-label": "Conversation" });
    this._empty();
    document.addEventListener("visibilitychange", () => this._markRead());
  }

  _empty() {
    clear(this.el).append(
      h(
        "div",
        { class: "conversation-empty" },
        icon(ICONS.inbox, { size: 40 }),
        h("h2", { text: "Pick a conversation" }),
        h("p", {}, "Choose one from the inbox, or press ", h("kbd", { text: "j" }), " to open the first. ", h("kbd", { text: "?" }), " lists every shortcut."),
      ),
    );
    this.side.hide();
  }

  // -- opening -------------------------------------------------------------------------------

  async open(id) {
    if (id === this.id) return;
    this.close();
    this.id = id;
    const [detail, page] = await Promise.all([
      attempt(() => get(`/conversations/${encodeURIComponent(id)}`), "Could not open the conversation"),
      attempt(() => get(`/conversations/${encodeURIComponent(id)}/messages${query({ limit: PAGE })}`)),
    ]);
    if (this.id !== id) return;
    if (!detail || !page) {
      this.id = null;
      this._empty();
      return;
    }
    this.detail = detail;
    this._build();
    this.list.prepend(page.items);
    this.hasMore = page.has_more;
    this.list.scrollToBottom();
    const contactMark = (detail.read_marks || []).find((m) => m.reader.kind === "contact");
    if (contactMark) this.list.setReceipt(contactMark.seq, detail.contact?.name);
    this.side.show(detail);
    // Live from the newest loaded seq: the join replays anything newer, without a gap.
    this.app.client.join(id, page.items.length ? page.items[page.items.length - 1].seq : 0);
    this._markRead();
    this.drafts.load(id);
  }

  close() {
    if (this.id) {
      this._stopTyping();
      this._flushRead();
      this.app.client.leave(this.id);
    }
    this.id = null;
    this.detail = null;
    this.readSent = 0;
    this.list = null;
    this.statusSelect = null;
    this.input = null;
    this.drafts.reset();
    this._empty();
  }

  _build() {
    const d = this.detail;
    const app = this.app;
    this.statusSelect = h("select", { class: "select select--small", "aria-label": "Status" }, STATUSES.map(([v, t]) => h("option", { value: v, text: t })));
    this.statusSelect.addEventListener("change", () => this.change({ status: this.statusSelect.value }));
    this.assignSelect = h("select", { class: "select select--small", "aria-label": "Assignee" });
    this.assignSelect.append(
      h("option", { value: "", text: "Unassigned" }),
      h("option", { value: `user:${app.me.id}`, text: `Me (${app.me.name})` }),
      h("optgroup", { label: "Agents" }, [...app.users.values()].filter((u) => u.active && u.id !== app.me.id).map((u) => h("option", { value: `user:${u.id}`, text: u.name }))),
      h("optgroup", { label: "Teams" }, [...app.teams.values()].map((t) => h("option", { value: `team:${t.id}`, text: t.name }))),
    );
    this.assignSelect.addEventListener("change", () => {
      const [kind, value] = this.assignSelect.value.split(":");
      this.change({ assignee: value ? { [kind]: value } : null });
    });
    this.prioritySelect = h("select", { class: "select select--small", "aria-label": "Priority" }, PRIORITIES.map((p) => h("option", { value: p, text: p === "none" ? "No priority" : `${p[0].toUpperCase()}${p.slice(1)} priority` })));
    this.prioritySelect.addEventListener("change", () => this.change({ priority: this.prioritySelect.value }));
    this.resolveButton = h("button", { type: "button", class: "btn btn--small btn--primary" });
    this.resolveButton.addEventListener("click", () => this.change({ status: this.detail.status === "resolved" ? "open" : "resolved" }));
    this.title = h("h2", { class: "conv-title", text: d.contact?.name || "Unknown visitor" });
    this.subtitle = h("p", { class: "conv-subtitle", text: [d.context?.title, d.channel].filter(Boolean).join(" · ") });
    const header = h(
      "header",
      { class: "conv-header" },
      h("div", { class: "conv-heading" }, this.title, this.subtitle),
      h("div", { class: "conv-actions" }, this.assignSelect, this.prioritySelect, this.statusSelect, this.resolveButton),
    );
    this.scroller = h("div", { class: "conv-scroll" });
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < LOAD_OLDER_PX) this._loadOlder();
    });
    this.list = new MessageList(this.scroller, {
      isOutgoing: (author) => author?.kind === "staff" || author?.kind === "bot",
      attachments: cookieAttachments,
      showNotes: true,
      emptyText: "No messages yet.",
    });
    clear(this.el).append(header, this.scroller, this.drafts.el, this._composer());
    this._applyState(d);
  }

  _composer() {
    this.replyTab = h("button", { type: "button", role: "tab", class: "composer-tab", "aria-selected": "true", text: "Reply" });
    this.noteTab = h("button", { type: "button", role: "tab", class: "composer-tab composer-tab--note", "aria-selected": "false" }, icon(ICONS.lock, { size: 13 }), "Internal note");
    this.replyTab.addEventListener("click", () => this.setMode("message"));
    this.noteTab.addEventListener("click", () => this.setMode("note"));
    this.input = h("textarea", { class: "composer-input", rows: "2", "aria-label": "Reply to the attendee", placeholder: "Reply…", maxlength: "16000" });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => {
      autogrow(this.input, 220);
      this._typing();
    });
    const fileInput = h("input", { type: "file", class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    fileInput.addEventListener("change", () => {
      const file = fileInput.files[0];
      fileInput.value = "";
      if (file) this._upload(file);
    });
    const attach = h("button", { type: "button", class: "icon-button", "aria-label": "Attach a file", title: "Attach a file", on: { click: () => fileInput.click() } }, icon(ICONS.clip));
    this.sendButton = h("button", { type: "submit", class: "btn btn--primary btn--small", text: "Send" });
    const form = h("form", { class: "conv-form" }, this.input, h("div", { class: "conv-form-bar" }, attach, fileInput, h("span", { class: "composer-hint", text: "Enter to send · Shift+Enter for a new line" }), this.sendButton));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.composerEl = h("div", { class: "conv-composer" }, h("div", { class: "composer-tabs", role: "tablist", "aria-label": "Message kind" }, this.replyTab, this.noteTab), form);
    return this.composerEl;
  }

  // -- state ---------------------------------------------------------------------------------

  _applyState(state) {
    if (!this.statusSelect) return;
    this.statusSelect.value = state.status;
    this.prioritySelect.value = state.priority;
    const who = state.assignee || {};
    this.assignSelect.value = who.user ? `user:${who.user}` : who.team ? `team:${who.team}` : "";
    this.resolveButton.textContent = state.status === "resolved" ? "Reopen" : "Resolve";
    this.resolveButton.classList.toggle("btn--primary", state.status !== "resolved");
  }

  /** PATCH the conversation; the answer (and the LiveFeed) update every view. */
  async change(changes) {
    if (!this.id) return;
    const id = this.id;
    const state = await attempt(() => patch(`/conversations/${encodeURIComponent(id)}`, changes), "Could not change the conversation");
    if (state) this.updateState(state);
    else if (this.detail) this._applyState(this.detail);
  }

  updateState(state) {
    if (state.id !== this.id || !this.detail) return;
    Object.assign(this.detail, { ...state, context: this.detail.context, contact: this.detail.contact });
    this._applyState(this.detail);
    this.side.update(state);
    this.onState(state);
  }

  setMode(mode) {
    if (!this.input) return;
    if (mode === "note") this._stopTyping();
    this.mode = mode;
    const note = mode === "note";
    this.composerEl.classList.toggle("conv-composer--note", note);
    this.replyTab.setAttribute("aria-selected", String(!note));
    this.noteTab.setAttribute("aria-selected", String(note));
    this.input.placeholder = note ? "Write an internal note: only staff see it" : "Reply…";
    this.input.setAttribute("aria-label", note ? "Internal note (staff only)" : "Reply to the attendee");
    this.sendButton.textContent = note ? "Add note" : "Send";
    this.input.focus();
  }

  // -- sending -------------------------------------------------------------------------------

  submit(attachments = []) {
    if (!this.id) return;
    const body = this.input.value;
    if (!body.trim() && !attachments.length) return;
    if (this.drafts.active && this.mode === "message" && !attachments.length) {
      this._sendDraft(body);
      return;
    }
    this.input.value = "";
    autogrow(this.input, 220);
    this._stopTyping();
    const clientMsgId = newClientMsgId();
    const me = this.app.client.identity || { kind: "staff", id: this.app.me.id, name: this.app.me.name };
    this.list.addPending({ clientMsgId, body, author: me, kind: this.mode, attachments });
    this.app.client.send(this.id, body, { kind: this.mode, clientMsgId, attachments: attachments.map((a) => a.id) });
  }

  /** Send the prepared reply in use: approving it posts it (as this agent) with `body`. */
  async _sendDraft(body) {
    if (this.sendButton.disabled) return; // one approval at a time (Enter pressed twice)
    const id = this.id;
    this.sendButton.disabled = true;
    const sent = await this.drafts.send(body);
    if (this.id !== id || !this.input) return;
    this.sendButton.disabled = false;
    if (sent) {
      this.input.value = "";
      autogrow(this.input, 220);
      this._stopTyping();
    }
  }

  _fillComposer(text) {
    if (!this.input) return;
    if (this.mode !== "message") this.setMode("message");
    this.input.value = text;
    autogrow(this.input, 220);
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
  }

  async _upload(file) {
    const id = this.id;
    const form = new FormData();
    form.append("file", file, file.name);
    toast(`Uploading ${file.name}…`);
    const attachment = await attempt(() => post(`/conversations/${encodeURIComponent(id)}/attachments`, form), `Could not attach ${file.name}`);
    if (attachment && this.id === id) this.submit([attachment]);
  }

  _typing() {
    if (this.mode !== "message" || !this.id) return; // notes are never announced to the attendee
    if (!this.input.value.trim()) {
      this._stopTyping();
      return;
    }
    if (!this.typingSent) {
      this.app.client.typing(this.id, true);
      this.typingSent = true;
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this._stopTyping(), TYPING_IDLE_MS);
  }

  _stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent && this.id) this.app.client.typing(this.id, false);
    this.typingSent = false;
  }

  focusComposer(mode) {
    this.setMode(mode);
  }

  // -- history and live frames ------------------------------------------------------------------

  async _loadOlder() {
    if (!this.hasMore || this.loadingOlder || !this.id) return;
    this.loadingOlder = true;
    const id = this.id;
    const page = await attempt(() => get(`/conversations/${encodeURIComponent(id)}/messages${query({ before_seq: this.list.firstSeq, limit: PAGE })}`), "Could not load older messages");
    this.loadingOlder = false;
    if (!page || this.id !== id) return;
    this.list.prepend(page.items);
    this.hasMore = page.has_more;
  }

  _markRead() {
    if (!this.id || document.visibilityState !== "visible" || !this.list) return;
    const seq = this.list.lastSeq;
    if (seq > (this.readSent || 0)) {
      this.readSent = seq;
      this.app.client.read(this.id, seq);
    }
    this.onRead(this.id, Math.max(seq, this.detail?.last_seq || 0));
  }

  /**
   * The client holds a `read` until the join's history replay ends, and leave() drops it:
   * a conversation opened and left quickly (j, j, k) would stay unread on the server
   * while the inbox shows it read. A read needs no join, so send it before leaving.
   */
  _flushRead() {
    const client = this.app.client;
    const conv = client.conversations.get(this.id);
    if (conv && !conv.live && conv.pendingRead !== null && conv.pendingRead !== undefined) {
      client._raw({ type: "read", conversation: this.id, seq: conv.pendingRead });
      conv.pendingRead = null;
    }
  }

  /** A websocket frame for this conversation. */
  handle(type, frame) {
    if (frame.conversation !== this.id || !this.list) return;
    const contactName = this.detail?.contact?.name;
    switch (type) {
      case "message":
        this.list.add(frame);
        if (frame.author?.kind === "contact") this.list.setTyping(null);
        // A recipe's run may have prepared a reply for this conversation.
        if (frame.kind === "event" && frame.data?.event === "recipe_run") this.drafts.load(this.id);
        this._markRead();
        break;
      case "typing":
        if (participantKey(frame.author) !== participantKey(this.app.client.identity)) {
          this.list.setTyping(frame.active ? frame.author.name || "Someone" : null);
        }
        break;
      case "presence":
        if (frame.participant.kind === "contact") this.side.setPresence(frame.status === "online");
        break;
      case "receipt":
        if (frame.reader.kind === "contact") this.list.setReceipt(frame.seq, contactName);
        break;
      case "conversation":
        this.updateState({ ...this.detail, ...frame.state });
        break;
      case "send_failed":
        this.list.markFailed(frame.clientMsgId, frame.message);
        break;
      default:
        break;
    }
  }
}
