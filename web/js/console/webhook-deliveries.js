// The delivery log of one webhook endpoint (GET /api/v1/webhooks/<id>/deliveries), opened
// under the endpoint's card in Settings > Webhooks (webhooks-settings.js): each delivery's
// state, attempts and last answer, expandable to the request body and every attempt, with
// a redeliver button. It re-reads itself while shown, since deliveries and retries happen
// in the background.

import { h, clear } from "../dom.js";
import { fullTime, shortTime } from "../format.js";
import { get, post, query } from "./api.js";
import { banner } from "./settings-integrations.js";
import { attempt, toast } from "./toast.js";

// Deliveries per page of a log.
const LOG_PAGE = 25;
// How often an open delivery log re-reads itself (ms): deliveries and retries happen in
// the background while an admin watches.
const LOG_REFRESH_MS = 3000;
const STATES = [
  ["", "All deliveries"],
  ["pending", "Pending"],
  ["delivered", "Delivered"],
  ["failed", "Failed"],
];

/**
 * The log of `initial` (an endpoint of the API); `refreshList({quiet})` re-reads the
 * endpoint list (its counts, and an endpoint a 410 disabled). Returns `{el, load,
 * setEndpoint(endpoint)}`; the log stops re-reading itself once `el` leaves the page.
 */
export function deliveryLog(initial, refreshList) {
  let endpoint = initial;
  let state = "";
  let next = null;
  const stateSelect = h("select", { class: "select select--small", "aria-label": "Deliveries to show" }, STATES.map(([v, t]) => h("option", { value: v, text: t })));
  const reload = h("button", { class: "btn btn--small", type: "button", text: "Refresh" });
  const tbody = h("tbody");
  const table = h("table", { class: "table hook-deliveries", "aria-label": `Deliveries to ${endpoint.url}` },
    h("thead", {}, h("tr", {}, ["Time", "Event", "State", "Attempts", "Last status", "Duration", "Response", ""].map((t) => h("th", { text: t })))),
    tbody,
  );
  const scroll = h("div", { class: "hook-table-scroll" }, table);
  const empty = h("p", { class: "muted", hidden: true, text: "No deliveries yet: they appear when a subscribed event happens." });
  const more = h("button", { class: "btn btn--small inbox-more", type: "button", hidden: true, text: "Load older deliveries" });

  const redeliver = async (delivery, button) => {
    button.disabled = true;
    const path = `/webhooks/${encodeURIComponent(endpoint.id)}/deliveries/${encodeURIComponent(delivery.id)}/redeliver`;
    if (await attempt(() => post(path), "Could not redeliver")) {
      toast("Queued for delivery again, with the same webhook-id.", "success");
      await load();
      refreshList();
    } else {
      button.disabled = false;
    }
  };
  const row = (d) => {
    const again = h("button", { class: "btn btn--small", type: "button", text: "Redeliver", "aria-label": `Redeliver ${d.event_type} of ${fullTime(d.created_at)}`, disabled: d.state === "pending" || !endpoint.enabled });
    again.addEventListener("click", () => redeliver(d, again));
    return h("tr", { class: `hook-delivery hook-delivery--${d.state}`, dataset: { id: d.id } },
      h("td", { class: "activity-time" }, h("time", { datetime: new Date(d.created_at).toISOString(), title: fullTime(d.created_at), text: shortTime(d.created_at) })),
      h("td", {}, deliveryDetails(d)),
      h("td", {}, h("span", { class: `level hook-delivery-state hook-delivery-state--${d.state}`, text: d.state }), d.error ? h("div", { class: "hook-delivery-error", text: d.error }) : null),
      h("td", { class: "num", text: String(d.attempts) }),
      h("td", { class: "num", text: d.response_status ?? "—" }),
      h("td", { class: "num", text: d.duration_ms === null || d.duration_ms === undefined ? "—" : `${d.duration_ms} ms` }),
      h("td", {}, d.response_excerpt ? h("code", { class: "hook-delivery-excerpt", title: d.response_excerpt, text: d.response_excerpt }) : h("span", { class: "muted", text: "—" })),
      h("td", { class: "table-actions" }, again),
    );
  };
  const load = async ({ older = false, quiet = false } = {}) => {
    const path = `/webhooks/${encodeURIComponent(endpoint.id)}/deliveries${query({ state, limit: LOG_PAGE, before: older ? next : null })}`;
    const answer = quiet ? await get(path).catch(() => null) : await attempt(() => get(path), "Could not load the deliveries");
    if (!answer) return;
    // A quiet refresh leaves the log alone while the reader reads older pages or a detail.
    if (quiet && (tbody.children.length > LOG_PAGE || tbody.querySelector("details[open]"))) return;
    if (!older) clear(tbody);
    tbody.append(...answer.items.map(row));
    next = answer.next;
    more.hidden = !next;
    empty.hidden = tbody.children.length > 0;
    scroll.hidden = tbody.children.length === 0;
  };
  stateSelect.addEventListener("change", () => {
    state = stateSelect.value;
    load();
  });
  reload.addEventListener("click", () => {
    load();
    refreshList();
  });
  more.addEventListener("click", () => load({ older: true }));
  const el = h("div", { class: "hook-delivery-log" },
    h("div", { class: "activity-bar" }, h("h4", { text: "Delivery log" }), h("span", { class: "rail-spacer" }), stateSelect, reload),
    !endpoint.enabled ? banner("info", "The endpoint is disabled: enable it to redeliver.") : null,
    scroll, empty, more,
  );
  load();
  const timer = setInterval(() => {
    if (!el.isConnected) clearInterval(timer);
    else if (!document.hidden) {
      load({ quiet: true });
      refreshList({ quiet: true }); // the counts, and a 410 that disabled the endpoint
    }
  }, LOG_REFRESH_MS);
  return {
    el,
    load,
    setEndpoint(value) {
      const changed = value.enabled !== endpoint.enabled;
      endpoint = value;
      if (changed) {
        el.querySelector(".banner")?.remove();
        load();
      }
    },
  };
}

/** The event type, expandable to the request body and every attempt. */
function deliveryDetails(d) {
  const attempts = (d.attempt_log || []).map((a) =>
    h("li", {},
      h("strong", { text: `Attempt ${a.attempt}` }),
      ` · ${fullTime(a.ts)} · `,
      a.response_status ? `HTTP ${a.response_status}` : "no answer",
      a.duration_ms !== null && a.duration_ms !== undefined ? ` · ${a.duration_ms} ms` : "",
      ` · ${a.outcome}`,
      a.retry_in ? ` (retry in ${a.retry_in} s)` : "",
      a.error ? h("div", { class: "hook-delivery-error", text: a.error }) : null,
      a.response_excerpt ? h("pre", { class: "hook-delivery-body", text: a.response_excerpt }) : null,
    ),
  );
  return h("details", { class: "hook-delivery-details" },
    h("summary", {}, h("code", { text: d.event_type }), h("span", { class: "visually-hidden", text: " details" })),
    h("p", { class: "muted", text: `webhook-id ${d.id}` }),
    h("h5", { text: "Request body" }),
    h("pre", { class: "hook-delivery-body", text: pretty(d.request_body) }),
    h("h5", { text: "Attempts" }),
    attempts.length ? h("ol", { class: "hook-delivery-attempts" }, attempts) : h("p", { class: "muted", text: "Not attempted yet." }),
  );
}

function pretty(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return String(body ?? "");
  }
}
