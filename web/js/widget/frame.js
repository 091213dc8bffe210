// Entry point of /widget, the chat panel inside the host page's iframe (see /widget.js).
// The loader passes the token, its own origin and the title in the URL fragment.

import { mountChat } from "./chat.js";

const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || "";
const host = params.get("host");
const title = params.get("title") || "Chat with us";
const embedded = window.parent !== window;
// Pages opened from file:// have the origin "null", which postMessage cannot target.
const target = host && host !== "null" ? host : "*";

function toHost(message) {
  if (embedded) window.parent.postMessage({ source: "switchboard", ...message }, target);
}

document.title = title;
const chat = mountChat(document.getElementById("app"), {
  token,
  title,
  embedded,
  onUnread: (count) => toHost({ type: "unread", count }),
  onClose: embedded ? () => toHost({ type: "close" }) : null,
});

window.addEventListener("message", (event) => {
  if (event.source !== window.parent || (target !== "*" && event.origin !== target)) return;
  const data = event.data || {};
  if (data.source !== "switchboard-host") return;
  if (data.type === "open") chat.setVisible(true);
  else if (data.type === "closed") chat.setVisible(false);
});
