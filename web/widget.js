/*
 * Switchboard chat widget loader: embed it on any page with one tag.
 *
 *   <script src="https://chat.example.com/widget.js" data-token="sba_..." defer></script>
 *
 * Attributes: data-token (required: the attendee token your application got from
 * POST /api/v1/contexts/<id>/attendees), data-server (default: where this file came from),
 * data-title (panel title), data-open ("true" opens the panel at once).
 *
 * It adds a launcher button with an unread badge and a panel holding an iframe of
 * <server>/widget. The chat itself runs in that iframe, on the Switchboard origin and
 * under its Content-Security-Policy, so the host page's scripts and styles cannot reach
 * it and it cannot reach them. The token travels in the iframe URL's fragment, which
 * browsers never send to a server. The host page can call window.Switchboard.open(),
 * .close() and .toggle().
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var token = script.getAttribute("data-token") || "";
  var server = (script.getAttribute("data-server") || new URL(script.src).origin).replace(/\/+$/, "");
  var serverOrigin = new URL(server).origin;
  var title = script.getAttribute("data-title") || "Chat with us";
  var startOpen = script.getAttribute("data-open") === "true";
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    return node;
  }

  function svgIcon(paths) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    for (var i = 0; i < paths.length; i++) {
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", paths[i]);
      svg.appendChild(path);
    }
    return svg;
  }

  function mount() {
    if (!token) {
      console.error("Switchboard widget: the script tag needs a data-token attribute");
      return;
    }
    var host = el("div", { id: "switchboard-widget" });
    var root = host.attachShadow({ mode: "open" });
    var style = el("link", { rel: "stylesheet", href: server + "/static/widget/host.css" });
    var panel = el("div", { class: "panel", role: "dialog", "aria-label": title, "aria-hidden": "true" });
    var fragment =
      "token=" + encodeURIComponent(token) +
      "&host=" + encodeURIComponent(location.origin) +
      "&title=" + encodeURIComponent(title);
    var frame = el("iframe", {
      src: server + "/widget#" + fragment,
      title: title,
      allow: "clipboard-write",
      referrerpolicy: "no-referrer",
    });
    panel.appendChild(frame);
    var launcher = el("button", { class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false" });
    launcher.appendChild(svgIcon(["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"]));
    var closeIcon = svgIcon(["M18 6 6 18", "M6 6l12 12"]);
    closeIcon.setAttribute("class", "close-icon");
    launcher.appendChild(closeIcon);
    var badge = el("span", { class: "badge", "aria-live": "polite" });
    badge.hidden = true;
    launcher.appendChild(badge);
    root.appendChild(style);
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(host);

    var open = false;
    function post(message) {
      if (frame.contentWindow) frame.contentWindow.postMessage(message, serverOrigin);
    }
    function setOpen(value) {
      open = value;
      host.classList.toggle("open", open);
      panel.classList.toggle("open", open);
      launcher.classList.toggle("open", open);
      panel.setAttribute("aria-hidden", open ? "false" : "true");
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
      post({ source: "switchboard-host", type: open ? "open" : "closed" });
      if (open) frame.focus();
    }
    launcher.addEventListener("click", function () {
      setOpen(!open);
    });
    frame.addEventListener("load", function () {
      post({ source: "switchboard-host", type: open ? "open" : "closed" });
    });
    window.addEventListener("message", function (event) {
      if (event.origin !== serverOrigin || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.source !== "switchboard") return;
      if (data.type === "unread") {
        var count = Number(data.count) || 0;
        badge.hidden = count === 0;
        badge.textContent = count > 9 ? "9+" : String(count);
        badge.setAttribute("aria-label", count + " unread");
      } else if (data.type === "close") {
        setOpen(false);
        launcher.focus();
      }
    });
    window.Switchboard = {
      open: function () { setOpen(true); },
      close: function () { setOpen(false); },
      toggle: function () { setOpen(!open); },
    };
    if (startOpen) setOpen(true);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
