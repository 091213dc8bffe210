// Settings > Mail and Settings > Mail activity (admins only): SMTP for emailing replies to
// attendees who are offline. Saves through PUT /api/v1/integrations/mail, sending only
// what changed; the password is write-only ("set / not set" and a field to replace it).

import { h, clear } from "../dom.js";
import { api, get } from "./api.js";
import { formField, renderActivityLog, showFieldError, toggleField } from "./settings-integrations.js";
import { attempt, toast } from "./toast.js";

function renderMail(body, app) {
  const holder = h("div", { class: "settings-stack" }, h("p", { class: "muted", text: "Loading the mail settings…" }));
  body.append(holder);
  attempt(() => get("/integrations/mail"), "Could not load the mail settings").then((view) => {
    if (view) mailForm(holder, app, view);
  });
}

function mailForm(holder, app, view) {
  const s = view.settings;
  const counts = view.mail || {};
  const host = h("input", { class: "input", name: "host", value: s.host, autocomplete: "off", placeholder: "smtp.example.com" });
  const port = h("input", { class: "input", name: "port", type: "number", min: "1", max: "65535", value: String(s.port) });
  const sender = h("input", { class: "input", name: "sender", type: "email", value: s.sender, autocomplete: "off" });
  const username = h("input", { class: "input", name: "username", value: s.username, autocomplete: "off" });
  const password = h("input", { class: "input", name: "password", type: "password", autocomplete: "new-password", placeholder: view.password_set ? "Leave empty to keep the current password" : "" });
  const starttls = toggleField("Use STARTTLS", "starttls", s.starttls, "Turn off only for a local relay.");
  const fields = {
    host: formField("SMTP host", host, "Mail is off while this is empty."),
    port: formField("Port", port),
    sender: formField("From address", sender),
    username: formField("Username", username, "Empty: no login."),
    password: formField("Password", password, view.password_set ? "Set. Type a new one to replace it." : "Not set."),
    starttls,
  };
  const formError = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: "Save mail settings" });
  const form = h("form", { class: "inline-form settings-form", "aria-label": "Mail settings", novalidate: true },
    h("div", { class: "form-grid" }, fields.host, fields.port, fields.sender, fields.username, fields.password),
    fields.starttls,
    formError,
    h("div", { class: "form-actions" }, save),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, input] of [["host", host], ["sender", sender], ["username", username]]) {
      if (input.value.trim() !== s[name]) body[name] = input.value.trim();
    }
    if (Number(port.value) !== s.port) body.port = port.value === "" ? null : Number(port.value);
    if (password.value) body.password = password.value;
    if (starttls.input.checked !== s.starttls) body.starttls = starttls.input.checked;
    for (const wrap of Object.values(fields)) wrap.setError(null);
    formError.hidden = true;
    if (!Object.keys(body).length) {
      toast("Nothing changed.", "info");
      return;
    }
    save.disabled = true;
    try {
      const saved = await api("PUT", "/integrations/mail", body);
      toast("Saved the mail settings.", "success");
      mailForm(holder, app, saved);
    } catch (error) {
      showFieldError(fields, formError, error);
      save.disabled = false;
    }
  });
  const status = h("section", { class: "card integration-status" },
    h("h3", { text: "Status" }),
    h("dl", { class: "facts" },
      h("dt", { text: "Mail" }),
      h("dd", {}, h("span", { class: `status-pill ${view.enabled ? "status-pill--open" : "status-pill--resolved"}`, text: view.enabled ? "On" : "Off: no SMTP host" })),
      h("dt", { text: "Mails" }),
      h("dd", { text: `${counts.pending ?? 0} pending · ${counts.sent ?? 0} sent · ${counts.dead ?? 0} dead · ${counts.skipped ?? 0} skipped` }),
    ),
  );
  clear(holder).append(status, form);
}

/** The mail sections of the settings view, in their nav order. */
export function mailSections() {
  return [
    {
      id: "mail",
      title: "Mail",
      description: "SMTP for emailing staff replies to attendees who are not connected.",
      adminOnly: true,
      render: renderMail,
    },
    {
      id: "mail-activity",
      title: "Mail activity",
      description: "Every mail's outcome, newest first. Mails that failed for good wait here until re-driven.",
      adminOnly: true,
      render(body, app) {
        renderActivityLog(body, app, {
          base: "/integrations/mail",
          held: async () => (await get("/integrations/mail")).mail.dead || 0,
          heldWord: "dead mail",
          button: "Re-drive dead mails",
          empty: "Nothing logged yet.",
        });
      },
    },
  ];
}
