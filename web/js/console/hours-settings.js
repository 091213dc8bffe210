// Settings > Business hours: schedules that recipes may run only inside or only outside
// of. A schedule has a name, an IANA time zone, weekly opening hours (several intervals
// a day, "HH:MM" local wall time, "24:00" allowed as an end) and holidays (local dates,
// closed all day). The list shows whether each is open now and its next change, as the
// API computes them. Admins only; errors of a save appear next to the field they name.

import { h } from "../dom.js";
import { api, get, post } from "./api.js";
import { choice, clearErrors, fill, link, pathField, pathGroup, showError, textInput } from "./recipe-form.js";
import { attempt, toast } from "./toast.js";

const BASE = "/console/settings/business-hours";
const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"];
// Most intervals a day the editor offers (a split day rarely needs more than three).
const MAX_INTERVALS = 6;

function timeZones() {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** "Open now · closes Mon 17:30" in the schedule's zone (the API says which and when). */
export function openNowText(schedule) {
  if (schedule.open_now === undefined || schedule.open_now === null) return "";
  const zone = schedule.timezone || schedule.definition?.timezone;
  let next = "";
  if (schedule.next_change) {
    let when;
    try {
      when = new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(schedule.next_change));
    } catch {
      when = new Date(schedule.next_change).toLocaleString();
    }
    next = ` · ${schedule.open_now ? "closes" : "opens"} ${when}`;
  }
  return `${schedule.open_now ? "Open now" : "Closed now"}${next}`;
}

function statusPill(schedule) {
  const text = openNowText(schedule);
  if (!text) return h("span", { class: "muted", text: "—" });
  return h("span", { class: `hours-status hours-status--${schedule.open_now ? "open" : "closed"}`, text });
}

async function renderList(body, app) {
  const holder = h("div", { class: "settings-stack" }, h("p", { class: "muted", text: "Loading schedules…" }));
  body.append(h("div", { class: "recipes-bar" }, h("span", { class: "rail-spacer" }), h("button", { class: "btn btn--primary", type: "button", text: "New schedule", on: { click: () => app.navigate(`${BASE}/new`) } })), holder);
  const answer = await attempt(() => get("/business-hours"), "Could not load the schedules");
  if (!answer) return;
  if (!answer.items.length) {
    fill(holder, h("div", { class: "empty-card" }, h("strong", { text: "No schedules yet" }), h("p", { text: "Add your team's opening hours; recipes can then run only inside or only outside them." })));
    return;
  }
  fill(holder, h("table", { class: "table hours-table" },
    h("thead", {}, h("tr", {}, ["Schedule", "Time zone", "Now", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, answer.items.map((s) => h("tr", { class: "hours-row", dataset: { id: s.id } },
      h("td", {}, link(app, `${BASE}/${encodeURIComponent(s.id)}`, s.name, { class: "recipe-name" })),
      h("td", { text: s.timezone || s.definition?.timezone || "" }),
      h("td", {}, statusPill(s)),
      h("td", { class: "table-actions" }, link(app, `${BASE}/${encodeURIComponent(s.id)}`, "Edit", { class: "btn btn--small", "aria-label": `Edit ${s.name}` })),
    ))),
  ));
}

function intervalRow(draft, day, label, index, redraw) {
  const interval = draft.weekly[day][index];
  const path = `weekly.${day}[${index}]`;
  const n = index + 1;
  const input = (which, name) => textInput(interval[which], (v) => {
    interval[which] = v.trim();
  }, { class: "input input--time", inputmode: "numeric", maxlength: "5", placeholder: which ? "17:30" : "09:00", "aria-label": `${label} interval ${n} ${name}` });
  const remove = h("button", { class: "icon-button", type: "button", "aria-label": `Remove ${label} interval ${n}`, title: "Remove", text: "×" });
  remove.addEventListener("click", () => {
    draft.weekly[day].splice(index, 1);
    redraw(day);
  });
  return h("div", { class: "interval", dataset: { path } },
    pathField(`${path}[0]`, "From", input(0, "from"), null, { className: "field--inline" }),
    pathField(`${path}[1]`, "Until", input(1, "until"), null, { className: "field--inline" }),
    remove,
    h("p", { class: "field-error", role: "alert", hidden: true }),
  );
}

function weekSection(draft) {
  const rows = new Map();
  const dayBox = (day, label) => {
    const box = h("div", { class: "day-intervals" });
    const add = h("button", { class: "btn btn--small", type: "button", text: "Add hours", "aria-label": `Add hours on ${label}` });
    add.addEventListener("click", () => {
      const last = draft.weekly[day].at(-1);
      draft.weekly[day].push(last ? [last[1], ""] : ["09:00", "17:00"]);
      redraw(day, true);
    });
    rows.set(day, { box, add, label });
    return pathGroup(`weekly.${day}`, label, [box, add], { className: "day" });
  };
  function redraw(day, focusLast = false) {
    const { box, add, label } = rows.get(day);
    const intervals = draft.weekly[day];
    fill(box, intervals.length ? intervals.map((_, i) => intervalRow(draft, day, label, i, redraw)) : h("span", { class: "muted", text: "Closed" }));
    add.disabled = intervals.length >= MAX_INTERVALS;
    if (focusLast) box.lastElementChild?.querySelector("input")?.focus();
    else if (!intervals.length) add.focus();
  }
  const days = DAYS.map(([day, label]) => dayBox(day, label));
  for (const [day] of DAYS) {
    const { box, label } = rows.get(day);
    fill(box, draft.weekly[day].length ? draft.weekly[day].map((_, i) => intervalRow(draft, day, label, i, redraw)) : h("span", { class: "muted", text: "Closed" }));
  }
  const copy = h("button", { class: "btn btn--small", type: "button", text: "Copy Monday to the other weekdays" });
  copy.addEventListener("click", () => {
    for (const day of WEEKDAYS.slice(1)) {
      draft.weekly[day] = draft.weekly.mon.map((pair) => [...pair]);
      redraw(day);
    }
    copy.focus();
  });
  return pathGroup("weekly", "Weekly hours", [h("p", { class: "field-hint", text: "Local wall time in the schedule's zone, 24-hour “HH:MM”; “24:00” ends at midnight. A day without hours is closed." }), days, copy], { className: "editor-section" });
}

function holidaysSection(draft) {
  const list = h("div", { class: "holiday-list" });
  const add = h("button", { class: "btn btn--small", type: "button", text: "Add a holiday" });
  const redraw = (focus = null) => {
    fill(list, draft.holidays.length ? draft.holidays.map((date, i) => {
      const input = h("input", { class: "input input--date", type: "date", "aria-label": `Holiday ${i + 1}` });
      input.value = date;
      input.addEventListener("input", () => {
        draft.holidays[i] = input.value;
      });
      const remove = h("button", { class: "icon-button", type: "button", "aria-label": `Remove holiday ${i + 1}`, title: "Remove", text: "×" });
      remove.addEventListener("click", () => {
        draft.holidays.splice(i, 1);
        redraw(Math.min(i, draft.holidays.length - 1));
      });
      return h("div", { class: "holiday", dataset: { path: `holidays[${i}]` } }, input, remove, h("p", { class: "field-error", role: "alert", hidden: true }));
    }) : h("span", { class: "muted", text: "No holidays." }));
    if (focus === null) return;
    (focus >= 0 ? list.children[focus]?.querySelector("input") : add).focus();
  };
  add.addEventListener("click", () => {
    draft.holidays.push("");
    redraw(draft.holidays.length - 1);
  });
  redraw();
  return pathGroup("holidays", "Holidays", [h("p", { class: "field-hint", text: "Local dates, closed all day." }), list, add], { className: "editor-section" });
}

function toDraft(schedule) {
  const def = schedule ? schedule.definition || schedule : {};
  const weekly = {};
  for (const [day] of DAYS) weekly[day] = (def.weekly?.[day] || []).map((pair) => [...pair]);
  return { name: def.name || schedule?.name || "", timezone: def.timezone || localZone(), weekly, holidays: [...(def.holidays || [])] };
}

function cleanSchedule(draft) {
  const weekly = {};
  for (const [day] of DAYS) if (draft.weekly[day].length) weekly[day] = draft.weekly[day].map(([a, b]) => [a, b]);
  return { name: draft.name.trim(), timezone: draft.timezone, weekly, holidays: draft.holidays.filter(Boolean) };
}

async function renderEditor(body, app, id) {
  const holder = h("div", { class: "settings-stack" });
  body.append(holder);
  const schedule = id === "new" ? null : await attempt(() => get(`/business-hours/${encodeURIComponent(id)}`), "Could not load the schedule");
  if (id !== "new" && !schedule) {
    fill(holder, link(app, BASE, "← All schedules", { class: "back-link" }));
    return;
  }
  const draft = toDraft(schedule);
  const zones = timeZones();
  const zone = choice(zones.includes(draft.timezone) ? zones : [draft.timezone, ...zones], draft.timezone);
  zone.addEventListener("change", () => {
    draft.timezone = zone.value;
  });
  const banner = h("p", { class: "banner banner--error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn--primary", type: "submit", text: schedule ? "Save schedule" : "Create schedule" });
  const form = h("form", { class: "hours-editor", "aria-label": "Business hours schedule", novalidate: true },
    h("div", { class: "form-grid" },
      pathField("name", "Name", textInput(draft.name, (v) => {
        draft.name = v;
      }, { maxlength: "100", placeholder: "e.g. Paris office" })),
      pathField("timezone", "Time zone", zone),
    ),
    weekSection(draft),
    holidaysSection(draft),
    h("div", { class: "editor-footer" }, banner, h("div", { class: "form-actions" }, save)),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, banner);
    save.disabled = true;
    try {
      const saved = schedule
        ? await api("PUT", `/business-hours/${encodeURIComponent(schedule.id)}`, cleanSchedule(draft))
        : await post("/business-hours", cleanSchedule(draft));
      toast(`Saved ${saved.name}.`, "success");
      app.navigate(`${BASE}/${encodeURIComponent(saved.id)}`);
    } catch (error) {
      showError(form, banner, error);
    } finally {
      save.disabled = false;
    }
  });
  let remove = null;
  if (schedule) {
    remove = h("button", { class: "btn btn--danger", type: "button", text: "Delete" });
    let armed = false;
    remove.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        remove.textContent = "Click again to delete";
        return;
      }
      if (await attempt(() => api("DELETE", `/business-hours/${encodeURIComponent(schedule.id)}`), "Could not delete the schedule")) {
        toast(`Deleted ${schedule.name}.`, "success");
        app.navigate(BASE);
      }
    });
  }
  fill(holder,
    h("div", { class: "recipe-head" },
      link(app, BASE, "← All schedules", { class: "back-link" }),
      h("h3", { class: "recipe-title", text: schedule ? schedule.name : "New schedule" }),
      schedule ? h("div", { class: "recipe-meta" }, statusPill(schedule), h("span", { class: "rail-spacer" }), remove) : null,
    ),
    form,
  );
}

function renderHours(body, app) {
  const id = location.pathname.replace(/\/+$/, "").split("/").slice(4).map(decodeURIComponent)[0];
  if (id) renderEditor(body, app, id);
  else renderList(body, app);
}

/** The Business hours settings section (admins only). */
export function hoursSection() {
  return {
    id: "business-hours",
    title: "Business hours",
    description: "Opening hours, time zone and holidays; recipes can run only inside or only outside them.",
    adminOnly: true,
    render: renderHours,
  };
}
