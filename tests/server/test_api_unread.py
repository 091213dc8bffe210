"""Per-viewer unread counts in the inbox API, from the read marks the websocket writes."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import trio

from actors import search
from protocol.frames import Ack, HistoryEnd, Join, Read, Receipt, Send
from tests.helpers import Seed, connect
from tests.server.test_api_support import settings  # noqa: F401 - settings is a fixture


async def counts(client: httpx.AsyncClient, conversation: str) -> dict[str, Any]:
    """The caller's (read_seq, unread) from the list and from the detail; both must agree."""
    listed = await client.get("/api/v1/conversations")
    assert listed.status_code == 200, listed.text
    (item,) = [c for c in listed.json()["items"] if c["id"] == conversation]
    detail = await client.get(f"/api/v1/conversations/{conversation}")
    assert detail.status_code == 200, detail.text
    pair = {"read_seq": item["read_seq"], "unread": item["unread"]}
    assert {"read_seq": detail.json()["read_seq"], "unread": detail.json()["unread"]} == pair
    return pair


async def post(client: httpx.AsyncClient, conversation: str, body: str, kind: str) -> int:
    answer = await client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"body": body, "kind": kind}
    )
    assert answer.status_code == 201, answer.text
    seq: int = answer.json()["seq"]
    return seq


async def test_unread_is_per_staff_user_and_follows_their_read_marks(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        alex, alex_token = await seed.staff_token("alex@example.com")
        _blair, blair_token = await seed.staff_token("blair@example.com")
        attendee = await seed.attendee((await seed.context())["id"], name="Nora")
        conv = attendee["conversation"]
        async with (
            seed.http(alex_token) as as_alex,
            seed.http(blair_token) as as_blair,
            connect(seed.ws_url, attendee["token"]) as nora,
        ):
            assert await counts(as_alex, conv) == {"read_seq": 0, "unread": 0}
            for n in (1, 2):
                await nora.send(Send(conversation=conv, client_msg_id=f"n{n}", body=f"q{n}"))
                await nora.until(lambda f: isinstance(f, Ack))
            # The attendee's messages are unread for every staff user.
            for client in (as_alex, as_blair):
                assert await counts(client, conv) == {"read_seq": 0, "unread": 2}

            # Alex reads over the websocket: his count drops to 0, Blair's stays.
            async with connect(seed.ws_url, alex_token) as console:
                await console.send(Join(conversation=conv))
                await console.until(lambda f: isinstance(f, HistoryEnd))
                await console.send(Read(conversation=conv, seq=2))
                receipt, _ = await console.until(lambda f: isinstance(f, Receipt))
                assert isinstance(receipt, Receipt)
                assert (receipt.reader.id, receipt.seq) == (alex["id"], 2)
            assert await counts(as_alex, conv) == {"read_seq": 2, "unread": 0}
            assert await counts(as_blair, conv) == {"read_seq": 0, "unread": 2}

            # Alex's own reply and note, Blair's note and a status change (an event row):
            # Alex has nothing new; Blair has Alex's reply, and no notes or events.
            assert await post(as_alex, conv, "Yes, it is recorded", "message") == 3
            await post(as_alex, conv, "told her about the recording", "note")
            await post(as_blair, conv, "VIP, be nice", "note")
            changed = await as_blair.patch(
                f"/api/v1/conversations/{conv}", json={"status": "pending"}
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["last_seq"] == 6
            assert await counts(as_alex, conv) == {"read_seq": 2, "unread": 0}
            assert await counts(as_blair, conv) == {"read_seq": 0, "unread": 3}

            # The attendee again: one more for both.
            await nora.send(Send(conversation=conv, client_msg_id="n3", body="thanks"))
            await nora.until(lambda f: isinstance(f, Ack))
            assert await counts(as_alex, conv) == {"read_seq": 2, "unread": 1}
            assert await counts(as_blair, conv) == {"read_seq": 0, "unread": 4}


async def test_every_item_of_a_page_has_the_callers_counts(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _agent, token = await seed.staff_token()
        context = (await seed.context())["id"]
        attendees = [await seed.attendee(context, name=f"A{n}") for n in range(3)]
        for n, attendee in enumerate(attendees):
            async with connect(seed.ws_url, attendee["token"]) as socket:
                for m in range(n):
                    await socket.send(
                        Send(
                            conversation=attendee["conversation"], client_msg_id=f"m{m}", body="hi"
                        )
                    )
                    await socket.until(lambda f: isinstance(f, Ack))
        async with seed.http(token) as client:
            page = (await client.get("/api/v1/conversations?limit=200")).json()["items"]
        assert {c["id"]: (c["read_seq"], c["unread"]) for c in page} == {
            a["conversation"]: (0, n) for n, a in enumerate(attendees)
        }


async def test_unread_query_counts_over_the_conversation_seq_index(seed: Seed) -> None:
    def plan(conn: sqlite3.Connection) -> list[str]:
        sql = search._UNREAD_SQL.format(marks="?,?")
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("u", "u", "c1", "c2")).fetchall()
        return [row[3] for row in rows]

    with trio.fail_after(30):
        steps = await seed.store.read(plan)
    assert any(
        "USING INDEX" in step and "(conversation_id=? AND seq>?)" in step for step in steps
    ), steps
    # Never a scan of the messages table.
    assert not any(step.startswith("SCAN m") for step in steps), steps
