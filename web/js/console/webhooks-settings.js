// Settings > Webhooks (admins): URLs subscribed to event types of the event log, through
// /api/v1/webhooks (docs/webhooks.md). The signing secret comes once, in the answer that
// creates an endpoint: the page shows it then, with a copy button, and never again. A
// stored Authorization header is only ever shown masked. Each endpoint opens its delivery
// log (state, attempts, the last answer) with a redeliver button (webhook-deliveries.js); an
// endpoint the server disabled (its receiver answered 410) says why and offers to enable
// it again.

import { h, append, clear } from "../dom.js";
import { api, get, post } from "./api.js";
import { formField, showFieldError } from "./settings-integrations.js";
import { attempt, toast } from "./toast.js";
import { deliveryLog } from "./webhook-deliveries.js";

// The event log's types (protocol/events.py EVENT_TYPES); "*" means all, later ones too.
const EVENT_TYPES = [
  "conversation.created",
  "conversation.updated",
  "message.posted",
  "message.edited",
  "message.deleted",
  "message.read",
  "participant.joined",
  "participant.left",
  "interaction.recorded",
];
const ALL_EVENTS = "*";

/** The "Webhooks" settings section (registered by settings.js). */
export const webhooksSection = {
  id: "webhooks",
  title: "Webhooks",
  description: "Send what happens in conversations to your own systems: each event of the chosen types is POSTed to your URL, signed with the endpoint's secret (Standard Webhooks).",
  adminOnly: true,
  render: renderWebhooks,
};

function renderWebhooks(body) {
  const cards = new Map(); // endpoint id -> card
  const secretSlot = h("div");
  const list = h("div", { class: "webhook-list", role: "list", "aria-label": "Webhook endpoints" });
  const empty = h("p", { class: "empty-card", hidden: true, text: "No endpoints yet. Add one below." });

  const refresh = async ({ quiet = false } = {}) => {
    const answer = quiet ? await get("/webhooks").catch(() => null) : await attempt(() => get("/webhooks"), "Could not load the webhooks");
    if (!answer) return;
    const seen = new Set();
    for (const endpoint of answer.items) {
      seen.add(endpoint.id);
      let card = cards.get(endpoint.id);
      if (!card) {
        card = endpointCard(refresh);
        cards.set(endpoint.id, card);
      }
      card.show(endpoint);
      list.append(card.el); // keeps the API's order (oldest first)
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) {
        card.el.remove();
        cards.delete(id);
      }
    }
    empty.hidden = cards.size > 0;
  };

  const created = (endpoint) => {
    clear(secretSlot).append(secretCard(endpoint, () => clear(secretSlot)));
    secretSlot.querySelector("button")?.focus();
    refresh();
  };
  body.append(secretSlot, list, empty, createForm(created));
  refresh();
}

// -- the secret, once ----------------------------------------------------------------------------

function secretCard(endpoint, done) {
  const value = h("input", { class: "input mono", readonly: true, value: endpoint.secret, "aria-label": "Signing secret", autocomplete: "off", spellcheck: "false" });
  const copy = h("button", { class: "btn btn--primary", type: "button", text: "Copy secret" });
  copy.addEventListener("click", async () => {
    if (await copyText(value)) {
      copy.textContent = "Copied";
      toast("Copied the signing secret.", "success");
    } else {
      toast("Could not copy: select the secret and copy it by hand.", "error");
    }
  });
  const close = h("button", { class: "btn", type: "button", text: "I have saved it", on: { click: done } });
  return h("section", { class: "card hook-secret-card", "aria-label": "Signing secret of the new endpoint" },
    h("h3", { text: "Signing secret" }),
    h("p", { class: "hook-secret-note" }, h("strong", { text: "Shown once. " }), `Copy it now and keep it with your receiver at ${endpoint.url}: it verifies that deliveries come from Switchboard, and this page cannot show it again.`),
    h("div", { class: "hook-secret-row" }, value, copy),
    h("div", { class: "form-actions" }, close),
  );
}

async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    // No clipboard API (an insecure origin) or no permission: the selection fallback.
    input.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

// -- forms ---------------------------------------------------------------------------------------

/** The event type checkboxes; `.value()` is the chosen list, `.setError(text)` as fields. */
function eventPicker(chosen) {
  const all = h("input", { type: "checkbox", value: ALL_EVENTS, checked: chosen.includes(ALL_EVENTS) });
  const boxes = EVENT_TYPES.map((type) => h("input", { type: "checkbox", value: type, checked: chosen.includes(type) }));
  const sync = () => {
    for (const box of boxes) box.disabled = all.checked;
  };
  all.addEventListener("change", sync);
  sync();
  const error = h("p", { class: "field-error", role: "alert", hidden: true });
  const wrap = h("fieldset", { class: "field hook-events", dataset: { field: "event_types" } },
    h("legend", { text: "Events" }),
    h("label", { class: "check" }, all, h("span", {}, "All events ", h("span", { class: "muted", text: "(including types added later)" }))),
    h("div", { class: "checks hook-event-checks" }, boxes.map((box) => h("label", { class: "check" }, box, h("code", { text: box.value })))),
    error,
  );
  wrap.value = () => (all.checked ? [ALL_EVENTS] : boxes.filter((b) => b.checked).map((b) => b.value));
  wrap.setError = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
  };
  return wrap;
}

function createForm(onCreated) {
  const url = h("input", { class: "input", name: "url", type: "url", required: true, autocomplete: "off", placeholder: "https://crm.example.com/hooks/switchboard" });
  const description = h("input", { class: "input", name: "description", autocomplete: "off", maxlength: "1000" });
  const authorization = h("input", { class: "input", name: "authorization", autocomplete: "off", spellcheck: "false", placeholder: "Bearer my-receiver-token" });
  const fields = {
    url: formField("URL", url, "http or https. Addresses on private networks are refused unless the server allows them."),
    description: formField("Description", description),
    event_types: eventPicker(["message.posted"]),
    authorization: formField("Authorization header (optional)", authorization, "Sent with every delivery, as <type> <credentials>. Stored, and only ever shown masked."),
  };
  const formError = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: "Add endpoint" });
  const form = h("form", { class: "inline-form settings-form", "aria-label": "Add a webhook endpoint", novalidate: true },
    h("h3", { text: "Add an endpoint" }),
    fields.url, fields.description, fields.event_types, fields.authorization,
    formError,
    h("div", { class: "form-actions" }, save),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = { url: url.value.trim(), event_types: fields.event_types.value(), description: description.value.trim() };
    if (authorization.value.trim()) data.authorization = authorization.value.trim();
    save.disabled = true;
    try {
      const endpoint = await post("/webhooks", data);
      form.reset();
      for (const wrap of Object.values(fields)) wrap.setError(null);
      formError.hidden = true;
      toast(`Added ${endpoint.url}.`, "success");
      onCreated(endpoint);
    } catch (error) {
      showFieldError(fields, formError, error);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

function editForm(endpoint, { saved, cancel }) {
  const url = h("input", { class: "input", name: "url", type: "url", value: endpoint.url, autocomplete: "off" });
  const description = h("input", { class: "input", name: "description", value: endpoint.description || "", autocomplete: "off", maxlength: "1000" });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: endpoint.enabled });
  const authorization = h("input", { class: "input", name: "authorization", autocomplete: "off", spellcheck: "false", placeholder: endpoint.authorization ? "Leave empty to keep the current header" : "Bearer my-receiver-token" });
  const remove = h("input", { type: "checkbox", name: "remove_authorization" });
  remove.addEventListener("change", () => {
    authorization.disabled = remove.checked;
  });
  const fields = {
    url: formField("URL", url),
    description: formField("Description", description),
    event_types: eventPicker(endpoint.event_types),
    enabled: h("div", { class: "field field--toggle", dataset: { field: "enabled" } }, h("label", { class: "check" }, enabled, "Enabled")),
    authorization: formField("Authorization header", authorization, endpoint.authorization ? `Current: ${endpoint.authorization}. Type a new one to replace it.` : "None. Optional: <type> <credentials>."),
  };
  fields.enabled.setError = () => {};
  if (endpoint.authorization) fields.authorization.append(h("label", { class: "check" }, remove, "Remove the Authorization header"));
  const formError = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: "Save changes" });
  const form = h("form", { class: "webhook-edit settings-form", "aria-label": `Edit ${endpoint.url}`, novalidate: true },
    fields.url, fields.description, fields.event_types, fields.enabled, fields.authorization,
    formError,
    h("div", { class: "form-actions" }, h("button", { class: "btn", type: "button", text: "Cancel", on: { click: cancel } }), save),
  );
  const changes = () => {
    const out = {};
    if (url.value.trim() !== endpoint.url) out.url = url.value.trim();
    if (description.value.trim() !== (endpoint.description || "")) out.description = description.value.trim();
    const events = fields.event_types.value();
    if (events.join(" ") !== endpoint.event_types.join(" ")) out.event_types = events;
    if (enabled.checked !== endpoint.enabled) out.enabled = enabled.checked;
    if (remove.checked) out.authorization = null;
    else if (authorization.value.trim()) out.authorization = authorization.value.trim();
    return out;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = changes();
    if (!Object.keys(body).length) {
      toast("Nothing changed.", "info");
      return;
    }
    save.disabled = true;
    try {
      const answer = await api("PATCH", `/webhooks/${encodeURIComponent(endpoint.id)}`, body);
      toast(`Saved ${answer.url}.`, "success");
      saved(answer);
    } catch (error) {
      showFieldError(fields, formError, error);
      save.disabled = false;
    }
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      cancel();
    }
  });
  return form;
}

// -- one endpoint --------------------------------------------------------------------------------

function endpointCard(refresh) {
  let endpoint = null;
  let log = null;
  const head = h("div", { class: "webhook-head" });
  const slot = h("div", { class: "webhook-slot" });
  const logSlot = h("div", { class: "webhook-log" });
  const el = h("section", { class: "card webhook-card", role: "listitem" }, head, slot, logSlot);

  const showSlot = (...children) => {
    clear(slot).append(...children);
    return slot;
  };
  const toggleLog = (button) => {
    if (log) {
      log = null;
      clear(logSlot);
      button.setAttribute("aria-expanded", "false");
      return;
    }
    log = deliveryLog(endpoint, refresh);
    logSlot.append(log.el);
    button.setAttribute("aria-expanded", "true");
  };
  const edit = () => {
    const form = editForm(endpoint, {
      saved: (answer) => {
        clear(slot);
        refresh();
        show(answer);
      },
      cancel: () => clear(slot),
    });
    showSlot(form).querySelector("input")?.focus();
  };
  const confirmDelete = () => {
    const yes = h("button", { class: "btn btn--small btn--danger-solid", type: "button", text: "Delete endpoint" });
    const no = h("button", { class: "btn btn--small", type: "button", text: "Cancel", on: { click: () => clear(slot) } });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      if (await attempt(() => api("DELETE", `/webhooks/${encodeURIComponent(endpoint.id)}`), "Could not delete the endpoint")) {
        toast(`Deleted ${endpoint.url}.`, "success");
        refresh();
      } else {
        yes.disabled = false;
      }
    });
    showSlot(h("div", { class: "hook-confirm", role: "group", "aria-label": "Confirm deletion" },
      h("p", { text: `Delete ${endpoint.url} and its delivery log? Pending deliveries are dropped, and this cannot be undone.` }),
      h("div", { class: "form-actions" }, no, yes),
    ));
    no.focus();
  };
  const enable = async () => {
    const answer = await attempt(() => api("PATCH", `/webhooks/${encodeURIComponent(endpoint.id)}`, { enabled: true }), "Could not enable the endpoint");
    if (answer) {
      toast(`Enabled ${answer.url} again: its pending deliveries resume.`, "success");
      show(answer);
      log?.load();
    }
  };

  function show(next) {
    // Unchanged: keep the rendered head (and the keyboard focus in it).
    if (endpoint && JSON.stringify(next) === JSON.stringify(endpoint)) return;
    endpoint = next;
    el.setAttribute("aria-label", endpoint.url);
    el.dataset.id = endpoint.id;
    el.classList.toggle("webhook-card--disabled", !endpoint.enabled);
    const counts = endpoint.deliveries || {};
    const owned = Boolean(endpoint.recipe_id);
    const logButton = h("button", { class: "btn btn--small", type: "button", "aria-expanded": String(Boolean(log)), text: "Delivery log" });
    logButton.addEventListener("click", () => toggleLog(logButton));
    // dom.append: skips the null parts (Element.append would show them as "null").
    append(clear(head), [
      h("div", { class: "webhook-title" },
        h("h3", { class: "webhook-url", text: endpoint.url }),
        h("span", { class: `status-pill ${endpoint.enabled ? "status-pill--open" : "status-pill--resolved"}`, text: endpoint.enabled ? "Enabled" : "Disabled" }),
      ),
      endpoint.description ? h("p", { class: "webhook-description", text: endpoint.description }) : null,
      !endpoint.enabled && endpoint.disabled_reason
        ? h("div", { class: "banner banner--error webhook-disabled", role: "status" }, h("span", { text: capitalise(endpoint.disabled_reason) }), h("button", { class: "btn btn--small", type: "button", text: "Enable again", on: { click: enable } }))
        : null,
      h("dl", { class: "facts webhook-facts" },
        h("dt", { text: "Events" }),
        h("dd", { class: "webhook-events" }, owned ? h("span", { class: "muted", text: "Sent by a recipe's webhook action" }) : endpoint.event_types.map((t) => h("code", { class: "chip chip--code", text: t === ALL_EVENTS ? "all events" : t }))),
        h("dt", { text: "Deliveries" }),
        h("dd", { class: "webhook-counts", text: `${counts.pending ?? 0} pending · ${counts.delivered ?? 0} delivered · ${counts.failed ?? 0} failed` }),
        h("dt", { text: "Authorization" }),
        h("dd", {}, endpoint.authorization ? h("code", { text: endpoint.authorization }) : h("span", { class: "muted", text: "none" })),
      ),
      h("div", { class: "webhook-actions" },
        logButton,
        owned ? null : h("button", { class: "btn btn--small", type: "button", text: "Edit", on: { click: edit } }),
        owned ? null : h("button", { class: "btn btn--small btn--danger", type: "button", text: "Delete", on: { click: confirmDelete } }),
      ),
    ]);
    log?.setEndpoint(endpoint);
  }
  return { el, show };
}

function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}
