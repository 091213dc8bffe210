"""Contexts (each kind and its validation) and attendee tokens over REST."""

from __future__ import annotations

import time
from typing import Any

import trio

from tests.helpers import Seed
from tests.server.test_api_support import (  # noqa: F401 - settings is a fixture
    count,
    error_code,
    settings,
    snapshot,
    staff,
)


async def test_context_kinds(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        mod, client = await staff(seed)
        other = await seed.user("other@example.com", name="Other")
        async with client:
            webinar = await client.post(
                "/api/v1/contexts",
                json={
                    "kind": "webinar",
                    "title": "Pricing 101",
                    "data": {"session_type": "live", "starts_at": "2025-03-01T15:00:00+01:00"},
                    "moderators": [mod["id"], other["id"]],
                    "primary_moderator": other["id"],
                    "external_id": "web-1",
                },
            )
            assert webinar.status_code == 201, webinar.text
            w = webinar.json()
            assert w["kind"] == "webinar"
            assert w["title"] == "Pricing 101"
            assert w["data"] == {
                "webinar": "Pricing 101",
                "session_type": "live",
                "starts_at": "2025-03-01T14:00:00Z",
            }
            assert sorted(w["moderators"]) == sorted([mod["id"], other["id"]])
            assert w["primary_moderator"] == other["id"]
            assert w["external_id"] == "web-1"

            email = await client.post(
                "/api/v1/contexts",
                json={
                    "kind": "email",
                    "title": "Your invoice",
                    "data": {
                        "body": "Dear Ann, ...",
                        "attachments": [{"name": "invoice.pdf", "url": "https://x.test/i.pdf"}],
                    },
                },
            )
            assert email.status_code == 201, email.text
            assert email.json()["data"] == {
                "subject": "Your invoice",
                "body": "Dear Ann, ...",
                "attachments": [{"name": "invoice.pdf", "url": "https://x.test/i.pdf"}],
            }
            note = await client.post(
                "/api/v1/contexts", json={"kind": "note", "data": {"subject": "Call back"}}
            )
            assert note.status_code == 201, note.text
            assert note.json()["title"] == "Call back"
            assert note.json()["data"] == {"subject": "Call back", "body": ""}
            event = await client.post(
                "/api/v1/contexts", json={"kind": "event", "title": "Launch", "data": {}}
            )
            assert event.status_code == 201
            site = await client.post(
                "/api/v1/contexts",
                json={"kind": "site", "title": "Shop", "data": {"url": "https://shop.test"}},
            )
            assert site.status_code == 201
            assert site.json()["data"] == {"url": "https://shop.test"}

            got = await client.get(f"/api/v1/contexts/{w['id']}")
            assert got.json() == w
            missing = await client.get("/api/v1/contexts/cx_ghost")
            assert missing.status_code == 404
            assert error_code(missing) == "not_found"
            every = await client.get("/api/v1/contexts")
            assert len(every.json()["items"]) == 5
            webinars = await client.get("/api/v1/contexts?kind=webinar")
            assert [c["id"] for c in webinars.json()["items"]] == [w["id"]]
            two = await client.get("/api/v1/contexts?limit=2")
            assert len(two.json()["items"]) == 2
            bad_kind = await client.get("/api/v1/contexts?kind=party")
            assert bad_kind.status_code == 400
            bad_limit = await client.get("/api/v1/contexts?limit=0")
            assert bad_limit.status_code == 400


CONTEXT_REFUSALS: list[tuple[dict[str, Any], int, str]] = [
    ({"title": "x"}, 400, "kind is required"),
    ({"kind": "party", "title": "x"}, 400, "kind must be one of webinar, note, email"),
    ({"kind": "webinar"}, 400, "title is required"),
    (
        {"kind": "webinar", "title": "W", "data": {"starts_at": "tomorrow"}},
        400,
        "data.starts_at must be an ISO 8601",
    ),
    (
        {"kind": "webinar", "title": "W", "data": {"starts_at": "2025-03-01T15:00:00"}},
        400,
        "data.starts_at must include a UTC offset",
    ),
    (
        {"kind": "webinar", "title": "W", "data": {"starts_at": 1740000000}},
        400,
        "data.starts_at must be an ISO 8601",
    ),
    (
        {"kind": "webinar", "title": "W", "data": {"speaker": "Bo"}},
        400,
        "unknown field data.speaker",
    ),
    ({"kind": "webinar", "title": "W", "moderators": ["us_ghost"]}, 404, "us_ghost"),
    ({"kind": "webinar", "title": "W", "moderators": "me"}, 400, "moderators must be a list"),
    ({"kind": "note", "title": "N", "moderators": ["us_x"]}, 400, "webinar contexts only"),
    ({"kind": "email", "data": {"body": "no subject"}}, 400, "title (or data.subject)"),
    ({"kind": "email", "title": "E", "data": {"body": 5}}, 400, "data.body must be a string"),
    (
        {"kind": "email", "title": "E", "data": {"attachments": [{"name": "a"}]}},
        400,
        "data.attachments[0].url must be an http(s) URL",
    ),
    (
        {
            "kind": "email",
            "title": "E",
            "data": {"attachments": [{"name": "a", "url": "javascript:alert(1)"}]},
        },
        400,
        "data.attachments[0].url must be an http(s) URL",
    ),
    ({"kind": "site", "title": "S", "data": {"url": "ftp://x"}}, 400, "data.url"),
    ({"kind": "site", "title": "S", "data": []}, 400, "data must be an object"),
    ({"kind": "site", "title": "S", "external_id": "taken"}, 409, "taken"),
]


async def test_context_validation_writes_nothing(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        async with client:
            first = await client.post(
                "/api/v1/contexts", json={"kind": "site", "title": "S", "external_id": "taken"}
            )
            assert first.status_code == 201
            before = await snapshot(seed)
            for body, status, says in CONTEXT_REFUSALS:
                response = await client.post("/api/v1/contexts", json=body)
                assert response.status_code == status, (body, response.text)
                assert says in response.json()["error"]["message"], (body, response.text)
            assert await snapshot(seed) == before


async def test_attendee_gets_a_working_token_and_the_same_conversation(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context("Pricing 101")
        url = f"/api/v1/contexts/{context['id']}/attendees"
        async with client:
            first = await client.post(
                url, json={"name": "Ann", "email": "ann@example.com", "external_id": "crm-7"}
            )
            assert first.status_code == 201, first.text
            ann = first.json()
            assert ann["created"] is True
            assert ann["token"].startswith("sba_")
            assert ann["contact"]["name"] == "Ann"
            assert ann["contact"]["external_id"] == "crm-7"
            ttl_ms = seed.running.state.settings.attendee_token_ttl * 1000
            assert abs(ann["expires_at"] - (time.time() * 1000 + ttl_ms)) < 60_000

            async with seed.http(ann["token"]) as widget:
                me = await widget.get("/api/v1/auth/me")
                assert me.status_code == 200, me.text
                assert me.json() == {
                    "kind": "contact",
                    "contact": {"id": ann["contact"]["id"], "name": "Ann"},
                    "conversations": [ann["conversation"]],
                }

            again = await client.post(url, json={"name": "Ann B.", "external_id": "crm-7"})
            assert again.status_code == 201
            assert again.json()["created"] is False
            assert again.json()["conversation"] == ann["conversation"]
            assert again.json()["token"] != ann["token"]
            by_email = await client.post(url, json={"name": "Ann", "email": "ANN@example.com"})
            assert by_email.json()["conversation"] == ann["conversation"]
            # Both tokens stay valid until they expire.
            for token in (ann["token"], again.json()["token"]):
                async with seed.http(token) as widget:
                    assert (await widget.get("/api/v1/auth/me")).status_code == 200

            bob = await client.post(url, json={"name": "Bob", "channel": "link"})
            assert bob.json()["created"] is True
            assert bob.json()["conversation"] != ann["conversation"]
            assert await count(seed, "SELECT COUNT(*) FROM conversations") == 2
            channel = await count(
                seed,
                "SELECT COUNT(*) FROM conversations WHERE id = ? AND channel = 'link'",
                bob.json()["conversation"],
            )
            assert channel == 1

            other = await seed.context("Another webinar")
            elsewhere = await client.post(
                f"/api/v1/contexts/{other['id']}/attendees",
                json={"name": "Ann", "external_id": "crm-7"},
            )
            assert elsewhere.json()["created"] is True
            assert elsewhere.json()["contact"]["id"] == ann["contact"]["id"]


async def test_attendee_refusals_write_nothing(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        url = f"/api/v1/contexts/{context['id']}/attendees"
        refusals: list[tuple[str, dict[str, Any], int, str]] = [
            (url, {}, 400, "name is required"),
            (url, {"name": "Ann", "channel": "fax"}, 400, "channel must be one of widget"),
            (url, {"name": "Ann", "email": "nope"}, 400, "email must be an email address"),
            (url, {"name": "Ann", "token": "mine"}, 400, "unknown field token"),
            ("/api/v1/contexts/cx_ghost/attendees", {"name": "Ann"}, 404, "cx_ghost"),
        ]
        async with client:
            before = await snapshot(seed)
            for target, body, status, says in refusals:
                response = await client.post(target, json=body)
                assert response.status_code == status, (body, response.text)
                assert says in response.json()["error"]["message"]
            assert await snapshot(seed) == before
