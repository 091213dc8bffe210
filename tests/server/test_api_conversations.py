"""The inbox over REST: list filters, cursor pagination, detail, and PATCH of each field."""

from __future__ import annotations

import functools
from typing import Any

import httpx
import trio

from actors import directory
from actors.records import NewMessage
from protocol.frames import Participant
from tests.helpers import Seed
from tests.server.test_api_support import (  # noqa: F401 - settings is a fixture
    error_code,
    send_json,
    settings,
    snapshot,
    staff,
)


async def customer_says(seed: Seed, attendee: dict[str, Any], body: str) -> int:
    """The attendee writes (through the conversation's actor, as the websocket would)."""
    contact = attendee["contact"]
    stored = await seed.running.state.system.post(
        NewMessage(
            conversation=attendee["conversation"],
            author=Participant(kind="contact", id=contact["id"], name=contact["name"]),
            kind="message",
            body=body,
        )
    )
    return stored.seq


async def _ids(client: httpx.AsyncClient, query: str) -> set[str]:
    response = await client.get(f"/api/v1/conversations?{query}")
    assert response.status_code == 200, (query, response.text)
    return {c["id"] for c in response.json()["items"]}


async def test_list_filters(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        agent, client = await staff(seed)
        other = await seed.user("other@example.com", name="Other")
        webinar = await seed.context("Webinar")
        shop = await seed.context("Shop")
        a, b, c, d = [
            (await seed.attendee(ctx["id"], name=name))["conversation"]
            for ctx, name in ((webinar, "A"), (webinar, "B"), (shop, "C"), (shop, "D"))
        ]
        async with client:
            team = await seed.store.write(
                functools.partial(directory.create_team, name="Sales", members=[other["id"]])
            )
            for conv, change in (
                (a, {"status": "pending", "assignee": {"user": "me"}}),
                (b, {"assignee": {"team": team["id"]}}),
                (c, {"tags_add": ["VIP"], "assignee": {"user": other["id"]}}),
                (d, {"status": "resolved"}),
            ):
                r = await client.patch(f"/api/v1/conversations/{conv}", json=change)
                assert r.status_code == 200, r.text

            assert await _ids(client, "") == {a, b, c, d}
            assert await _ids(client, "status=open") == {b, c}
            assert await _ids(client, "status=pending") == {a}
            assert await _ids(client, "status=resolved") == {d}
            assert await _ids(client, "assignee=me") == {a}
            assert await _ids(client, f"assignee={agent['id']}") == {a}
            assert await _ids(client, f"assignee={other['id']}") == {c}
            assert await _ids(client, "assignee=unassigned") == {d}
            assert await _ids(client, f"assignee=team:{team['id']}") == {b}
            assert await _ids(client, f"context={webinar['id']}") == {a, b}
            assert await _ids(client, f"context={shop['id']}&status=resolved") == {d}
            assert await _ids(client, "channel=widget") == {a, b, c, d}
            assert await _ids(client, "channel=link") == set()
            assert await _ids(client, "tag=vip") == {c}
            assert await _ids(client, "tag=VIP") == {c}
            assert await _ids(client, "tag=none") == set()
            assert await _ids(client, "context=cx_ghost") == set()

            for query, says in (
                ("status=closed", "status must be one of open, pending, resolved"),
                ("assignee=team:", "team:<id>"),
                ("limit=0", "limit must be between 1 and 200"),
                ("limit=201", "limit must be between 1 and 200"),
                ("limit=ten", "limit must be an integer"),
                ("before=%%%", "before is not a cursor"),
                ("before=bm9wZQ", "before is not a cursor"),
            ):
                r = await client.get(f"/api/v1/conversations?{query}")
                assert r.status_code == 400, query
                assert says in r.json()["error"]["message"], (query, r.text)


async def test_pagination_with_before(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        attendees = [await seed.attendee(context["id"], name=f"P{i}") for i in range(7)]
        # The oldest conversation gets new activity: it moves to the front (ties in the
        # same millisecond are ordered by id, so compare activity times, not positions).
        await customer_says(seed, attendees[0], "hello again")
        async with client:
            pages: list[list[dict[str, Any]]] = []
            cursor: str | None = None
            while True:
                query = "limit=3" + (f"&before={cursor}" if cursor else "")
                response = await client.get(f"/api/v1/conversations?{query}")
                assert response.status_code == 200
                body = response.json()
                pages.append(body["items"])
                cursor = body["next"]
                if cursor is None:
                    break
                assert len(pages) < 10, "pagination does not end"
            assert [len(p) for p in pages] == [3, 3, 1]
            items = [item for page in pages for item in page]
            assert len({i["id"] for i in items}) == 7
            revived = next(i for i in items if i["id"] == attendees[0]["conversation"])
            assert revived["preview"] == "hello again"
            assert revived["last_activity_at"] == items[0]["last_activity_at"]
            keys = [(i["last_activity_at"], i["id"]) for i in items]
            assert keys == sorted(keys, reverse=True)
            everything = await client.get("/api/v1/conversations?limit=200")
            assert [i["id"] for i in everything.json()["items"]] == [i["id"] for i in items]
            assert everything.json()["next"] is None


async def test_detail(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context("Pricing", webinar="Pricing", session_type="live")
        attendee = await seed.attendee(context["id"], name="Ann", email="ann@example.com")
        conv = attendee["conversation"]
        await customer_says(seed, attendee, "hi there")
        async with client:
            detail = await client.get(f"/api/v1/conversations/{conv}")
            assert detail.status_code == 200
            body = detail.json()
            assert body["id"] == conv
            assert body["status"] == "open"
            assert body["last_seq"] == 1
            assert body["preview"] == "hi there"
            assert body["context"] == context
            assert body["contact"]["email"] == "ann@example.com"
            assert body["contact"]["verified"] is False
            assert body["read_marks"] == []
            missing = await client.get("/api/v1/conversations/cv_ghost")
            assert missing.status_code == 404
            assert error_code(missing) == "not_found"


async def _events(client: httpx.AsyncClient, conv: str) -> list[dict[str, Any]]:
    history = await client.get(f"/api/v1/conversations/{conv}/messages")
    return [m for m in history.json()["items"] if m["kind"] == "event"]


async def test_patch_each_field(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        agent, client = await staff(seed)
        context = await seed.context()
        conv = (await seed.attendee(context["id"]))["conversation"]
        team = await seed.store.write(
            functools.partial(directory.create_team, name="Support", members=[])
        )
        url = f"/api/v1/conversations/{conv}"
        steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"status": "pending"}, {"status": "pending"}),
            (
                {"assignee": {"user": agent["id"]}},
                {"assignee": {"user": agent["id"], "team": None}},
            ),
            ({"assignee": {"team": team["id"]}}, {"assignee": {"user": None, "team": team["id"]}}),
            ({"assignee": None}, {"assignee": {"user": None, "team": None}}),
            ({"priority": "urgent"}, {"priority": "urgent"}),
            ({"tags_add": ["Billing ", "vip"]}, {"tags": ["billing", "vip"]}),
            ({"tags_remove": ["VIP"]}, {"tags": ["billing"]}),
            (
                {"properties": {"language": "de", "score": 3}},
                {"properties": {"language": "de", "score": 3}},
            ),
            ({"properties": {"score": None}}, {"properties": {"language": "de"}}),
        ]
        async with client:
            for number, (change, expected) in enumerate(steps, start=1):
                response = await client.patch(url, json=change)
                assert response.status_code == 200, (change, response.text)
                state = response.json()
                shown = (await client.get(url)).json()
                for key, value in expected.items():
                    assert state[key] == value, (change, state)
                    assert shown[key] == value, (change, shown)
                events = await _events(client, conv)
                assert len(events) == number, change
                assert events[-1]["author"] == {"kind": "staff", "id": agent["id"], "name": "agent"}
                assert events[-1]["data"]["event"] == "conversation_updated"
            events = await _events(client, conv)
            assert events[0]["data"]["changes"] == {"status": ["open", "pending"]}
            assert events[0]["body"] == "status: open → pending"
            assert "tagged billing, vip" in events[5]["body"]

            # Setting a field to its current value records nothing.
            same = await client.patch(url, json={"status": "pending"})
            assert same.status_code == 200
            assert len(await _events(client, conv)) == len(steps)


async def test_patch_refusals_write_nothing(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        conv = (await seed.attendee(context["id"]))["conversation"]
        url = f"/api/v1/conversations/{conv}"
        refusals: list[tuple[str, Any, int, str]] = [
            (url, {"status": "closed"}, 400, "status must be one of open, pending, resolved"),
            (url, {"priority": "asap"}, 400, "priority must be one of none, low, medium"),
            (url, {}, 400, "nothing to change"),
            (url, {"colour": "red"}, 400, "unknown field colour"),
            (url, {"assignee": "bob"}, 400, "assignee must be"),
            (url, {"assignee": {}}, 400, "assignee must be"),
            (url, {"assignee": {"user": ""}}, 400, "assignee must be"),
            (url, {"assignee": {"user": "me", "boss": "x"}}, 400, "unknown field assignee.boss"),
            (url, {"assignee": {"user": "us_ghost"}}, 404, "us_ghost"),
            (url, {"assignee": {"team": "tm_ghost"}}, 404, "tm_ghost"),
            (url, {"status": "resolved", "assignee": {"user": "us_ghost"}}, 404, "us_ghost"),
            (url, {"tags_add": [""]}, 400, "tags_add"),
            (url, {"tags_add": ["x" * 65]}, 400, "1 to 64 characters"),
            (url, {"tags_add": [7]}, 400, "tags_add must be a list of strings"),
            (url, {"tags_add": ["a"], "tags_remove": ["A"]}, 400, "both name a"),
            (url, {"properties": {"a": {"nested": 1}}}, 400, "properties.a must be"),
            (url, {"properties": []}, 400, "properties must be an object"),
            (url, {"properties": {"score": float("nan")}}, 400, "finite number"),
            (url, {"properties": {"a": "\udfff"}}, 400, "valid Unicode"),
            (url, {"tags_add": ["\ud800"]}, 400, "valid Unicode"),
            ("/api/v1/conversations/cv_ghost", {"status": "open"}, 404, "cv_ghost"),
        ]
        async with client:
            before = await snapshot(seed)
            for target, body, status, says in refusals:
                response = await send_json(client, "PATCH", target, body)
                assert response.status_code == status, (body, response.text)
                assert says in response.json()["error"]["message"], (body, response.text)
            assert await snapshot(seed) == before
