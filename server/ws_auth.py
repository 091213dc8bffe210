"""Authentication and authorisation of a websocket session: who a connection is (its
hello), the welcome it gets for saying so, and which conversations it may use.

Split from server/ws.py, which keeps the Session: these are the checks made before a
connection may do anything (its origin, its token or session cookie) and before each
frame that names a conversation, written as functions of the request and the principal so
they read (and change) on their own.

Error handling: a refused hello raises :class:`~server.ws_transport.Closing` with the
close code the client is told (4001 for an expired token, 1008 for anything else); a
refused conversation raises RemoteProtocolError, answered with an error frame.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from actors.directory import Principal
from protocol.errors import CloseCode, ErrorCode, RemoteProtocolError
from protocol.frames import (
    MAX_ATTACHMENTS,
    MAX_BODY_BYTES,
    MAX_FRAME_BYTES,
    Hello,
    Participant,
    Welcome,
)
from server.auth import SESSION_COOKIE, TokenExpired, resolve_token
from server.config import Settings
from server.state import AppState
from server.ws_transport import Closing


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """The value of request header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def origin_allowed(state: AppState, scope: dict[str, Any], origin: str) -> bool:
    """Same-origin (the Host header) or listed in allowed_origins / public_url."""
    parts = urlsplit(origin)
    host = header(scope, b"host")
    if host is not None and parts.netloc == host:
        return True
    allowed = set(state.settings.allowed_origins)
    if state.settings.public_url:
        public = urlsplit(state.settings.public_url)
        allowed.add(f"{public.scheme}://{public.netloc}")
    return f"{parts.scheme}://{parts.netloc}" in allowed


def cookie_token(scope: dict[str, Any]) -> str | None:
    """The console's session token from the request's cookie, if any."""
    raw = header(scope, b"cookie")
    if not raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(raw)
    morsel = cookie.get(SESSION_COOKIE)
    return None if morsel is None else morsel.value


async def authenticate(
    state: AppState, scope: dict[str, Any], hello: Hello, *, origin_trusted: bool
) -> Principal:
    """Who ``hello`` speaks for: its token, or else the session cookie (trusted origins only).

    Raises:
        Closing: the token is unknown, revoked or expired, or a cookie login comes from an
            origin that may not use one.
    """
    token = hello.token
    if not token:
        if not origin_trusted:
            raise Closing(CloseCode.POLICY, "cookie login is not allowed from this origin")
        token = cookie_token(scope) or ""
    try:
        resolved = await resolve_token(state.system.store, token) if token else None
    except TokenExpired as exc:
        raise Closing(CloseCode.TOKEN_EXPIRED, str(exc)) from exc
    if resolved is None:
        raise Closing(CloseCode.POLICY, "unknown, revoked or expired token")
    return resolved.principal


def welcome_frame(
    session: str, settings: Settings, identity: Participant, principal: Principal
) -> Welcome:
    """The answer to a successful hello: the session id, the limits, who it is."""
    return Welcome(
        session=session,
        heartbeat=settings.ws_ping_interval,
        limits={
            "max_frame_bytes": MAX_FRAME_BYTES,
            "max_body_bytes": MAX_BODY_BYTES,
            "max_attachments": MAX_ATTACHMENTS,
            "outbox_frames": settings.outbox_frames,
            "rate_per_second": int(settings.rate_per_second),
            "rate_burst": settings.rate_burst,
        },
        identity=identity,
        conversations=tuple(sorted(principal.conversations or ())),
    )


async def authorise(state: AppState, principal: Principal, conversation: str) -> None:
    """Whether ``principal`` may use ``conversation``.

    Raises:
        RemoteProtocolError: FORBIDDEN for a conversation outside the token's, NOT_FOUND
            for staff naming a conversation that does not exist.
    """
    if principal.conversations is not None and conversation not in principal.conversations:
        raise RemoteProtocolError(
            ErrorCode.FORBIDDEN, f"this token may not use conversation {conversation}"
        )
    if principal.kind == "staff" and not await state.conversation_exists(conversation):
        raise RemoteProtocolError(
            ErrorCode.NOT_FOUND, f"conversation {conversation} does not exist"
        )
