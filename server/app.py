"""The ASGI application: Quart (trio) for HTTP, a raw ASGI handler for ``/ws``.

``create_app`` builds everything from an :class:`AppState`; nothing is global, so a test
can run several servers in one process.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from actors.directory import Conflict
from actors.records import NotFound
from server.api.attachments import upload_limit
from server.http import ApiError, error_response
from server.pages import register_pages
from server.state import AppState
from server.ws import websocket_app
from server.ws_transport import ASGIReceive, ASGISend

log = logging.getLogger(__name__)

#: Attachments are at most 10 MiB by default; leave room for multipart framing.
MAX_CONTENT_LENGTH = 12 * 1024 * 1024


def create_quart(state: AppState) -> QuartTrio:
    app = QuartTrio("switchboard", static_folder=None)
    app.config["SWITCHBOARD_STATE"] = state
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config["JSON_SORT_KEYS"] = False

    from server.api import register_blueprints

    register_blueprints(app)

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(NotFound)
    async def not_found(exc: NotFound) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.errorhandler(Conflict)
    async def conflict(exc: Conflict) -> Response:
        return error_response(409, "conflict", str(exc))

    @app.errorhandler(ValueError)
    async def bad_value(exc: ValueError) -> Response:
        return error_response(400, "bad_field", str(exc))

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    async def internal(exc: Exception) -> Response:
        log.exception("http.internal_error path=%s", request.path)
        return error_response(500, "internal", "internal server error; see the server log")

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                "connect-src 'self' ws: wss:; frame-ancestors 'self'; base-uri 'none'; "
                "form-action 'self'",
            )
        return response

    return app


class SwitchboardApp:
    """ASGI entry: ``/ws`` websockets go to the session handler, the rest to Quart."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.quart = create_quart(state)
        # The pages are not REST routes: create_quart's url_map is what docs/api.md and
        # the API's auth tests cover, so the pages are added to the served app only.
        register_pages(self.quart)
        self.quart.config["MAX_CONTENT_LENGTH"] = max(
            MAX_CONTENT_LENGTH, upload_limit(state.settings.attachment_max_bytes)
        )

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "websocket" and scope.get("path") == "/ws":
            await websocket_app(self.state, scope, receive, send)
            return
        await self.quart(scope, receive, send)  # type: ignore[arg-type]
