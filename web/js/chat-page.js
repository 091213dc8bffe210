// The link chat page (/chat#token=sba_...&title=...): the context on top, the chat below.
// The links capability will fill the context from the link; for now the page shows the
// title it is given.

import { mountChat } from "./widget/chat.js";

const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || "";
const title = params.get("title") || "Conversation";

document.title = `${title} · Chat`;
document.getElementById("context-title").textContent = title;
if (!token) {
  document.getElementById("context-text").textContent =
    "This page needs a chat link. Open the link from your invitation email again.";
} else {
  mountChat(document.getElementById("app"), { token, title: "Chat", embedded: false });
}
