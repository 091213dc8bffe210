// Short status messages in the corner of the console (errors of REST calls and the like).

import { h } from "../dom.js";

const SHOW_MS = 5000;
let region = null;

export function toast(text, kind = "info") {
  if (!region) {
    region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const item = h("div", { class: `toast toast--${kind}`, text });
  region.append(item);
  setTimeout(() => item.remove(), SHOW_MS);
}

/** Run an async action; show its error as a toast instead of failing silently. */
export async function attempt(action, what = "That did not work") {
  try {
    return await action();
  } catch (error) {
    toast(`${what}: ${error.message}`, "error");
    return undefined;
  }
}
