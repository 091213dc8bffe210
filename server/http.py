"""Shared pieces of the REST API: errors, authentication, CSRF, body validation.

Every error answers ``{"error": {"code": "...", "message": "..."}}`` with a 4xx/5xx status
and a stable ``code``. Callers authenticate with ``Authorization: Bearer <token>`` (API
tokens for programs, attendee tokens for the widget) or the console session cookie; a
cookie-authenticated write must also send the session's CSRF token in ``X-CSRF-Token``
and, when the browser sends an Origin, come from our own origin.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from quart import Response, current_app, g, jsonify, request

from actors.directory import Principal
from server.auth import CSRF_HEADER, SESSION_COOKIE, TokenExpired, resolve_token
from server.state import AppState

P = ParamSpec("P")
T = TypeVar("T")

#: Largest JSON request body accepted by the REST API.
MAX_JSON_BYTES = 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiError(Exception):
    """An HTTP error with a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "bad_field") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def app_state() -> AppState:
    state: AppState = current_app.config["SWITCHBOARD_STATE"]
    return state


def principal() -> Principal:
    """The authenticated caller of the current request (after ``@requires``)."""
    found: Principal = g.principal
    return found


def _trusted_origin(state: AppState) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = request.headers.get("Host", "")
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    if parts.netloc == host:
        return True
    return f"{parts.scheme}://{parts.netloc}" in state.settings.allowed_origins


async def authenticate() -> Principal | None:
    """Resolve the caller from the bearer token or the session cookie (with CSRF check)."""
    state = app_state()
    store = state.system.store
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <token>'")
        try:
            resolved = await resolve_token(store, token.strip())
        except TokenExpired as exc:
            raise ApiError(401, "token_expired", str(exc)) from exc
        if resolved is None or resolved.csrf is not None:
            raise ApiError(401, "unauthorized", "unknown, revoked or expired token")
        return resolved.principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    resolved = await resolve_token(store, cookie)
    if resolved is None or resolved.csrf is None:
        return None
    if request.method not in SAFE_METHODS:
        if not _trusted_origin(state):
            raise ApiError(403, "forbidden", "cross-site request refused")
        if request.headers.get(CSRF_HEADER) != resolved.csrf:
            raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    g.csrf = resolved.csrf
    return resolved.principal


def requires(
    role: str = "staff",
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Route decorator: ``staff`` (admin or agent), ``admin``, or ``any`` (contacts too)."""

    def decorate(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(view)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            who = await authenticate()
            if who is None:
                raise ApiError(401, "unauthorized", "log in or send an API token")
            if role != "any" and who.kind != "staff":
                raise ApiError(403, "forbidden", "staff only")
            if role == "admin" and who.role != "admin":
                raise ApiError(403, "forbidden", "admins only")
            g.principal = who
            return await view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorate


async def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"request body over {MAX_JSON_BYTES} bytes")
    data = await request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object", "bad_json")
    return data


def field(
    data: Mapping[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    *,
    required: bool = False,
    default: Any = None,
    max_len: int | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """One validated field of a JSON body; errors name the field."""
    if name not in data or data[name] is None:
        if required:
            raise bad_request(f"{name} is required", "missing_field")
        return default
    value = data[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise bad_request(f"{name} must be {_kind_name(kinds)}")
    if not isinstance(value, kinds):
        raise bad_request(f"{name} must be {_kind_name(kinds)}")
    if max_len is not None and isinstance(value, str | list) and len(value) > max_len:
        raise bad_request(f"{name} is longer than {max_len}")
    if choices is not None and value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(map(str, choices))}")
    if isinstance(value, str) and required and not value.strip():
        raise bad_request(f"{name} must not be empty", "missing_field")
    return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "an object",
        float: "a number",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int = 10**12) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise bad_request(f"query parameter {name} must be between {minimum} and {maximum}")
    return value
