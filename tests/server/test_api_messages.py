"""Messages over REST: paging the history, staff replies and notes, and their delivery."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from protocol.frames import ConversationFrame, HistoryEnd, Join, MessageFrame, Read, Receipt
from tests.helpers import Client, Seed, connect
from tests.server.test_api_support import (  # noqa: F401 - settings is a fixture
    count,
    error_code,
    send_json,
    settings,
    snapshot,
    staff,
)


async def _page(client: httpx.AsyncClient, conv: str, query: str) -> tuple[list[int], bool]:
    response = await client.get(f"/api/v1/conversations/{conv}/messages?{query}")
    assert response.status_code == 200, (query, response.text)
    body = response.json()
    return [m["seq"] for m in body["items"]], body["has_more"]


async def test_history_pages_after_and_before(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed)
        context = await seed.context()
        conv = (await seed.attendee(context["id"]))["conversation"]
        url = f"/api/v1/conversations/{conv}/messages"
        async with client:
            for n in range(1, 8):
                kind = "note" if n == 4 else "message"
                r = await client.post(url, json={"body": f"m{n}", "kind": kind})
                assert r.status_code == 201, r.text
                assert r.json()["seq"] == n

            assert await _page(client, conv, "") == ([1, 2, 3, 4, 5, 6, 7], False)
            assert await _page(client, conv, "limit=2") == ([6, 7], True)
            assert await _page(client, conv, "after_seq=0&limit=3") == ([1, 2, 3], True)
            assert await _page(client, conv, "after_seq=3&limit=4") == ([4, 5, 6, 7], False)
            assert await _page(client, conv, "after_seq=6") == ([7], False)
            assert await _page(client, conv, "after_seq=7") == ([], False)
            assert await _page(client, conv, "before_seq=5&limit=2") == ([3, 4], True)
            assert await _page(client, conv, "before_seq=3&limit=5") == ([1, 2], False)
            assert await _page(client, conv, "before_seq=1") == ([], False)

            items = (await client.get(url)).json()["items"]
            assert items[3]["kind"] == "note"
            assert items[3]["body"] == "m4"
            assert items[0]["author"]["kind"] == "staff"

            for query, says in (
                ("after_seq=1&before_seq=5", "not both"),
                ("after_seq=-1", "after_seq must be between"),
                ("before_seq=0", "before_seq must be between"),
                ("limit=0", "limit must be between 1 and 500"),
                ("limit=501", "limit must be between 1 and 500"),
            ):
                r = await client.get(f"{url}?{query}")
                assert r.status_code == 400, query
                assert says in r.json()["error"]["message"]
            missing = await client.get("/api/v1/conversations/cv_ghost/messages")
            assert missing.status_code == 404


async def test_reply_note_and_idempotency(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        agent, client = await staff(seed)
        context = await seed.context()
        conv = (await seed.attendee(context["id"]))["conversation"]
        url = f"/api/v1/conversations/{conv}/messages"
        async with client:
            first = await client.post(url, json={"body": "Hello!", "client_msg_id": "c-1"})
            assert first.status_code == 201, first.text
            message = first.json()
            assert message["seq"] == 1
            assert message["kind"] == "message"
            assert message["author"] == {"kind": "staff", "id": agent["id"], "name": "agent"}
            assert message["client_msg_id"] == "c-1"

            again = await client.post(url, json={"body": "Hello!!", "client_msg_id": "c-1"})
            assert again.status_code == 200
            assert again.json() == message
            assert await count(seed, "SELECT COUNT(*) FROM messages") == 1

            note = await client.post(
                url, json={"body": "VIP, be nice", "kind": "note", "in_reply_to": 1}
            )
            assert note.status_code == 201
            assert note.json()["kind"] == "note"
            assert note.json()["in_reply_to"] == 1
            state = (await client.get(f"/api/v1/conversations/{conv}")).json()
            assert state["last_seq"] == 2
            assert state["preview"] == "Hello!"  # notes never become the inbox preview
            assert state["last_staff_at"] is not None

            largest = "é" * (16384 // 2)
            fits = await client.post(url, json={"body": largest})
            assert fits.status_code == 201

            refusals: list[tuple[str, Any, int, str, str]] = [
                (url, {"body": largest + "x"}, 400, "body_too_large", "16384"),
                (url, {"body": ""}, 400, "missing_field", "body must not be empty"),
                (url, {"body": " \n "}, 400, "missing_field", "body must not be empty"),
                (url, {"body": "a\ud800"}, 400, "bad_field", "valid Unicode"),
                (url, {}, 400, "missing_field", "body is required"),
                (url, {"body": "x", "kind": "event"}, 400, "bad_field", "kind must be one of"),
                (url, {"body": "x", "in_reply_to": 99}, 400, "bad_field", "in_reply_to"),
                (url, {"body": "x", "in_reply_to": "1"}, 400, "bad_field", "in_reply_to"),
                (url, {"body": "x", "client_msg_id": "x" * 65}, 400, "bad_field", "client_msg_id"),
                (url, {"body": "x", "attachments": []}, 400, "bad_field", "unknown field"),
                (
                    "/api/v1/conversations/cv_ghost/messages",
                    {"body": "x"},
                    404,
                    "not_found",
                    "cv_ghost",
                ),
            ]
            before = await snapshot(seed)
            for target, body, status, code, says in refusals:
                response = await send_json(client, "POST", target, body)
                assert response.status_code == status, (body, response.text)
                assert error_code(response) == code, body
                assert says in response.json()["error"]["message"], body
            assert await snapshot(seed) == before


async def _join(client: Client, conversation: str) -> None:
    await client.send(Join(conversation=conversation, after_seq=0))
    await client.until(lambda f: isinstance(f, HistoryEnd))


async def _next_message(client: Client) -> MessageFrame:
    frame, _ = await client.until(lambda f: isinstance(f, MessageFrame))
    assert isinstance(frame, MessageFrame)
    return frame


async def test_rest_reply_reaches_websockets_and_notes_stay_internal(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        agent, token = await seed.staff_token()
        context = await seed.context()
        attendee = await seed.attendee(context["id"])
        conv = attendee["conversation"]
        url = f"/api/v1/conversations/{conv}/messages"
        async with (
            seed.http(token) as client,
            connect(seed.ws_url, attendee["token"]) as widget,
            connect(seed.ws_url, token) as console,
        ):
            await _join(widget, conv)
            await _join(console, conv)

            reply = await client.post(url, json={"body": "How can I help?"})
            assert reply.status_code == 201
            for socket in (widget, console):
                frame = await _next_message(socket)
                assert frame.seq == 1
                assert frame.body == "How can I help?"
                assert frame.author.id == agent["id"]

            note = await client.post(url, json={"body": "internal only", "kind": "note"})
            assert note.status_code == 201
            staff_sees = await _next_message(console)
            assert (staff_sees.seq, staff_sees.kind) == (2, "note")

            status = await client.patch(
                f"/api/v1/conversations/{conv}", json={"status": "pending", "tags_add": ["x"]}
            )
            assert status.status_code == 200
            change, _ = await console.until(lambda f: isinstance(f, ConversationFrame))
            assert isinstance(change, ConversationFrame)
            assert change.state["tags"] == ["x"]
            event = await _next_message(widget)
            # The attendee's next message is the event (seq 3): the note (seq 2) never came.
            assert (event.seq, event.kind) == (3, "event")

            # A read mark from the widget shows in the conversation's detail.
            await widget.send(Read(conversation=conv, seq=3))
            await console.until(lambda f: isinstance(f, Receipt))
            detail = (await client.get(f"/api/v1/conversations/{conv}")).json()
            assert detail["read_marks"] == [
                {
                    "reader": {"kind": "contact", "id": attendee["contact"]["id"]},
                    "seq": 3,
                    "updated_at": detail["read_marks"][0]["updated_at"],
                }
            ]
