"""Staff users, teams and API tokens: /api/v1/users, /api/v1/teams, /api/v1/tokens.

Any staff member may look; only admins change users and teams. API tokens belong to a
user: everyone manages their own, admins everyone's. A token's secret is shown once, in
the answer that creates it, and only its SHA-256 digest is stored.
"""

from __future__ import annotations

import functools
from typing import Any

from quart import Blueprint

from actors import directory
from actors.store import Tx
from server.api import (
    MAX_EXTERNAL_ID,
    id_list,
    known_fields,
    query_text,
    required_email,
    required_text,
    text,
)
from server.auth import hash_password_async
from server.http import (
    ApiError,
    app_state,
    bad_request,
    field,
    json_body,
    principal,
    requires,
)

blueprint = Blueprint("users", __name__, url_prefix="/api/v1")

#: NIST SP 800-63B minimum for passwords chosen by people.
MIN_PASSWORD = 8
#: scrypt cost grows with the input; nobody types more than this.
MAX_PASSWORD = 1024
#: Ten years: "never" should be said by leaving expires_in_days out, not by a huge number.
MAX_TOKEN_DAYS = 3650
DAY_MS = 86_400_000


def _password(data: dict[str, Any], *, required: bool) -> str | None:
    value: str | None = field(data, "password", str, required=required, max_len=MAX_PASSWORD)
    if value is not None and len(value) < MIN_PASSWORD:
        raise bad_request(f"password must be at least {MIN_PASSWORD} characters")
    return value


# -- users ------------------------------------------------------------------------------------


@blueprint.get("/users")
@requires("staff")
async def list_users() -> dict[str, Any]:
    items = await app_state().system.store.read(directory.list_users)
    return {"items": items}


@blueprint.post("/users")
@requires("admin")
async def create_user() -> tuple[dict[str, Any], int]:
    data = await json_body()
    known_fields(data, ("email", "name", "role", "password"))
    address = required_email(data)
    name = required_text(data, "name")
    role = field(data, "role", str, required=True, choices=directory.ROLES)
    password = _password(data, required=True)
    if password is None:  # _password raised already; this narrows the type
        raise bad_request("password is required", "missing_field")
    password_hash = await hash_password_async(password)
    user = await app_state().system.store.write(
        functools.partial(
            directory.create_user, email=address, name=name, role=role, password_hash=password_hash
        )
    )
    return user, 201


@blueprint.get("/users/<user_id>")
@requires("staff")
async def get_user(user_id: str) -> dict[str, Any]:
    user: dict[str, Any] = await app_state().system.store.read(
        functools.partial(directory.get_user, user_id=user_id)
    )
    return user


@blueprint.patch("/users/<user_id>")
@requires("admin")
async def update_user(user_id: str) -> dict[str, Any]:
    data = await json_body()
    known_fields(data, ("email", "name", "role", "active", "password"))
    changes: dict[str, Any] = {}
    if "email" in data:
        changes["email"] = required_email(data)
    if "name" in data:
        changes["name"] = required_text(data, "name")
    if "role" in data:
        changes["role"] = field(data, "role", str, required=True, choices=directory.ROLES)
    if "active" in data:
        changes["active"] = field(data, "active", bool, required=True)
    password = _password(data, required="password" in data)
    if not changes and password is None:
        raise bad_request("nothing to change: send email, name, role, active or password")
    if password is not None:
        changes["password_hash"] = await hash_password_async(password)
    user: dict[str, Any] = await app_state().system.store.write(
        functools.partial(directory.update_user, user_id=user_id, fields=changes)
    )
    return user


# -- teams ------------------------------------------------------------------------------------


@blueprint.get("/teams")
@requires("staff")
async def list_teams() -> dict[str, Any]:
    items = await app_state().system.store.read(directory.list_teams)
    return {"items": items}


@blueprint.post("/teams")
@requires("admin")
async def create_team() -> tuple[dict[str, Any], int]:
    data = await json_body()
    known_fields(data, ("name", "members"))
    name = required_text(data, "name")
    members = id_list(data, "members") or []
    team = await app_state().system.store.write(
        functools.partial(directory.create_team, name=name, members=members)
    )
    return team, 201


@blueprint.get("/teams/<team_id>")
@requires("staff")
async def get_team(team_id: str) -> dict[str, Any]:
    team: dict[str, Any] = await app_state().system.store.read(
        functools.partial(directory.get_team, team_id=team_id)
    )
    return team


@blueprint.patch("/teams/<team_id>")
@requires("admin")
async def update_team(team_id: str) -> dict[str, Any]:
    data = await json_body()
    known_fields(data, ("name", "members"))
    name = text(data, "name", required="name" in data)
    members = id_list(data, "members")
    if "members" in data and members is None:
        raise bad_request("members must be a list of user ids ([] for none)")
    if name is None and members is None:
        raise bad_request("nothing to change: send name or members")
    team: dict[str, Any] = await app_state().system.store.write(
        functools.partial(directory.update_team, team_id=team_id, name=name, members=members)
    )
    return team


# -- API tokens -------------------------------------------------------------------------------


@blueprint.post("/tokens")
@requires("staff")
async def create_token() -> tuple[dict[str, Any], int]:
    data = await json_body()
    known_fields(data, ("name", "expires_in_days", "user_id"))
    who = principal()
    name = required_text(data, "name", max_len=MAX_EXTERNAL_ID)
    days = field(data, "expires_in_days", int)
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise bad_request(f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}")
    user_id = field(data, "user_id", str, max_len=MAX_EXTERNAL_ID) or who.id
    if user_id != who.id and who.role != "admin":
        raise ApiError(403, "forbidden", "only admins issue tokens for other users")
    secret = directory.new_token("sbt")

    def create(tx: Tx) -> dict[str, Any]:
        expires_at = None if days is None else tx.now_ms + days * DAY_MS
        return directory.create_api_token(tx, user_id, name, secret, expires_at)

    token = await app_state().system.store.write(create)
    return {**token, "token": secret}, 201


@blueprint.get("/tokens")
@requires("staff")
async def list_tokens() -> dict[str, Any]:
    who = principal()
    wanted = query_text("user_id")
    if who.role != "admin":
        if wanted is not None and wanted != who.id:
            raise ApiError(403, "forbidden", "only admins list other users' tokens")
        wanted = who.id
    items = await app_state().system.store.read(
        functools.partial(directory.list_api_tokens, user_id=wanted)
    )
    return {"items": items}


@blueprint.delete("/tokens/<token_id>")
@requires("staff")
async def revoke_token(token_id: str) -> dict[str, Any]:
    who = principal()
    store = app_state().system.store
    token = await store.read(functools.partial(directory.get_api_token, token_id=token_id))
    if token["user"] != who.id and who.role != "admin":
        raise ApiError(403, "forbidden", "only admins revoke other users' tokens")
    revoked: dict[str, Any] = await store.write(
        functools.partial(directory.revoke_api_token, token_id=token_id)
    )
    return revoked
