// Replies prepared by recipes (a "reply" action in mode "approval" or "draft";
// actors/recipe_inbox.py). The Approvals view (/console/approvals) lists the replies
// waiting for an agent's approval: the agent may edit the text, then approves (the reply
// is posted as that agent) or discards it. In an open conversation, DraftStrip offers
// that conversation's waiting replies above the composer: "Use draft" puts the text in
// the reply box, and sending it approves the reply with the edited text, so a prepared
// reply is sent once and only through its approval (POST /api/v1/replies/<id>/approve).

import { h, clear, icon, ICONS } from "../dom.js";
import { ago, fullTime } from "../format.js";
import { get, post, query } from "./api.js";
import { attempt, toast } from "./toast.js";

// How often the rail's count of waiting approvals is re-read (ms).
const COUNT_REFRESH_MS = 30_000;
// Sent on window when a conversation's strip sent or discarded a reply, so the rail's
// count follows at once.
const DECIDED_EVENT = "switchboard:reply-decided";

/** What the views need of a reply, whatever names the API gives its references. */
function replyFields(reply) {
  const recipe = typeof reply.recipe === "object" && reply.recipe ? reply.recipe : {};
  const conversation = typeof reply.conversation === "object" && reply.conversation ? reply.conversation : {};
  return {
    id: reply.id,
    body: reply.body || "",
    mode: reply.mode,
    createdAt: reply.created_at,
    conversation: reply.conversation_id || conversation.id || (typeof reply.conversation === "string" ? reply.conversation : null),
    recipeName: reply.recipe_name || recipe.name || "a recipe",
    contactName: reply.contact_name || conversation.contact?.name || null,
    contextTitle: reply.context_title || conversation.context?.title || null,
  };
}

const approve = (id, body) => post(`/replies/${encodeURIComponent(id)}/approve`, body === null ? {} : { body });
const discard = (id) => post(`/replies/${encodeURIComponent(id)}/discard`, {});

// -- the Approvals view -----------------------------------------------------------------------------

export class ApprovalsView {
  constructor(app) {
    this.app = app;
    this.count = h("span", { class: "rail-badge", hidden: true, "aria-hidden": "true" });
    this.list = h("ul", { class: "approval-list", "aria-label": "Replies waiting for approval" });
    this.empty = h("div", { class: "empty-card", hidden: true }, h("strong", { text: "Nothing waits for approval." }), h("p", { text: "Replies that recipes queue for approval appear here." }));
    const refresh = h("button", { class: "btn btn--small", type: "button", text: "Refresh", on: { click: () => this.load() } });
    this.el = h("main", { class: "approvals", "aria-labelledby": "approvals-title" },
      h("div", { class: "approvals-body" },
        h("div", { class: "approvals-head" }, h("h1", { id: "approvals-title", text: "Approvals" }), refresh),
        h("p", { class: "settings-lead", text: "Replies prepared by recipes. Edit the text if it needs it, then approve to send it as yourself, or discard it." }),
        this.list,
        this.empty,
      ),
    );
    this.contacts = new Map(); // conversation id -> Promise of {name, context}
  }

  /** The rail's count of waiting approvals: read now, then every COUNT_REFRESH_MS. */
  startCount() {
    this.refreshCount();
    setInterval(() => this.refreshCount(), COUNT_REFRESH_MS);
    window.addEventListener("focus", () => this.refreshCount());
    window.addEventListener(DECIDED_EVENT, () => this.refreshCount());
  }

  async refreshCount() {
    const answer = await get(`/replies${query({ state: "waiting", mode: "approval" })}`).catch(() => null);
    if (answer) this._showCount(answer.items.length);
  }

  _showCount(n) {
    this.count.hidden = n === 0;
    this.count.textContent = n > 99 ? "99+" : String(n);
    this.count.closest?.("a")?.setAttribute("aria-label", n ? `Approvals, ${n} waiting` : "Approvals");
  }

  async load() {
    const answer = await attempt(() => get(`/replies${query({ state: "waiting", mode: "approval" })}`), "Could not load the approvals");
    if (!answer) return;
    clear(this.list).append(...answer.items.map((reply) => this._card(replyFields(reply))));
    this._settle();
  }

  _settle() {
    const n = this.list.children.length;
    this.empty.hidden = n > 0;
    this._showCount(n);
  }

  /** The contact's name and the context of a conversation (asked once per conversation). */
  _conversation(id) {
    if (!this.contacts.has(id)) {
      this.contacts.set(id, get(`/conversations/${encodeURIComponent(id)}`).then(
        (d) => ({ name: d.contact?.name || "Unknown visitor", context: d.context?.title || null }),
        () => ({ name: "A conversation", context: null }),
      ));
    }
    return this.contacts.get(id);
  }

  _card(r) {
    const href = `/console/c/${encodeURIComponent(r.conversation)}`;
    const who = h("a", { class: "approval-who", href, text: r.contactName || "…" });
    who.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.app.navigate(href);
    });
    const where = h("span", { class: "muted approval-context", text: r.contextTitle || "" });
    if (!r.contactName) {
      this._conversation(r.conversation).then(({ name, context }) => {
        who.textContent = name;
        where.textContent = context || "";
      });
    }
    const text = h("textarea", { class: "textarea approval-text", rows: "4", maxlength: "16000", "aria-label": "Proposed reply" });
    text.value = r.body;
    const send = h("button", { class: "btn btn--primary btn--small", type: "button" }, icon(ICONS.check, { size: 15 }), "Approve and send");
    const drop = h("button", { class: "btn btn--small btn--danger", type: "button", text: "Discard" });
    const card = h("li", { class: "card approval", dataset: { id: r.id } },
      h("div", { class: "approval-head" },
        h("div", { class: "approval-title" }, who, where),
        h("span", { class: "chip", text: `Recipe: ${r.recipeName}` }),
        h("time", { class: "muted", datetime: new Date(r.createdAt).toISOString(), title: fullTime(r.createdAt), text: ago(r.createdAt) }),
      ),
      text,
      h("div", { class: "form-actions" }, h("span", { class: "composer-hint", text: "Ctrl+Enter approves" }), drop, send),
    );
    card.setAttribute("aria-label", `Reply proposed by ${r.recipeName}`);
    const decide = async (action) => {
      send.disabled = drop.disabled = true;
      const edited = text.value;
      if (action === "approve" && !edited.trim()) {
        toast("The reply is empty: write something or discard it.", "error");
        send.disabled = drop.disabled = false;
        return;
      }
      const done = await attempt(
        () => (action === "approve" ? approve(r.id, edited === r.body ? null : edited) : discard(r.id)),
        action === "approve" ? "Could not send the reply" : "Could not discard the reply",
      );
      if (done) {
        toast(action === "approve" ? `Sent to ${who.textContent}.` : "Discarded the reply.", "success");
        card.remove();
        this._settle();
      } else {
        send.disabled = drop.disabled = false;
        this.load(); // someone else may have decided it meanwhile
      }
    };
    send.addEventListener("click", () => decide("approve"));
    drop.addEventListener("click", () => decide("discard"));
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        decide("approve");
      }
    });
    return card;
  }
}

// -- prepared replies above a conversation's composer ----------------------------------------------

export class DraftStrip {
  /**
   * @param {object} options
   * @param {(text: string) => void} options.fill puts a draft's text in the reply box
   */
  constructor({ fill }) {
    this.fill = fill;
    this.conversation = null;
    this.items = [];
    this.active = null; // the reply whose text is in the reply box
    this.el = h("div", { class: "drafts", role: "region", "aria-label": "Prepared replies", hidden: true });
  }

  async load(conversation) {
    this.conversation = conversation;
    const answer = await get(`/replies${query({ state: "waiting", conversation })}`).catch(() => null);
    if (!answer || this.conversation !== conversation) return;
    this.items = answer.items.map(replyFields).filter((r) => r.conversation === conversation || !r.conversation);
    if (this.active && !this.items.some((r) => r.id === this.active.id)) this.active = null;
    this._render();
  }

  reset() {
    this.conversation = null;
    this.items = [];
    this.active = null;
    this._render();
  }

  _render() {
    clear(this.el);
    this.el.hidden = this.items.length === 0;
    if (this.active) {
      const stop = h("button", { class: "link-button", type: "button", text: "Stop using it", on: { click: () => this._use(null) } });
      this.el.append(h("div", { class: "draft draft--active", role: "status" },
        icon(ICONS.check, { size: 15 }),
        h("span", { class: "draft-label", text: `Using the ${this.active.mode === "approval" ? "reply waiting for approval" : "draft"} from “${this.active.recipeName}”: sending approves it with your edits.` }),
        stop,
      ));
      return;
    }
    for (const r of this.items) {
      const use = h("button", { class: "btn btn--small btn--primary", type: "button", text: "Use draft", "aria-label": `Use the draft from ${r.recipeName}` });
      const drop = h("button", { class: "btn btn--small", type: "button", text: "Discard", "aria-label": `Discard the draft from ${r.recipeName}` });
      use.addEventListener("click", () => this._use(r));
      drop.addEventListener("click", () => this._discard(r, drop));
      this.el.append(h("div", { class: "draft", dataset: { id: r.id } },
        h("div", { class: "draft-main" },
          h("span", { class: "draft-label", text: `${r.mode === "approval" ? "Waiting for approval" : "Draft"} · recipe “${r.recipeName}”` }),
          h("p", { class: "draft-text", text: r.body }),
        ),
        h("div", { class: "draft-actions" }, drop, use),
      ));
    }
  }

  _use(reply) {
    this.active = reply;
    if (reply) this.fill(reply.body);
    this._render();
  }

  async _discard(reply, button) {
    button.disabled = true;
    if (await attempt(() => discard(reply.id), "Could not discard the draft")) {
      toast(reply.mode === "approval" ? "Discarded the reply." : "Discarded the draft.", "success");
      this.items = this.items.filter((r) => r.id !== reply.id);
      this._render();
      window.dispatchEvent(new CustomEvent(DECIDED_EVENT));
    } else {
      this.load(this.conversation);
    }
  }

  /**
   * Send `body` as the reply in use (approve it with the edited text).
   * @returns {Promise<boolean>} whether it was sent
   */
  async send(body) {
    const reply = this.active;
    const sent = await attempt(() => approve(reply.id, body === reply.body ? null : body), "Could not send the draft");
    if (!sent) {
      this.load(this.conversation);
      return false;
    }
    this.active = null;
    this.items = this.items.filter((r) => r.id !== reply.id);
    this._render();
    window.dispatchEvent(new CustomEvent(DECIDED_EVENT));
    return true;
  }
}
