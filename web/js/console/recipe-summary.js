// What the recipe pages call things: the vocabulary of the recipe definition (see the
// recipes contract: triggers, channels, action types, webhook fields) with the words the
// console shows for it, and one-line summaries of triggers, filters and actions for the
// recipe list, the versions list and the read-only views.

export const TRIGGERS = [
  ["new_conversation", "New conversation"],
  ["new_message", "New message"],
  ["status_changed", "Status changed to…"],
  ["tag_added", "Tag added…"],
  ["no_attendee_reply", "No attendee reply for N minutes"],
  ["pending_for", "Pending for N minutes"],
  ["unassigned_for", "Unassigned for N minutes"],
];
export const NEW_ITEM_TRIGGERS = new Set(["new_conversation", "new_message"]);
export const TIMER_TRIGGERS = new Set(["no_attendee_reply", "pending_for", "unassigned_for"]);
export const STATUSES = [["open", "Open"], ["pending", "Pending"], ["resolved", "Resolved"]];
export const PRIORITIES = [["none", "None"], ["low", "Low"], ["medium", "Medium"], ["high", "High"], ["urgent", "Urgent"]];
export const CHANNELS = [["widget", "Widget"], ["link", "Chat link"], ["api", "API"]];
export const MAX_MINUTES = 525600;

export const ACTION_TYPES = [
  ["notify", "Send a notification"],
  ["resolve", "Mark resolved"],
  ["set_pending", "Set pending"],
  ["assign", "Assign"],
  ["smart_assign", "Smart assign"],
  ["set_properties", "Edit properties"],
  ["reply", "Reply"],
  ["add_tags", "Add tags"],
  ["remove_tags", "Remove tags"],
  ["hide_message", "Hide the message"],
  ["block_contact", "Block the contact"],
  ["webhook", "Trigger a webhook"],
];
export const WINDOWS = [["3h", "3 hours"], ["24h", "24 hours"], ["2d", "2 days"], ["3d", "3 days"], ["7d", "7 days"]];
export const REPLY_MODES = [["send", "Send at once"], ["draft", "Save as a draft for an agent"], ["approval", "Queue for approval by an agent"]];
export const WEBHOOK_FIELDS = [
  "conversation_id", "status", "channel", "context", "tags", "priority", "properties",
  "assignee", "contact_name", "contact_email", "message_seq", "message_body",
  "message_author", "message_kind", "created_at", "console_url",
];

const label = (pairs, value) => pairs.find(([v]) => v === value)?.[1] || value;
export const triggerLabel = (type) => label(TRIGGERS, type);
export const actionLabel = (type) => label(ACTION_TYPES, type);
export const statusLabel = (status) => label(STATUSES, status);

/** "new_item" for new conversation/message triggers, else "update" (as the server derives it). */
export function triggerKind(trigger) {
  return NEW_ITEM_TRIGGERS.has(trigger?.type) ? "new_item" : "update";
}

function minutesText(minutes) {
  const n = Number(minutes);
  if (!Number.isFinite(n)) return `${minutes} min`;
  if (n % 1440 === 0) return `${n / 1440} ${n === 1440 ? "day" : "days"}`;
  if (n % 60 === 0) return `${n / 60} ${n === 60 ? "hour" : "hours"}`;
  return `${n} min`;
}

/** "No attendee reply for 30 min", "Status changed to Resolved", "New message". */
export function triggerSummary(trigger) {
  if (!trigger) return "—";
  switch (trigger.type) {
    case "status_changed":
      return `Status changed to ${statusLabel(trigger.status) || "…"}`;
    case "tag_added":
      return `Tag “${trigger.tag || "…"}” added`;
    case "no_attendee_reply":
      return `No attendee reply for ${minutesText(trigger.minutes)}`;
    case "pending_for":
      return `Pending for ${minutesText(trigger.minutes)}`;
    case "unassigned_for":
      return `Unassigned for ${minutesText(trigger.minutes)}`;
    default:
      return triggerLabel(trigger.type);
  }
}

/** "Everything", "Saved filter “VIP”", "All of 2 conditions". */
export function filterSummary(filter, savedFilters = []) {
  if (!filter || filter.type === "all") return "Everything";
  if (filter.type === "saved") {
    const saved = savedFilters.find((f) => f.id === filter.saved_filter);
    return `Saved filter “${saved?.name || filter.saved_filter}”`;
  }
  const n = (filter.conditions || []).length;
  return `${filter.match === "any" ? "Any" : "All"} of ${n} condition${n === 1 ? "" : "s"}`;
}

/** One line for an action: "Assign to Alex Rivera", "Reply (draft): “Thanks…”". */
export function actionSummary(action, app) {
  const user = (id) => app?.users?.get(id)?.name || id;
  const team = (id) => app?.teams?.get(id)?.name || id;
  switch (action.type) {
    case "notify":
      return `Notify ${(action.users || []).map(user).join(", ") || "…"}${action.email ? " by email" : ""}`;
    case "assign":
      return action.team ? `Assign to team ${team(action.team)}` : `Assign to ${user(action.user) || "…"}`;
    case "smart_assign":
      return `Smart assign (${label(WINDOWS, action.window)})`;
    case "set_properties":
      return `Set ${Object.keys(action.properties || {}).join(", ") || "properties"}`;
    case "reply": {
      const text = String(action.text || "");
      return `Reply${action.mode && action.mode !== "send" ? ` (${action.mode})` : ""}: “${text.length > 40 ? `${text.slice(0, 40)}…` : text}”`;
    }
    case "add_tags":
    case "remove_tags":
      return `${actionLabel(action.type)}: ${(action.tags || []).join(", ")}`;
    case "webhook":
      return `Webhook ${action.name || ""} → ${action.method || "POST"} ${action.url || ""}`.trim();
    default:
      return actionLabel(action.type);
  }
}

/** The business-hours rule in words. */
export function hoursSummary(rule, schedules = []) {
  if (!rule) return "Any time";
  const name = schedules.find((s) => s.id === rule.schedule)?.name || rule.schedule;
  return `Only ${rule.when === "outside" ? "outside" : "inside"} ${name}`;
}
