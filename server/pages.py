"""The browser pages: console, widget, link chat page, demo host page, static assets.

Everything under ``web/`` (plain HTML, ES modules and CSS, no build step) is read once at
start-up from the installed ``web`` package and served from memory with its content type,
an ``ETag`` and ``Cache-Control: no-cache`` (browsers revalidate, so a deploy is seen at
once and an unchanged file costs a 304). Only files that were loaded can be served, so
no request path ever reaches the file system.

Routes (not part of the REST API, so not in docs/api.md; see the README):

- ``/`` redirects to the console; ``/console`` and ``/console/...`` serve the console
  app to a logged-in session and redirect everyone else to ``/console/login``.
- ``/widget.js`` is the loader a host page embeds with one ``<script>`` tag; it opens
  ``/widget`` (the chat panel) in an iframe, so the panel runs on our origin under our
  Content-Security-Policy whatever the host page is.
- ``/chat`` is the link chat page shell (context on top, chat below).
- ``/demo`` (demo mode only) creates a demo webinar and an attendee for the visitor and
  serves a host page that embeds the widget.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import quote

from quart import Blueprint, Quart, Response, current_app, request

from actors import contexts, directory
from actors.records import NewMessage
from actors.store import Tx
from protocol.frames import Participant
from server.auth import SESSION_COOKIE, resolve_token
from server.http import app_state

log = logging.getLogger(__name__)

blueprint = Blueprint("pages", __name__)

#: Served file types; anything else in the package (Python files) is never served.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Revalidate every time: no build step means no content-hashed names to cache forever.
CACHE_CONTROL = "no-cache"
#: The demo webinar's external id, so every visit finds the same context.
DEMO_CONTEXT = "switchboard-demo-webinar"
#: Remembers a demo visitor so a reload continues the same conversation.
DEMO_COOKIE = "sb_demo_visitor"
#: Names for demo visitors (picked by the visitor id), so the console looks like a real inbox.
DEMO_NAMES = ("Jamie Chen", "Rosa Diaz", "Kenji Sato", "Amara Osei", "Lukas Berg", "Noor Haddad")
DEMO_BOT = Participant(kind="bot", id="demo-bot", name="Switchboard demo")
DEMO_GREETING = (
    "Hi! This chat is the Switchboard widget. Write something: it appears live in the "
    "staff console at /console (log in with the account scripts/run printed) and the "
    "reply comes back here."
)
#: The chat panel runs inside other sites' pages, so it may be framed; the rest of the
#: policy is the same as every other page's (no inline script, no eval).
_FRAME_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "connect-src 'self' ws: wss:; frame-ancestors {ancestors}; base-uri 'none'; "
    "form-action 'self'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the web package, ready to serve."""

    body: bytes
    content_type: str
    etag: str


def load_assets(root: Traversable | None = None) -> dict[str, Asset]:
    """Every servable file of the ``web`` package, by its path relative to the package."""
    base = root if root is not None else resources.files("web")
    assets: dict[str, Asset] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if not child.name.startswith(("_", ".")):
                    walk(child, f"{name}/")
                continue
            suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            if suffix in CONTENT_TYPES:
                body = child.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                assets[name] = Asset(body, CONTENT_TYPES[suffix], etag)

    walk(base, "")
    return assets


def register_pages(app: Quart) -> None:
    """Load the web assets (once, at start-up) and add the page routes to ``app``."""
    assets = load_assets()
    app.config["SWITCHBOARD_ASSETS"] = assets
    log.debug("pages.assets_loaded count=%d", len(assets))
    app.register_blueprint(blueprint)


def _asset(name: str, *, extra: dict[str, str] | None = None) -> Response:
    assets: dict[str, Asset] = current_app.config["SWITCHBOARD_ASSETS"]
    asset = assets.get(name)
    if asset is None:
        return _not_found()
    headers = {"ETag": asset.etag, "Cache-Control": CACHE_CONTROL, **(extra or {})}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(asset.body, status=200, headers=headers, content_type=asset.content_type)


def _not_found(message: str = "There is no page at this address.") -> Response:
    body = _page("Not found", f"<h1>Not found</h1><p>{html.escape(message)}</p>")
    return Response(body, status=404, content_type=CONTENT_TYPES[".html"])


def _redirect(location: str) -> Response:
    return Response(b"", status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _page(title: str, content: str) -> str:
    """A minimal page for errors and notices (styled by the shared stylesheet)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Switchboard</title>"
        '<link rel="stylesheet" href="/static/css/base.css"></head>'
        f'<body class="notice-page"><main class="notice">{content}</main></body></html>'
    )


# -- console -----------------------------------------------------------------------------------


@blueprint.get("/")
async def index() -> Response:
    return _redirect("/console")


async def _has_session() -> bool:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or not cookie.startswith("sbs_"):
        return False
    resolved = await resolve_token(app_state().system.store, cookie)
    return resolved is not None and resolved.csrf is not None


@blueprint.get("/console")
@blueprint.get("/console/<path:rest>")
async def console(rest: str = "") -> Response:
    """The console app for a logged-in session; everyone else goes to the login page."""
    if rest == "login":
        return _asset("console/login.html")
    if not await _has_session():
        target = request.full_path.rstrip("?")
        return _redirect(f"/console/login?next={quote(target, safe='/')}")
    response = _asset("console/index.html")
    response.headers["Cache-Control"] = "no-store"
    return response


# -- widget, link page, assets ---------------------------------------------------------------


@blueprint.get("/widget.js")
async def widget_loader() -> Response:
    return _asset("widget.js")


@blueprint.get("/widget")
async def widget_frame() -> Response:
    origins = app_state().settings.allowed_origins
    ancestors = " ".join(("'self'", *origins)) if origins else "*"
    return _asset(
        "widget/frame.html",
        extra={"Content-Security-Policy": _FRAME_CSP.format(ancestors=ancestors)},
    )


@blueprint.get("/chat")
async def chat_page() -> Response:
    return _asset("chat.html")


@blueprint.get("/static/<path:name>")
async def static_asset(name: str) -> Response:
    if name.endswith(".html"):
        return _not_found()
    return _asset(name)


# -- demo ----------------------------------------------------------------------------------


def _demo_attendee(tx: Tx, visitor: str, token: str, ttl_ms: int) -> dict[str, Any]:
    """Find or create the demo webinar, then the visitor's attendee (one transaction)."""
    row = tx.execute("SELECT id FROM contexts WHERE external_id = ?", (DEMO_CONTEXT,)).fetchone()
    if row is not None:
        context_id = row[0]
    else:
        starts = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        context_id = contexts.create_context(
            tx,
            kind="webinar",
            title="Launch day: what's new in Acme Cloud",
            data={
                "webinar": "Launch day: what's new in Acme Cloud",
                "session_type": "live",
                "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            moderators=[],
            primary_moderator=None,
            external_id=DEMO_CONTEXT,
        )["id"]
    return contexts.create_attendee(
        tx,
        context_id=context_id,
        name=DEMO_NAMES[int(visitor[:8], 16) % len(DEMO_NAMES)],
        email=None,
        external_id=f"demo-visitor-{visitor}",
        channel="widget",
        token=token,
        ttl_ms=ttl_ms,
    )


@blueprint.get("/demo")
async def demo() -> Response:
    """A host page with the widget, for a demo attendee (demo mode only)."""
    state = app_state()
    if not state.settings.demo:
        return _not_found("The demo is off. Start the server with SWITCHBOARD_DEMO=1 to try it.")
    visitor = request.cookies.get(DEMO_COOKIE, "")
    if not (len(visitor) == 16 and all(c in "0123456789abcdef" for c in visitor)):
        visitor = secrets.token_hex(8)
    attendee = await state.system.store.write(
        functools.partial(
            _demo_attendee,
            visitor=visitor,
            token=directory.new_token("sba"),
            ttl_ms=int(state.settings.attendee_token_ttl * 1000),
        )
    )
    if attendee["created"]:
        await state.system.post(
            NewMessage(
                conversation=attendee["conversation"],
                author=DEMO_BOT,
                kind="message",
                body=DEMO_GREETING,
                client_msg_id="demo-greeting",
            )
        )
        log.info("demo.attendee conversation=%s", attendee["conversation"])
    template = current_app.config["SWITCHBOARD_ASSETS"]["demo.html"].body.decode()
    body = template.replace("{{token}}", html.escape(attendee["token"], quote=True))
    response = Response(body, status=200, content_type=CONTENT_TYPES[".html"])
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        DEMO_COOKIE,
        visitor,
        max_age=int(state.settings.attendee_token_ttl),
        httponly=True,
        samesite="Lax",
        secure=state.settings.secure_cookies,
        path="/demo",
    )
    return response
