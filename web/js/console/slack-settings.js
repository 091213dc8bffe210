// Settings > Slack and Settings > Slack activity (admins only). The form saves through
// PUT /api/v1/integrations/slack, sending only what changed (so values from the
// environment are not pinned by accident). Secrets are write-only: the page shows the
// masked token and "set / not set" for the signing secret, and a field to replace each.

import { h, clear } from "../dom.js";
import { api, get } from "./api.js";
import { banner, formField, renderActivityLog, showFieldError, toggleField } from "./settings-integrations.js";
import { attempt, toast } from "./toast.js";

const REPLY_AS_LABELS = { primary: "The primary moderator", actual: "The moderator who wrote it" };

function replyAsSelect(name, value, { withDefault = null } = {}) {
  const select = h("select", { class: "select", name },
    withDefault ? h("option", { value: "", text: `Default (${REPLY_AS_LABELS[withDefault].toLowerCase()})` }) : null,
    Object.entries(REPLY_AS_LABELS).map(([v, text]) => h("option", { value: v, text })),
  );
  select.value = value || "";
  return select;
}

function renderSlack(body, app) {
  const holder = h("div", { class: "settings-stack" }, h("p", { class: "muted", text: "Loading the Slack settings…" }));
  body.append(holder);
  attempt(() => get("/integrations/slack"), "Could not load the Slack settings").then((view) => {
    if (view) slackForm(holder, app, view);
  });
}

function statusCard(view) {
  const ops = view.operations || {};
  return h("section", { class: "card integration-status" },
    h("h3", { text: "Status" }),
    h("dl", { class: "facts" },
      h("dt", { text: "Slack" }),
      h("dd", {}, h("span", { class: `status-pill ${view.enabled ? "status-pill--open" : "status-pill--resolved"}`, text: view.enabled ? "On" : "Off: no bot token" })),
      h("dt", { text: "Request URL" }),
      h("dd", {}, h("code", { text: view.request_url }), h("span", { class: "muted", text: " (Event Subscriptions in your Slack app)" })),
      h("dt", { text: "Operations" }),
      h("dd", { text: `${ops.pending ?? 0} pending · ${ops.held ?? 0} held · ${ops.failed ?? 0} failed · ${ops.done ?? 0} done` }),
    ),
  );
}

function slackForm(holder, app, view) {
  const s = view.settings;
  const tokenInput = h("input", { class: "input", name: "bot_token", type: "password", autocomplete: "off", placeholder: view.bot_token_set ? "Leave empty to keep the current token" : "xoxb-..." });
  const secretInput = h("input", { class: "input", name: "signing_secret", type: "password", autocomplete: "off", placeholder: view.signing_secret_set ? "Leave empty to keep the current secret" : "From Basic Information, App Credentials" });
  const apiInput = h("input", { class: "input", name: "api_url", type: "url", value: s.api_url, autocomplete: "off" });
  const firstOnly = toggleField("Only surface attendees who start chatting", "first_message_only", s.first_message_only,
    "On: an attendee's Slack message is posted when they first write. Off: when they join, so staff can start the conversation.");
  const perWebinar = toggleField("Separate channel per webinar", "channel_per_webinar", s.channel_per_webinar,
    "Created with the webinar's first attendee; its moderators are invited. Changing this affects new attendees only.");
  const prefixInput = h("input", { class: "input", name: "channel_prefix", value: s.channel_prefix, autocomplete: "off", maxlength: "40" });
  const channelSelect = h("select", { class: "select", name: "channel" });
  const channelNote = h("div", { class: "channel-note" });
  const reloadChannels = h("button", { class: "btn btn--small", type: "button", text: "Reload channels" });
  const replyAs = replyAsSelect("reply_as", s.reply_as);
  const noteInput = h("input", { class: "input", name: "note_prefix", value: s.note_prefix, autocomplete: "off", maxlength: "32" });

  const fields = {
    bot_token: formField("Bot token", tokenInput, view.bot_token_set ? `Current token: ${s.bot_token}. Paste a new one to replace it.` : "Not set: Slack is off. Paste the Bot User OAuth Token (xoxb-...)."),
    signing_secret: formField("Signing secret", secretInput, view.signing_secret_set ? "Set. Paste a new one to replace it." : "Not set: requests from Slack are refused until it is."),
    api_url: formField("Slack API base URL", apiInput, "https://slack.com/api/ for real Slack; an emulator's URL for tests and demos."),
    first_message_only: firstOnly,
    channel_per_webinar: perWebinar,
    channel_prefix: formField("Channel prefix", prefixInput, "Lowercase letters, digits, - and _. A trailing dash is recommended (webinar-launch-day)."),
    channel: formField("Channel", channelSelect, "Every attendee's thread goes here. Add the app to it: channel name, Integrations, Add apps."),
    reply_as: formField("Replies appear as sent by", replyAs, "The default for webinars without their own choice (below). Applies to console replies too."),
    note_prefix: formField("Note prefix", noteInput, "Thread replies starting with this become internal notes."),
  };
  fields.channel.append(h("div", { class: "channel-tools" }, reloadChannels, channelNote));
  const formError = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: "Save Slack settings" });

  const showChannelMode = () => {
    const on = perWebinar.input.checked;
    fields.channel_prefix.hidden = !on;
    fields.channel.hidden = on;
  };
  perWebinar.input.addEventListener("change", showChannelMode);
  showChannelMode();

  const loadChannels = async () => {
    clear(channelNote);
    clear(channelSelect).append(h("option", { value: "", text: s.channel ? `${s.channel} (saved)` : "Choose a channel…" }));
    channelSelect.value = "";
    if (!view.bot_token_set) {
      channelNote.append(banner("info", "Save a bot token first: the channels are read from Slack with it."));
      return;
    }
    reloadChannels.disabled = true;
    try {
      const answer = await get("/integrations/slack/channels");
      const options = answer.items.map((c) =>
        h("option", { value: c.id, text: `#${c.name}${c.is_private ? " (private)" : ""}${c.is_member ? "" : " (app not added)"}` }),
      );
      clear(channelSelect).append(h("option", { value: "", text: "Choose a channel…" }), ...options);
      const saved = answer.items.find((c) => c.id === s.channel || c.name === String(s.channel).replace(/^#/, ""));
      if (saved) channelSelect.value = saved.id;
      else if (s.channel) {
        channelSelect.append(h("option", { value: s.channel, text: `${s.channel} (saved, not found in Slack)` }));
        channelSelect.value = s.channel;
      }
      if (!answer.items.length) channelNote.append(banner("info", "Slack lists no channels the app can see."));
      if (saved && !saved.is_member) channelNote.append(banner("error", `The app is not in #${saved.name}: open the channel, click its name, Integrations, Add apps.`));
    } catch (error) {
      channelNote.append(banner("error", `Could not list the channels: ${error.message}`));
      if (s.channel) {
        clear(channelSelect).append(h("option", { value: s.channel, text: `${s.channel} (saved)` }));
        channelSelect.value = s.channel;
      }
    } finally {
      reloadChannels.disabled = false;
    }
  };
  reloadChannels.addEventListener("click", loadChannels);

  const changes = () => {
    const out = {};
    if (tokenInput.value.trim()) out.bot_token = tokenInput.value.trim();
    if (secretInput.value.trim()) out.signing_secret = secretInput.value.trim();
    if (apiInput.value.trim() !== s.api_url) out.api_url = apiInput.value.trim();
    for (const toggle of [firstOnly, perWebinar]) {
      if (toggle.input.checked !== s[toggle.input.name]) out[toggle.input.name] = toggle.input.checked;
    }
    if (perWebinar.input.checked && prefixInput.value !== s.channel_prefix) out.channel_prefix = prefixInput.value;
    if (!perWebinar.input.checked && channelSelect.value && channelSelect.value !== s.channel) out.channel = channelSelect.value;
    if (replyAs.value !== s.reply_as) out.reply_as = replyAs.value;
    if (noteInput.value !== s.note_prefix) out.note_prefix = noteInput.value;
    return out;
  };

  const form = h("form", { class: "inline-form settings-form", "aria-label": "Slack settings", novalidate: true },
    h("h3", { text: "Connection" }),
    fields.bot_token, fields.signing_secret, fields.api_url,
    h("h3", { text: "Where attendees appear" }),
    fields.first_message_only, fields.channel_per_webinar, fields.channel_prefix, fields.channel,
    h("h3", { text: "Replies from Slack" }),
    h("div", { class: "form-grid" }, fields.reply_as, fields.note_prefix),
    formError,
    h("div", { class: "form-actions" }, save),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = changes();
    for (const wrap of Object.values(fields)) wrap.setError(null);
    formError.hidden = true;
    if (!Object.keys(body).length) {
      toast("Nothing changed.", "info");
      return;
    }
    save.disabled = true;
    try {
      const saved = await api("PUT", "/integrations/slack", body);
      toast("Saved the Slack settings.", "success");
      slackForm(holder, app, saved);
    } catch (error) {
      showFieldError(fields, formError, error);
      save.disabled = false;
    }
  });

  clear(holder).append(statusCard(view), form, webinarReplyAs(app, s.reply_as));
  loadChannels();
}

function webinarReplyAs(app, fallback) {
  const webinars = (app.contexts || []).filter((c) => c.kind === "webinar");
  const card = h("section", { class: "inline-form" },
    h("h3", { text: "Reply attribution per webinar" }),
    h("p", { class: "muted", text: "Who staff replies in each webinar appear from, in Slack and in the console. Someone who is not a moderator of the webinar always appears as its primary moderator." }),
  );
  if (!webinars.length) {
    card.append(h("p", { class: "muted", text: "No webinars yet." }));
    return card;
  }
  const tbody = h("tbody");
  card.append(h("table", { class: "table" }, h("thead", {}, h("tr", {}, h("th", { text: "Webinar" }), h("th", { text: "Replies appear as sent by" }))), tbody));
  for (const context of webinars.slice(0, 100)) {
    const select = replyAsSelect(`reply_as-${context.id}`, "", { withDefault: fallback });
    select.setAttribute("aria-label", `Reply attribution for ${context.title}`);
    select.disabled = true;
    get(`/contexts/${encodeURIComponent(context.id)}/reply-as`).then((answer) => {
      select.value = answer.reply_as || "";
      select.disabled = false;
    }, () => {});
    select.addEventListener("change", async () => {
      const value = select.value || null;
      const answer = await attempt(() => api("PUT", `/contexts/${encodeURIComponent(context.id)}/reply-as`, { reply_as: value }), "Could not save the attribution");
      if (answer) toast(`${context.title}: replies appear as sent by ${REPLY_AS_LABELS[answer.effective].toLowerCase()}.`, "success");
    });
    tbody.append(h("tr", {}, h("td", { text: context.title }), h("td", {}, select)));
  }
  return card;
}

/** The Slack sections of the settings view, in their nav order. */
export function slackSections() {
  return [
    {
      id: "slack",
      title: "Slack",
      description: "Answer conversations from Slack threads: one parent message and a thread per attendee.",
      adminOnly: true,
      render: renderSlack,
    },
    {
      id: "slack-activity",
      title: "Slack activity",
      description: "Every Slack operation's outcome, newest first. Errors that need a person stop their channel's queue until they are fixed and re-driven.",
      adminOnly: true,
      render(body, app) {
        renderActivityLog(body, app, {
          base: "/integrations/slack",
          held: async () => (await get("/integrations/slack")).operations.held || 0,
          heldWord: "held operation",
          button: "Re-drive held operations",
          empty: "Nothing logged yet.",
        });
      },
    },
  ];
}
