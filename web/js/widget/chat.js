// The attendee's chat: the widget panel (in an iframe on the host page) and the link chat
// page both mount this. It connects with the attendee token, joins the token's one
// conversation, and keeps working through network trouble: an offline banner, automatic
// reconnects, and messages typed meanwhile sent once the socket is back.

import { SwitchboardClient, websocketUrl, newClientMsgId } from "../client.js";
import { h, icon, ICONS, autogrow, storage } from "../dom.js";
import { MessageList, participantKey, tokenAttachments } from "../messages.js";

// Stop telling the others we type after this long without a keystroke.
const TYPING_IDLE_MS = 3000;
// Do not flash the offline banner for reconnects quicker than this.
const BANNER_DELAY_MS = 1200;

/**
 * Mount the chat into `root`.
 * @param {HTMLElement} root
 * @param {object} options {token, title, embedded, onUnread(count), onClose()}
 * @returns {{client, list, setVisible(boolean)}}
 */
export function mountChat(root, { token, title = "Chat with us", embedded = false, onUnread = () => {}, onClose = null }) {
  const presence = h("p", { class: "chat-presence", text: "We usually reply within minutes" });
  const closeButton = onClose
    ? h("button", { class: "icon-button chat-close", type: "button", "aria-label": "Close chat", on: { click: onClose } }, icon(ICONS.close))
    : null;
  const header = h(
    "header",
    { class: "chat-header" },
    h("div", { class: "chat-heading" }, h("h1", { class: "chat-title", text: title }), presence),
    closeButton,
  );
  const retry = h("button", { type: "button", class: "link-button", text: "Retry now" });
  const banner = h(
    "div",
    { class: "chat-banner", role: "status", hidden: true },
    icon(ICONS.wifiOff, { size: 16 }),
    h("span", { class: "chat-banner-text", text: "You're offline. Messages will be sent when the connection is back." }),
    retry,
  );
  const scroller = h("div", { class: "chat-scroll" });
  const notice = h("div", { class: "chat-notice", role: "alert", hidden: true });
  const textarea = h("textarea", {
    class: "composer-input",
    rows: "1",
    placeholder: "Write a message…",
    "aria-label": "Message",
    maxlength: "16000",
  });
  const fileInput = h("input", { type: "file", class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  const attach = h("button", { type: "button", class: "icon-button composer-attach", "aria-label": "Attach a file", title: "Attach a file" }, icon(ICONS.clip));
  const send = h("button", { type: "submit", class: "composer-send", "aria-label": "Send" }, icon(ICONS.send, { size: 18 }));
  const composer = h("form", { class: "composer", "aria-label": "Write a message" }, attach, fileInput, textarea, send);
  const footer = h("p", { class: "chat-footer" }, "Powered by ", h("strong", { text: "Switchboard" }));
  const chat = h("section", { class: `chat ${embedded ? "chat--embedded" : "chat--page"}` }, header, banner, scroller, notice, composer, footer);
  root.append(chat);

  const attachments = tokenAttachments(token);
  const client = new SwitchboardClient({ url: websocketUrl(), token, clientName: embedded ? "widget" : "link-page" });
  let me = null;
  let conversation = null;
  const list = new MessageList(scroller, {
    isOutgoing: (author) => me !== null && participantKey(author) === participantKey(me),
    attachments,
    emptyText: "Ask us anything. We're here to help.",
  });
  let visible = !embedded;
  let typingSent = false;
  let typingTimer = null;
  let bannerTimer = null;
  const staffOnline = new Set();

  // -- unread and read marks --------------------------------------------------------------
  const readKey = () => `switchboard:read:${conversation}`;
  const localRead = () => Number(storage.get(readKey()) || 0);
  function unreadCount() {
    const seen = localRead();
    let count = 0;
    for (const [seq, { msg }] of list.stored) {
      if (seq > seen && msg.kind === "message" && !list.isOutgoing(msg.author)) count += 1;
    }
    return count;
  }
  function markRead() {
    if (!conversation) return;
    const last = list.lastSeq;
    if (visible && document.visibilityState === "visible" && last > localRead()) {
      storage.set(readKey(), String(last));
      client.read(conversation, last);
    }
    onUnread(unreadCount());
  }
  document.addEventListener("visibilitychange", markRead);

  // -- connection ----------------------------------------------------------------------------
  function setOffline(offline) {
    if (!offline) {
      clearTimeout(bannerTimer);
      bannerTimer = null;
      banner.hidden = true;
      chat.classList.remove("chat--offline");
      return;
    }
    if (!banner.hidden || bannerTimer) return;
    bannerTimer = setTimeout(() => {
      bannerTimer = null;
      banner.hidden = false;
      chat.classList.add("chat--offline");
    }, BANNER_DELAY_MS);
  }
  function setPendingStatus() {
    const text = client.online ? "Sending…" : "Waiting for connection…";
    for (const { el } of list.pending.values()) {
      const status = el.querySelector(".msg-status");
      if (status && !el.classList.contains("msg--failed")) status.textContent = text;
    }
  }
  retry.addEventListener("click", () => client.reconnectNow());

  client.addEventListener("status", ({ detail }) => {
    if (detail.state === "online") setOffline(false);
    else if (detail.state === "offline" || (detail.state === "connecting" && client.everConnected)) setOffline(true);
    else if (detail.state === "failed") {
      setOffline(false);
      showNotice(
        detail.code === "token_expired"
          ? "This chat session has expired. Reload the page to continue."
          : "This chat could not be opened: the link is not valid any more.",
      );
      composer.classList.add("composer--disabled");
      textarea.disabled = true;
    }
    setPendingStatus();
  });
  client.addEventListener("welcome", ({ detail }) => {
    me = detail.identity;
    if (conversation === null) {
      conversation = detail.conversations[0] || null;
      if (!conversation) {
        showNotice("This chat link does not belong to a conversation.");
        for (const item of early.splice(0)) list.markFailed(item.clientMsgId, "no conversation");
        return;
      }
      client.join(conversation, 0);
      for (const item of early.splice(0)) transmit(item);
    }
  });
  client.addEventListener("message", ({ detail }) => {
    if (detail.conversation !== conversation) return;
    list.add(detail);
    if (!list.isOutgoing(detail.author)) list.setTyping(null);
    markRead();
  });
  client.addEventListener("history_end", () => {
    list.empty.hidden = list.stored.size > 0 || list.pending.size > 0;
    list.scrollToBottom();
    markRead();
  });
  client.addEventListener("typing", ({ detail }) => {
    if (detail.conversation !== conversation || participantKey(detail.author) === participantKey(me)) return;
    list.setTyping(detail.active ? detail.author.name || "Support" : null);
  });
  client.addEventListener("presence", ({ detail }) => {
    if (detail.participant.kind !== "staff") return;
    if (detail.status === "online") staffOnline.add(detail.participant.id);
    else staffOnline.delete(detail.participant.id);
    presence.textContent = staffOnline.size ? "Our team is online" : "We usually reply within minutes";
    presence.classList.toggle("chat-presence--online", staffOnline.size > 0);
  });
  client.addEventListener("receipt", ({ detail }) => {
    if (detail.reader.kind === "staff") list.setReceipt(detail.seq, null);
  });
  client.addEventListener("send_failed", ({ detail }) => list.markFailed(detail.clientMsgId, detail.message));

  // -- composing ------------------------------------------------------------------------------
  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && conversation) client.typing(conversation, false);
    typingSent = false;
  }
  textarea.addEventListener("input", () => {
    autogrow(textarea);
    if (!conversation) return;
    if (!textarea.value.trim()) {
      stopTyping();
      return;
    }
    if (!typingSent && client.online) {
      client.typing(conversation, true);
      typingSent = true;
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === "Escape" && onClose) {
      onClose();
    }
  });
  // Messages written before the server said welcome (a fast typist on a slow link) wait
  // here, shown as "Sending…", and go out once the conversation is known.
  const early = [];
  function post(body, attachmentList = []) {
    if (!body.trim() && !attachmentList.length) return;
    const item = { clientMsgId: newClientMsgId(), body, attachmentList };
    list.addPending({ clientMsgId: item.clientMsgId, body, author: me, attachments: attachmentList });
    if (conversation) transmit(item);
    else early.push(item);
    setPendingStatus();
  }
  function transmit({ clientMsgId, body, attachmentList }) {
    const entry = list.pending.get(clientMsgId);
    if (entry && !entry.msg.author) entry.msg.author = me;
    client.send(conversation, body, { attachments: attachmentList.map((a) => a.id), clientMsgId });
  }
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = textarea.value;
    if (!body.trim()) return;
    textarea.value = "";
    autogrow(textarea);
    stopTyping();
    showNotice("");
    post(body);
    textarea.focus();
  });
  attach.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file || !conversation) return;
    showNotice("");
    attach.disabled = true;
    chat.classList.add("chat--uploading");
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const response = await fetch(`/api/v1/conversations/${encodeURIComponent(conversation)}/attachments`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
        body: form,
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.error?.message || `upload failed (HTTP ${response.status})`);
      const body = textarea.value;
      textarea.value = "";
      autogrow(textarea);
      post(body, [answer]);
    } catch (error) {
      showNotice(navigator.onLine ? `Could not attach ${file.name}: ${error.message}` : "You're offline: attach the file again when the connection is back.");
    } finally {
      attach.disabled = false;
      chat.classList.remove("chat--uploading");
    }
  });

  client.start();
  return {
    client,
    list,
    setVisible(value) {
      visible = value;
      if (visible) {
        list.scrollToBottom();
        markRead();
        textarea.focus();
      }
    },
  };
}
