// A conversation's message list, shared by the widget, the link page and the console.
//
// Messages are kept in seq order; optimistic (not yet stored) messages sit at the end
// and become the stored message in place when the message with their client_msg_id
// arrives, so a message is never shown twice. Bodies are rendered as text, with
// http(s) links made clickable (dom.linkify); nothing from a message is parsed as HTML.
//
// A message whose seq is already shown is replaced by a later frame for it: an edit
// re-renders it with the new body and an "edited" mark; a delete removes it, as history
// (which leaves deleted messages out) shows it after a reload.
//
// A recipe's run leaves an internal event message (data.event "recipe_run"): staff see
// it as one history line (recipe, version, what it did or why it skipped) that expands
// to the conditions that matched and each action's result (recipe-run.js).

import { isReplacement } from "./client.js";
import { h, clear, icon, ICONS, linkify } from "./dom.js";
import { fileSize, initials, hue, shortTime } from "./format.js";
import { recipeRunItem } from "./recipe-run.js";

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
// Pixels from the bottom within which the list follows new messages.
const STICK_PX = 80;
// A typing indicator nobody refreshes disappears after this long.
const TYPING_TTL_MS = 6000;

const EVENT_TEXT = {
  status_changed: (d) => `Status changed to ${d.to}`,
};

export function participantKey(p) {
  return p ? `${p.kind}:${p.id}` : "";
}

export class MessageList {
  /**
   * @param {HTMLElement} scroller the scrolling element the list lives in
   * @param {object} options
   * @param {(author) => boolean} options.isOutgoing messages shown on the right
   * @param {object} options.attachments {imageUrl(att) -> Promise<string>, download(att)}
   * @param {boolean} [options.showNotes] staff view: render internal notes and events
   * @param {string} [options.emptyText] shown while there are no messages
   */
  constructor(scroller, { isOutgoing, attachments, showNotes = false, emptyText = "" }) {
    this.scroller = scroller;
    this.isOutgoing = isOutgoing;
    this.attachments = attachments;
    this.showNotes = showNotes;
    this.list = h("ol", { class: "messages", "aria-live": "polite", "aria-label": "Messages" });
    this.empty = h("li", { class: "messages-empty", text: emptyText });
    this.typingRow = h("div", { class: "typing", hidden: true, "aria-live": "polite" });
    this.list.append(this.empty);
    scroller.append(this.list, this.typingRow);
    /** seq -> {el, msg} */
    this.stored = new Map();
    /** client_msg_id -> {el, msg} for messages not stored yet */
    this.pending = new Map();
    /** seqs of messages deleted while shown (or before): never shown again */
    this.removed = new Set();
    this.seenMark = null;
    this._typingTimer = null;
  }

  get lastSeq() {
    let last = 0;
    for (const seq of this.removed) last = Math.max(last, seq);
    for (const seq of this.stored.keys()) last = Math.max(last, seq);
    return last;
  }

  get firstSeq() {
    let first = Infinity;
    for (const seq of this.stored.keys()) first = Math.min(first, seq);
    return first === Infinity ? 0 : first;
  }

  /** Every stored and pending message in display order (for tests and keyboard moves). */
  messages() {
    return [...this.list.querySelectorAll(".msg")].map((el) => el.textContent);
  }

  clear() {
    this.stored.clear();
    this.pending.clear();
    this.removed.clear();
    clear(this.list).append(this.empty);
    this.empty.hidden = false;
  }

  _nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Add or settle a stored message (ws `message` frame or REST Message); an edit or
   * delete of a shown message replaces it. */
  add(msg) {
    if (!this._shows(msg)) return false;
    const shown = this.stored.get(msg.seq);
    if (shown) return isReplacement(msg) ? this._replace(shown, msg) : false;
    if (this.removed.has(msg.seq)) return false;
    if (msg.deleted) {
      this.removed.add(msg.seq);
      return false;
    }
    const follow = this._nearBottom();
    const pending = msg.client_msg_id ? this.pending.get(msg.client_msg_id) : null;
    let el;
    if (pending && settles(pending.msg.author, msg.author)) {
      this.pending.delete(msg.client_msg_id);
      el = this._render(msg);
      pending.el.replaceWith(el);
    } else {
      el = this._render(msg);
      this._insert(el, msg.seq);
    }
    this.stored.set(msg.seq, { el, msg });
    this.empty.hidden = true;
    if (follow) this.scrollToBottom();
    return true;
  }

  /** Swap a shown message for its edited version, or take it away when deleted. */
  _replace(shown, msg) {
    if (msg.deleted) {
      shown.el.remove();
      this.stored.delete(msg.seq);
      this.removed.add(msg.seq);
      if (this.seenMark && !this.seenMark.isConnected) this.seenMark = null;
      this.empty.hidden = this.stored.size > 0 || this.pending.size > 0;
      return true;
    }
    const el = this._render(msg);
    if (this.seenMark && shown.el.contains(this.seenMark)) el.querySelector(".msg-meta")?.append(this.seenMark);
    shown.el.replaceWith(el);
    this.stored.set(msg.seq, { el, msg });
    return true;
  }

  /** Older history (a page from before the first seq), keeping the reader's place. */
  prepend(messages) {
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    for (const msg of messages) {
      if (this.stored.has(msg.seq) || this.removed.has(msg.seq) || msg.deleted || !this._shows(msg)) continue;
      const el = this._render(msg);
      this._insert(el, msg.seq);
      this.stored.set(msg.seq, { el, msg });
    }
    if (this.stored.size) this.empty.hidden = true;
    this.scroller.scrollTop = this.scroller.scrollHeight - before;
  }

  /** Notes and recipe runs are for staff only (the staff view sets showNotes). */
  _shows(msg) {
    if (this.showNotes) return true;
    return msg.kind !== "note" && !(msg.kind === "event" && msg.data?.event === "recipe_run");
  }

  _insert(el, seq) {
    // After the last stored message with a smaller seq; pending ones stay at the end.
    let anchor = null;
    for (const child of this.list.children) {
      const childSeq = Number(child.dataset.seq || 0);
      if (child.classList.contains("msg--pending") || childSeq > seq) {
        anchor = child;
        break;
      }
    }
    this.list.insertBefore(el, anchor);
  }

  /** Show a message that is not stored yet (optimistic send). */
  addPending({ clientMsgId, body, author, kind = "message", attachments = [] }) {
    const msg = { seq: 0, kind, author, body, attachments, client_msg_id: clientMsgId, ts: Date.now() };
    const el = this._render(msg, { pending: true });
    this.list.append(el);
    this.pending.set(clientMsgId, { el, msg });
    this.empty.hidden = true;
    this.scrollToBottom();
    return el;
  }

  markFailed(clientMsgId, reason) {
    const entry = this.pending.get(clientMsgId);
    if (!entry) return;
    entry.el.classList.add("msg--failed");
    const status = entry.el.querySelector(".msg-status");
    if (status) status.textContent = `Not sent: ${reason}`;
  }

  /** "Seen" under the newest outgoing message the reader has read. */
  setReceipt(seq, readerName) {
    let target = null;
    for (const [s, { el, msg }] of this.stored) {
      if (s <= seq && msg.kind !== "event" && msg.kind !== "note" && this.isOutgoing(msg.author)) {
        if (!target || s > Number(target.dataset.seq)) target = el;
      }
    }
    if (!target) return;
    if (this.seenMark) this.seenMark.remove();
    this.seenMark = h("span", { class: "msg-seen", text: readerName ? `Seen by ${readerName}` : "Seen" });
    target.querySelector(".msg-meta")?.append(this.seenMark);
  }

  /** Show (name) or hide (null) the typing indicator. */
  setTyping(name) {
    clearTimeout(this._typingTimer);
    const follow = this._nearBottom();
    clear(this.typingRow);
    if (!name) {
      this.typingRow.hidden = true;
      return;
    }
    this.typingRow.append(
      h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      h("span", { text: `${name} is typing…` }),
    );
    this.typingRow.hidden = false;
    if (follow) this.scrollToBottom();
    this._typingTimer = setTimeout(() => this.setTyping(null), TYPING_TTL_MS);
  }

  // -- rendering ------------------------------------------------------------------------------

  _render(msg, { pending = false } = {}) {
    if (msg.kind === "event") return this._renderEvent(msg);
    // A pending message is always the viewer's own, even before the server said who that is.
    const outgoing = pending || this.isOutgoing(msg.author);
    const classes = ["msg", outgoing ? "msg--out" : "msg--in", `msg--${msg.author?.kind || "system"}`];
    if (msg.kind === "note") classes.push("msg--note");
    if (pending) classes.push("msg--pending");
    const name = msg.author?.name || (msg.author?.kind === "staff" ? "Staff" : "");
    const bubble = h("div", { class: "msg-bubble" });
    if (msg.kind === "note") bubble.append(h("span", { class: "msg-note-label" }, icon(ICONS.lock, { size: 12 }), "Internal note"));
    if (msg.body) bubble.append(h("div", { class: "msg-body" }, linkify(msg.body)));
    for (const att of msg.attachments || []) bubble.append(this._renderAttachment(att));
    const meta = h(
      "div",
      { class: "msg-meta" },
      h("time", { datetime: new Date(msg.ts).toISOString(), text: shortTime(msg.ts) }),
      msg.edited_at ? h("span", { class: "msg-edited", title: `Edited ${shortTime(msg.edited_at)}`, text: "edited" }) : null,
      pending ? h("span", { class: "msg-status", text: "Sending…" }) : null,
    );
    // Incoming messages always say who wrote them; outgoing ones only in the console,
    // where several agents answer the same conversation.
    const showName = name && (!outgoing || this.showNotes);
    return h(
      "li",
      {
        class: classes.join(" "),
        dataset: { seq: String(msg.seq || ""), clientMsgId: msg.client_msg_id || "" },
      },
      outgoing || msg.author?.kind === "system" ? null : avatar(name || "?"),
      h(
        "div",
        { class: "msg-main" },
        showName ? h("div", { class: "msg-author", text: name }) : null,
        bubble,
        meta,
      ),
    );
  }

  _renderEvent(msg) {
    const data = msg.data || {};
    if (data.event === "recipe_run") return recipeRunItem(msg, data);
    const describe = EVENT_TEXT[data.event];
    const text = msg.body || (describe ? describe(data) : "Conversation updated");
    return h(
      "li",
      { class: "msg-event", dataset: { seq: String(msg.seq) } },
      h("span", { text }),
      h("time", { datetime: new Date(msg.ts).toISOString(), text: shortTime(msg.ts) }),
    );
  }

  _renderAttachment(att) {
    if (IMAGE_TYPES.has(att.content_type)) {
      const img = h("img", { class: "msg-image", alt: att.name, loading: "lazy" });
      const link = h("a", { class: "msg-image-link", href: "#", title: `${att.name} (${fileSize(att.size)})` }, img);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        this.attachments.download(att);
      });
      this.attachments.imageUrl(att).then(
        (url) => {
          img.src = url;
        },
        () => img.replaceWith(h("span", { class: "msg-file-error", text: `${att.name} could not be loaded` })),
      );
      return link;
    }
    const link = h(
      "a",
      { class: "msg-file", href: "#", title: `Download ${att.name}` },
      icon(ICONS.file, { size: 18 }),
      h("span", { class: "msg-file-name", text: att.name }),
      h("span", { class: "msg-file-size", text: fileSize(att.size) }),
    );
    link.addEventListener("click", (event) => {
      event.preventDefault();
      this.attachments.download(att);
    });
    return link;
  }
}

/**
 * Whether a stored message with a pending one's client_msg_id is that message: the same
 * author, or for staff any staff author (a webinar's reply attribution may show a
 * moderator's reply as from the primary moderator; docs/slack.md).
 */
function settles(pendingAuthor, storedAuthor) {
  if (!pendingAuthor || !storedAuthor) return false;
  if (participantKey(pendingAuthor) === participantKey(storedAuthor)) return true;
  return pendingAuthor.kind === "staff" && storedAuthor.kind === "staff";
}

export function avatar(name, extraClass = "") {
  const el = h("span", { class: `avatar ${extraClass}`.trim(), "aria-hidden": "true", text: initials(name) });
  el.style.setProperty("--avatar-hue", String(hue(name)));
  return el;
}

/**
 * Attachment loading for a token holder (widget, link page): an <img> cannot send an
 * Authorization header, so images are fetched and shown through blob: URLs.
 */
export function tokenAttachments(token) {
  const cache = new Map();
  const fetchBlob = async (att) => {
    if (!cache.has(att.id)) {
      cache.set(
        att.id,
        fetch(`/api/v1/attachments/${encodeURIComponent(att.id)}`, {
          headers: { Authorization: `Bearer ${token}` },
        }).then((r) => {
          if (!r.ok) throw new Error(`HTTP ${r.status}`);
          return r.blob();
        }),
      );
    }
    return cache.get(att.id);
  };
  return {
    imageUrl: async (att) => URL.createObjectURL(await fetchBlob(att)),
    download: async (att) => {
      const url = URL.createObjectURL(await fetchBlob(att));
      const a = h("a", { href: url, download: att.name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
  };
}

/** Attachment loading for the console: the session cookie authorises plain URLs. */
export const cookieAttachments = {
  imageUrl: async (att) => `/api/v1/attachments/${encodeURIComponent(att.id)}`,
  download: (att) => {
    window.open(`/api/v1/attachments/${encodeURIComponent(att.id)}`, "_blank", "noopener");
  },
};
