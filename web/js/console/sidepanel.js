// The conversation's side panel: contact (with online now / last seen), context (the
// webinar, or the note/email the conversation is about), tags and details.

import { h, clear, linkify } from "../dom.js";
import { ago, fullTime } from "../format.js";
import { avatar } from "../messages.js";

function row(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", { text: label }), h("dd", {}, value instanceof Node ? value : String(value))];
}

function safeLink(url, text) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") {
      return h("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer nofollow", text: text || url });
    }
  } catch {
    // not a URL: shown as text below
  }
  return h("span", { text: text || url });
}

export class SidePanel {
  /** @param {object} handlers {addTag(tag), removeTag(tag)} */
  constructor(handlers) {
    this.handlers = handlers;
    this.el = h("aside", { class: "side", "aria-label": "Conversation details" });
    this.detail = null;
    this.online = false;
    this.lastSeen = null;
  }

  show(detail) {
    this.detail = detail;
    this.online = false;
    this.lastSeen = detail.last_customer_at;
    this.render();
  }

  hide() {
    this.detail = null;
    clear(this.el);
  }

  update(state) {
    if (!this.detail) return;
    Object.assign(this.detail, { ...state, context: this.detail.context, contact: this.detail.contact });
    this.render();
  }

  setPresence(online) {
    if (!online && this.online) this.lastSeen = Date.now();
    this.online = online;
    this.render();
  }

  render() {
    clear(this.el);
    const d = this.detail;
    if (!d) return;
    this.el.append(this._contact(d), this._context(d), this._tags(d), this._details(d));
  }

  _contact(d) {
    const contact = d.contact || { name: "Unknown visitor" };
    const presence = this.online
      ? h("span", { class: "presence presence--online", text: "Online now" })
      : h("span", { class: "presence", text: this.lastSeen ? `Last seen ${ago(this.lastSeen)}` : "Offline" });
    return h(
      "section",
      { class: "card", "aria-labelledby": "side-contact" },
      h("h3", { id: "side-contact", class: "visually-hidden", text: "Contact" }),
      h(
        "div",
        { class: "contact" },
        avatar(contact.name || "?", "avatar--large"),
        h(
          "div",
          { class: "contact-main" },
          h("div", { class: "contact-name", text: contact.name || "Unknown visitor" }),
          contact.email ? h("a", { class: "contact-email", href: `mailto:${contact.email}`, text: contact.email }) : h("span", { class: "muted", text: "No email" }),
          presence,
        ),
      ),
    );
  }

  _context(d) {
    const c = d.context;
    const card = h("section", { class: "card", "aria-labelledby": "side-context" });
    if (!c) {
      card.append(h("h3", { id: "side-context", text: "Context" }), h("p", { class: "muted", text: "Not linked to a webinar or message." }));
      return card;
    }
    const data = c.data || {};
    const items = [];
    let heading = "Context";
    if (c.kind === "webinar") {
      heading = "Webinar";
      items.push(
        row("Webinar", data.webinar || c.title),
        row("Session type", data.session_type),
        row("Session start", data.starts_at ? fullTime(data.starts_at) : null),
        row("Joined chat", fullTime(d.created_at)),
      );
    } else if (c.kind === "site") {
      heading = "Site";
      items.push(row("Site", c.title), row("Address", data.url ? safeLink(data.url) : null), row("Joined chat", fullTime(d.created_at)));
    } else {
      heading = c.kind === "email" ? "Email" : c.kind === "event" ? "Event" : "Note";
      items.push(row("Subject", data.subject || c.title));
    }
    card.append(h("h3", { id: "side-context", text: heading }), h("dl", { class: "facts" }, items.flat().filter(Boolean)));
    if (c.kind !== "webinar" && c.kind !== "site") {
      if (data.body) card.append(h("div", { class: "context-body" }, linkify(data.body)));
      if (data.attachments?.length) {
        card.append(h("ul", { class: "context-files" }, data.attachments.map((a) => h("li", {}, safeLink(a.url, a.name)))));
      }
    }
    return card;
  }

  _tags(d) {
    const input = h("input", { class: "input input--small", type: "text", placeholder: "Add a tag", "aria-label": "Add a tag", maxlength: "64" });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && input.value.trim()) {
        event.preventDefault();
        this.handlers.addTag(input.value.trim().toLowerCase());
        input.value = "";
      }
    });
    const chips = (d.tags || []).map((tag) =>
      h(
        "span",
        { class: "chip chip--removable" },
        tag,
        h("button", { type: "button", class: "chip-remove", "aria-label": `Remove tag ${tag}`, text: "×", on: { click: () => this.handlers.removeTag(tag) } }),
      ),
    );
    return h(
      "section",
      { class: "card", "aria-labelledby": "side-tags" },
      h("h3", { id: "side-tags", text: "Tags" }),
      h("div", { class: "tags" }, chips.length ? chips : h("span", { class: "muted", text: "No tags" })),
      input,
    );
  }

  _details(d) {
    return h(
      "section",
      { class: "card", "aria-labelledby": "side-details" },
      h("h3", { id: "side-details", text: "Details" }),
      h(
        "dl",
        { class: "facts" },
        [
          row("Channel", d.channel),
          row("Started", fullTime(d.created_at)),
          row("Last activity", ago(d.last_activity_at)),
          row("Conversation", h("code", { text: d.id })),
        ]
          .flat()
          .filter(Boolean),
      ),
    );
  }
}
