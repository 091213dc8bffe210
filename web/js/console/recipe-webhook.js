// The webhook action of the recipe editor: name, description, method, URL, content type,
// Authorization header and, for new-item recipes, the fields to send. A stored
// Authorization comes back masked ("Bearer …1a2b"): sending the masked string back keeps
// the stored value, so the field is prefilled with it and only a new value replaces it.
// Also the one-time display of the signing secrets of webhooks created by a save.

import { h } from "../dom.js";
import { checkList, choice, pathField, pathGroup, textInput } from "./recipe-form.js";
import { WEBHOOK_FIELDS } from "./recipe-summary.js";
import { toast } from "./toast.js";

const FIELD_LABELS = {
  conversation_id: "Conversation id",
  status: "Status",
  channel: "Channel",
  context: "Context",
  tags: "Tags",
  priority: "Priority",
  properties: "Properties",
  assignee: "Assignee",
  contact_name: "Contact name",
  contact_email: "Contact email",
  message_seq: "Message number",
  message_body: "Message text",
  message_author: "Message author",
  message_kind: "Message kind",
  created_at: "Created at",
  console_url: "Console link",
};

/** A new webhook action: POST JSON; new-item recipes send every field until unchecked. */
export function newWebhookAction(kind) {
  const action = { type: "webhook", name: "", description: "", method: "POST", url: "", content_type: "application/json", authorization: "" };
  if (kind === "new_item") action.fields = [...WEBHOOK_FIELDS];
  return action;
}

/** The masked form the API shows a stored Authorization in. */
const isMasked = (value) => typeof value === "string" && value.includes("…");

/** The webhook action's form (see recipe-actions.js FORMS). */
export function webhookForm(action, path, { kind }) {
  const bind = (key) => (value) => {
    action[key] = value;
  };
  const method = choice(["POST", "GET"], action.method || "POST");
  method.addEventListener("change", () => bind("method")(method.value));
  const contentType = choice(["application/json", "application/x-www-form-urlencoded"], action.content_type || "application/json");
  contentType.addEventListener("change", () => bind("content_type")(contentType.value));
  const masked = isMasked(action.authorization);
  const authorization = textInput(action.authorization || "", bind("authorization"), { type: "password", spellcheck: "false", placeholder: "Bearer abc123" });
  const authHint = masked
    ? `Stored: ${action.authorization}. Keep it to leave the stored value, type a new one to replace it, or clear it to send none.`
    : "Optional: “<type> <credentials>”. Never shown back in full.";

  let fields = null;
  if (kind === "new_item") {
    if (!Array.isArray(action.fields)) action.fields = [...WEBHOOK_FIELDS];
    fields = pathGroup(`${path}.fields`, "Fields to send", [
      checkList(WEBHOOK_FIELDS.map((f) => [f, FIELD_LABELS[f] || f]), action.fields, (chosen) => {
        action.fields = chosen;
      }),
    ], { className: "webhook-fields" });
  } else {
    delete action.fields;
    fields = h("p", { class: "muted", text: "Update recipes send the whole conversation and message objects." });
  }
  return [
    h("div", { class: "form-grid" },
      pathField(`${path}.name`, "Webhook name", textInput(action.name, bind("name"), { maxlength: "100" })),
      pathField(`${path}.method`, "Method", method),
    ),
    pathField(`${path}.url`, "URL", textInput(action.url, bind("url"), { type: "url", placeholder: "https://example.com/hooks/switchboard", spellcheck: "false" })),
    pathField(`${path}.description`, "Description (optional)", textInput(action.description, bind("description"))),
    h("div", { class: "form-grid" },
      pathField(`${path}.content_type`, "Content type", contentType),
      pathField(`${path}.authorization`, "Authorization header", authorization, authHint),
    ),
    fields,
  ];
}

/**
 * The signing secrets of webhook endpoints created by a save, shown once: `secrets` maps
 * an action index to its secret. Returns null when there are none.
 */
export function secretsNotice(secrets, actions) {
  const entries = Object.entries(secrets || {});
  if (!entries.length) return null;
  return h("section", { class: "banner banner--success secret-notice", role: "status" },
    h("strong", { text: entries.length === 1 ? "Signing secret of the new webhook" : "Signing secrets of the new webhooks" }),
    h("p", { text: "Copy it now: it is not shown again. Your receiver verifies each delivery's webhook-signature with it (Standard Webhooks)." }),
    entries.map(([index, secret]) => {
      const action = actions[Number(index)] || {};
      const copy = h("button", { class: "btn btn--small", type: "button", text: "Copy" });
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(secret);
          toast("Copied the signing secret.", "success");
        } catch {
          toast("Could not copy: select the secret and copy it by hand.", "error");
        }
      });
      return h("div", { class: "secret-row" },
        h("span", { text: `Action ${Number(index) + 1}${action.name ? ` (${action.name})` : ""}: ` }),
        h("code", { class: "secret-value", text: secret }),
        copy,
      );
    }),
  );
}
