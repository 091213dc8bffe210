"""Console login: POST /api/v1/auth/login, POST /api/v1/auth/logout, GET /api/v1/auth/me."""

from __future__ import annotations

import functools
from typing import Any

from quart import Blueprint, Response, g, jsonify, request

from actors import directory
from server.auth import (
    SESSION_COOKIE,
    hash_password_async,
    new_csrf,
    verify_password_async,
)
from server.http import ApiError, app_state, field, json_body, principal, requires

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

#: A fixed hash to verify against when the email is unknown, so a login takes as long
#: for unknown emails as for known ones (no user enumeration by timing).
_DUMMY_HASH: str | None = None


@blueprint.post("/login")
async def login() -> Response:
    global _DUMMY_HASH
    data = await json_body()
    email = field(data, "email", str, required=True, max_len=320).strip()
    password = field(data, "password", str, required=True, max_len=1024)
    state = app_state()
    store = state.system.store
    row = await store.read(functools.partial(directory.user_login_row, email=email))
    if row is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await hash_password_async("not a password")
        await verify_password_async(password, _DUMMY_HASH)
        raise ApiError(401, "bad_login", "wrong email or password")
    user_id, password_hash, active = row
    if not await verify_password_async(password, password_hash) or not active:
        raise ApiError(401, "bad_login", "wrong email or password")
    token = directory.new_token("sbs")
    csrf = new_csrf()
    ttl_ms = int(state.settings.session_ttl * 1000)
    await store.write(
        functools.partial(
            directory.create_console_session, user_id=user_id, token=token, csrf=csrf, ttl_ms=ttl_ms
        )
    )
    user = await store.read(functools.partial(directory.get_user, user_id=user_id))
    response = jsonify({"user": user, "csrf": csrf})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(state.settings.session_ttl),
        httponly=True,
        samesite="Strict",
        secure=state.settings.secure_cookies,
        path="/",
    )
    return response


@blueprint.post("/logout")
@requires("staff")
async def logout() -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await app_state().system.store.write(
            functools.partial(directory.delete_console_session, token=token)
        )
    response = jsonify({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@blueprint.get("/me")
@requires("any")
async def me() -> dict[str, Any]:
    who = principal()
    if who.kind == "staff":
        user = await app_state().system.store.read(
            functools.partial(directory.get_user, user_id=who.id)
        )
        return {"kind": "staff", "user": user, "csrf": getattr(g, "csrf", None)}
    return {
        "kind": "contact",
        "contact": {"id": who.id, "name": who.name},
        "conversations": sorted(who.conversations or ()),
    }
