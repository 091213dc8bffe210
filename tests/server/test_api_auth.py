"""Who may call what: login, cookies and CSRF, and the 401/403 of every protected route.

The route tests are parametrised over the app's url_map, so a new route is covered (and
must declare ``@requires``) without anyone editing this file.
"""

from __future__ import annotations

import pytest
import trio

from tests.helpers import PASSWORD, Seed
from tests.server.test_api_support import (  # noqa: F401 - settings is a fixture
    PUBLIC,
    ROUTES,
    Route,
    error_code,
    settings,
    snapshot,
)

PROTECTED = [r for r in ROUTES if (r.method, r.rule) not in PUBLIC]
STAFF_ONLY = [r for r in PROTECTED if r.role in ("staff", "admin")]
ADMIN_ONLY = [r for r in PROTECTED if r.role == "admin"]


def test_every_route_declares_who_may_call_it() -> None:
    undeclared = [r.id for r in PROTECTED if r.role not in ("any", "staff", "admin")]
    assert not undeclared, f"routes without @requires(...): {undeclared}"
    assert ADMIN_ONLY, "expected some admin-only routes"


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: r.id)
async def test_anonymous_gets_401(route: Route, seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        before = await snapshot(seed)
        async with seed.http() as client:
            response = await client.request(route.method, route.url(), json={})
        assert response.status_code == 401, response.text
        assert error_code(response) == "unauthorized"
        assert await snapshot(seed) == before


@pytest.mark.parametrize("route", STAFF_ONLY, ids=lambda r: r.id)
async def test_attendee_token_gets_403(route: Route, seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        context = await seed.context()
        attendee = await seed.attendee(context["id"])
        before = await snapshot(seed)
        async with seed.http(attendee["token"]) as client:
            # Aim at the attendee's own conversation: even that is staff-only here.
            response = await client.request(
                route.method, route.url(attendee["conversation"]), json={"body": "hi"}
            )
        assert response.status_code == 403, response.text
        assert error_code(response) == "forbidden"
        assert await snapshot(seed) == before


@pytest.mark.parametrize("route", ADMIN_ONLY, ids=lambda r: r.id)
async def test_agent_gets_403_on_admin_routes(
    route: Route, seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        agent, token = await seed.staff_token()
        before = await snapshot(seed)
        async with seed.http(token) as client:
            response = await client.request(
                route.method,
                route.url(agent["id"]),
                json={"name": "x", "email": "x@example.com", "role": "admin", "password": "x" * 9},
            )
        assert response.status_code == 403, response.text
        assert error_code(response) == "forbidden"
        assert await snapshot(seed) == before


async def test_bad_authorization_headers_get_401(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        async with seed.http() as client:
            for header in ("Basic abc", "Bearer", "Bearer sbt_unknown", "Bearer nonsense"):
                response = await client.get("/api/v1/users", headers={"Authorization": header})
                assert response.status_code == 401, header
                assert error_code(response) == "unauthorized"


async def test_expired_attendee_token_says_so(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        context = await seed.context()
        attendee = await seed.attendee(context["id"], ttl_ms=-1)
        async with seed.http(attendee["token"]) as client:
            response = await client.get("/api/v1/auth/me")
        assert response.status_code == 401
        assert error_code(response) == "token_expired"


async def test_login_cookie_csrf_and_logout(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        admin = await seed.user("boss@example.com", role="admin", name="Boss")
        async with seed.http() as client:
            bad = await client.post(
                "/api/v1/auth/login", json={"email": "boss@example.com", "password": "wrong!!!"}
            )
            assert bad.status_code == 401
            assert error_code(bad) == "bad_login"
            assert "sb_session" not in client.cookies

            login = await client.post(
                "/api/v1/auth/login", json={"email": "BOSS@example.com", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            csrf = login.json()["csrf"]
            assert login.json()["user"]["id"] == admin["id"]
            cookie = login.headers["set-cookie"]
            assert "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie

            me = await client.get("/api/v1/auth/me")
            assert me.status_code == 200
            assert me.json()["kind"] == "staff"
            assert me.json()["csrf"] == csrf

            # Reads need no CSRF token; writes do.
            assert (await client.get("/api/v1/users")).status_code == 200
            new_team = {"name": "Support", "members": []}
            before = await snapshot(seed)
            refused = await client.post("/api/v1/teams", json=new_team)
            assert refused.status_code == 403
            assert error_code(refused) == "csrf"
            wrong = await client.post(
                "/api/v1/teams", json=new_team, headers={"X-CSRF-Token": "forged"}
            )
            assert wrong.status_code == 403
            assert error_code(wrong) == "csrf"
            foreign = await client.post(
                "/api/v1/teams",
                json=new_team,
                headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
            )
            assert foreign.status_code == 403
            assert error_code(foreign) == "forbidden"
            assert await snapshot(seed) == before

            made = await client.post(
                "/api/v1/teams",
                json=new_team,
                headers={"X-CSRF-Token": csrf, "Origin": seed.running.url},
            )
            assert made.status_code == 201, made.text

            no_csrf_logout = await client.post("/api/v1/auth/logout")
            assert no_csrf_logout.status_code == 403
            out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
            assert out.status_code == 200
            assert "sb_session" not in client.cookies
            # The old cookie is dead even if a client kept it.
            client.cookies.set("sb_session", cookie.split(";")[0].split("=", 1)[1])
            assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_deactivated_user_cannot_log_in(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, admin_token = await seed.staff_token("admin@example.com", role="admin")
        agent = await seed.user("gone@example.com")
        async with seed.http(admin_token) as admin:
            r = await admin.patch(f"/api/v1/users/{agent['id']}", json={"active": False})
            assert r.status_code == 200
            assert r.json()["active"] is False
        async with seed.http() as client:
            login = await client.post(
                "/api/v1/auth/login", json={"email": "gone@example.com", "password": PASSWORD}
            )
            assert login.status_code == 401
            assert error_code(login) == "bad_login"
