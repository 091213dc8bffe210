"""Users, teams and API tokens over REST: CRUD, validation, conflicts, revocation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import trio

from tests.helpers import PASSWORD, Seed
from tests.server.test_api_support import (  # noqa: F401 - settings is a fixture
    count,
    error_code,
    send_json,
    settings,
    snapshot,
    staff,
)


async def _refused(
    seed: Seed,
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: Any,
    status: int,
    code: str,
    says: str = "",
) -> None:
    """The request is refused with ``status``/``code`` and the database is unchanged."""
    before = await snapshot(seed)
    response = await send_json(client, method, url, body)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert says in response.json()["error"]["message"]
    assert await snapshot(seed) == before


async def test_users_create_read_update(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, admin = await staff(seed, "admin@example.com", role="admin")
        async with admin:
            new = {
                "email": "ann@example.com",
                "name": "Ann",
                "role": "agent",
                "password": "s3cret-pw",
            }
            created = await admin.post("/api/v1/users", json=new)
            assert created.status_code == 201, created.text
            user = created.json()
            assert user["email"] == "ann@example.com"
            assert user["role"] == "agent"
            assert user["active"] is True
            assert "password" not in user
            assert "password_hash" not in user

            url = "/api/v1/users"
            await _refused(seed, admin, "POST", url, new, 409, "conflict", "ann@example.com")
            await _refused(
                seed,
                admin,
                "POST",
                url,
                {**new, "email": "b@example.com", "password": "short"},
                400,
                "bad_field",
                "password must be at least 8",
            )
            await _refused(
                seed,
                admin,
                "POST",
                url,
                {**new, "email": "b@example.com", "role": "boss"},
                400,
                "bad_field",
                "role must be one of admin, agent",
            )
            await _refused(
                seed,
                admin,
                "POST",
                url,
                {**new, "email": "not-an-address"},
                400,
                "bad_field",
                "email",
            )
            await _refused(
                seed,
                admin,
                "POST",
                url,
                {**new, "email": "b@example.com", "nickname": "x"},
                400,
                "bad_field",
                "unknown field nickname",
            )
            await _refused(
                seed,
                admin,
                "POST",
                url,
                {"email": "b@example.com"},
                400,
                "missing_field",
                "name is required",
            )
            await _refused(seed, admin, "POST", url, [1, 2], 400, "bad_json")

            listed = await admin.get("/api/v1/users")
            assert {u["email"] for u in listed.json()["items"]} == {
                "admin@example.com",
                "ann@example.com",
            }
            one = await admin.get(f"/api/v1/users/{user['id']}")
            assert one.json() == user
            missing = await admin.get("/api/v1/users/us_nobody")
            assert missing.status_code == 404
            assert error_code(missing) == "not_found"

            uid = f"/api/v1/users/{user['id']}"
            patched = await admin.patch(
                uid, json={"name": "Ann B", "role": "admin", "password": "another-pw"}
            )
            assert patched.status_code == 200, patched.text
            assert patched.json()["name"] == "Ann B"
            assert patched.json()["role"] == "admin"
            await _refused(seed, admin, "PATCH", uid, {}, 400, "bad_field", "nothing to change")
            await _refused(
                seed,
                admin,
                "PATCH",
                uid,
                {"active": "no"},
                400,
                "bad_field",
                "active must be true or false",
            )
            await _refused(
                seed, admin, "PATCH", uid, {"email": "admin@example.com"}, 409, "conflict"
            )
            await _refused(
                seed, admin, "PATCH", "/api/v1/users/us_nobody", {"name": "X"}, 404, "not_found"
            )
        async with seed.http() as anon:
            old = await anon.post(
                "/api/v1/auth/login", json={"email": "ann@example.com", "password": "s3cret-pw"}
            )
            assert old.status_code == 401
            new_login = await anon.post(
                "/api/v1/auth/login", json={"email": "ann@example.com", "password": "another-pw"}
            )
            assert new_login.status_code == 200


async def test_the_last_active_admin_stays(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        boss, admin = await staff(seed, "admin@example.com", role="admin")
        async with admin:
            url = f"/api/v1/users/{boss['id']}"
            await _refused(
                seed, admin, "PATCH", url, {"role": "agent"}, 409, "conflict", "last active admin"
            )
            await _refused(seed, admin, "PATCH", url, {"active": False}, 409, "conflict")
            other = await admin.post(
                "/api/v1/users",
                json={"email": "b@example.com", "name": "B", "role": "admin", "password": PASSWORD},
            )
            assert other.status_code == 201
            demoted = await admin.patch(url, json={"role": "agent"})
            assert demoted.status_code == 200
            assert demoted.json()["role"] == "agent"


async def test_teams(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, admin = await staff(seed, "admin@example.com", role="admin")
        ann = await seed.user("ann@example.com", name="Ann")
        bob = await seed.user("bob@example.com", name="Bob")
        async with admin:
            made = await admin.post("/api/v1/teams", json={"name": "Sales", "members": [ann["id"]]})
            assert made.status_code == 201, made.text
            team = made.json()
            assert team["members"] == [ann["id"]]
            await _refused(seed, admin, "POST", "/api/v1/teams", {"name": "sales"}, 409, "conflict")
            await _refused(
                seed,
                admin,
                "POST",
                "/api/v1/teams",
                {"name": "Support", "members": [ann["id"], "us_ghost"]},
                404,
                "not_found",
                "us_ghost",
            )
            await _refused(
                seed,
                admin,
                "POST",
                "/api/v1/teams",
                {"name": "Support", "members": "ann"},
                400,
                "bad_field",
                "members",
            )
            assert await count(seed, "SELECT COUNT(*) FROM teams") == 1

            url = f"/api/v1/teams/{team['id']}"
            patched = await admin.patch(url, json={"members": [bob["id"], ann["id"]]})
            assert patched.status_code == 200
            assert sorted(patched.json()["members"]) == sorted([ann["id"], bob["id"]])
            renamed = await admin.patch(url, json={"name": "Sales EU"})
            assert renamed.json()["name"] == "Sales EU"
            assert sorted(renamed.json()["members"]) == sorted([ann["id"], bob["id"]])
            await _refused(seed, admin, "PATCH", url, {"members": ["us_ghost"]}, 404, "not_found")
            await _refused(seed, admin, "PATCH", url, {}, 400, "bad_field", "nothing to change")
            await _refused(
                seed, admin, "PATCH", "/api/v1/teams/tm_ghost", {"name": "X"}, 404, "not_found"
            )

            got = await admin.get(url)
            assert got.json() == renamed.json()
            listed = await admin.get("/api/v1/teams")
            assert [t["name"] for t in listed.json()["items"]] == ["Sales EU"]
            assert (await admin.get("/api/v1/teams/tm_ghost")).status_code == 404


async def test_tokens_issue_list_and_revoke(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        boss, admin = await staff(seed, "admin@example.com", role="admin")
        agent, agent_client = await staff(seed, "agent@example.com")
        async with admin, agent_client:
            issued = await agent_client.post(
                "/api/v1/tokens", json={"name": "crm sync", "expires_in_days": 30}
            )
            assert issued.status_code == 201, issued.text
            token = issued.json()
            assert token["token"].startswith("sbt_")
            assert token["user"] == agent["id"]
            assert token["revoked"] is False
            days_ms = token["expires_at"] - time.time() * 1000
            assert 29.9 * 86_400_000 < days_ms <= 30 * 86_400_000

            async with seed.http(token["token"]) as program:
                me = await program.get("/api/v1/auth/me")
                assert me.status_code == 200
                assert me.json()["user"]["id"] == agent["id"]

                mine = await agent_client.get("/api/v1/tokens")
                assert {t["id"] for t in mine.json()["items"]} >= {token["id"]}
                assert all(t["user"] == agent["id"] for t in mine.json()["items"])
                assert all("token" not in t for t in mine.json()["items"])

                await _refused(
                    seed,
                    agent_client,
                    "POST",
                    "/api/v1/tokens",
                    {"name": "x", "user_id": boss["id"]},
                    403,
                    "forbidden",
                )
                await _refused(
                    seed,
                    agent_client,
                    "POST",
                    "/api/v1/tokens",
                    {"name": "x", "expires_in_days": 0},
                    400,
                    "bad_field",
                    "expires_in_days",
                )
                await _refused(
                    seed, agent_client, "POST", "/api/v1/tokens", {}, 400, "missing_field", "name"
                )
                forbidden = await agent_client.get(f"/api/v1/tokens?user_id={boss['id']}")
                assert forbidden.status_code == 403

                for_agent = await admin.post(
                    "/api/v1/tokens", json={"name": "for agent", "user_id": agent["id"]}
                )
                assert for_agent.status_code == 201
                assert for_agent.json()["user"] == agent["id"]
                assert for_agent.json()["expires_at"] is None
                await _refused(
                    seed,
                    admin,
                    "POST",
                    "/api/v1/tokens",
                    {"name": "x", "user_id": "us_ghost"},
                    404,
                    "not_found",
                )
                everyone = await admin.get("/api/v1/tokens")
                owners = {t["user"] for t in everyone.json()["items"]}
                assert owners == {boss["id"], agent["id"]}

                boss_token = next(t for t in everyone.json()["items"] if t["user"] == boss["id"])
                await _refused(
                    seed,
                    agent_client,
                    "DELETE",
                    f"/api/v1/tokens/{boss_token['id']}",
                    None,
                    403,
                    "forbidden",
                )
                await _refused(
                    seed, agent_client, "DELETE", "/api/v1/tokens/tk_ghost", None, 404, "not_found"
                )

                revoked = await agent_client.delete(f"/api/v1/tokens/{token['id']}")
                assert revoked.status_code == 200
                assert revoked.json()["revoked"] is True
                dead = await program.get("/api/v1/auth/me")
                assert dead.status_code == 401
                assert error_code(dead) == "unauthorized"
                again = await agent_client.delete(f"/api/v1/tokens/{token['id']}")
                assert again.status_code == 200
            # The admin may revoke anyone's token.
            by_admin = await admin.delete(f"/api/v1/tokens/{for_agent.json()['id']}")
            assert by_admin.json()["revoked"] is True


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"name": ""}, "missing_field", "name must not be empty"),
        ({"name": "   "}, "missing_field", "name must not be empty"),
        ({"name": 5}, "bad_field", "name must be a string"),
        ({"name": "x" * 300}, "bad_field", "name is longer than"),
        ({"name": "A", "members": [1]}, "bad_field", "members must be a list of ids"),
        ({"name": "\ud800"}, "bad_field", "name must be valid Unicode"),
    ],
)
async def test_team_validation(
    body: dict[str, Any], code: str, says: str, seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _, admin = await staff(seed, "admin@example.com", role="admin")
        async with admin:
            await _refused(seed, admin, "POST", "/api/v1/teams", body, 400, code, says)
