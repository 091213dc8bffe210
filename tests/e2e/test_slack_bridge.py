"""The Slack bridge end to end: a real server, the Slack emulator and the SMTP sink.

Attendee threads (parent message with the five facts, first-message mode), replies both
ways with the right moderator, internal notes, Slack edits and deletes, mail to offline
attendees, interactions from the host application.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.consumer import get_cursor
from protocol.frames import HistoryEnd, Join, MessageFrame, Send
from tests.e2e.slack_env import Env, next_message
from tests.helpers import connect

#: Real-time bound of one test (the Slack calls run in worker threads on the real clock).
TIMEOUT = 60


@pytest.fixture
async def env(nursery: trio.Nursery, tmp_path: Path) -> Env:
    with trio.fail_after(TIMEOUT):
        e = Env(nursery, tmp_path)
        await e.start_tools()
        await e.start_server()
        await e.seed_people()
    return e


async def _join(client: Any, conversation: str) -> None:
    await client.send(Join(conversation=conversation))
    await client.until(lambda f: isinstance(f, HistoryEnd))


async def test_join_posts_a_parent_message_with_all_five_facts(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee("Ann Example", "ann@example.com")
        parent = await env.parent_of("Ann Example")
    assert "ann@example.com" in parent.text
    assert "Launch Day" in parent.text
    assert "session type: live" in parent.text
    assert "session start: 2025-03-01 14:00 UTC" in parent.text
    assert "joined: " in parent.text
    fields = [f["text"] for f in parent.blocks[1]["fields"]]
    assert fields[0] == "*Attendee*\nAnn Example"
    assert fields[1] == "*Email*\nann@example.com"
    assert fields[2] == "*Webinar*\nLaunch Day"
    assert fields[3] == "*Session type*\nlive"
    assert fields[4].startswith("*Session start*\n<!date^1740837600^")
    assert fields[5].startswith("*Joined*\n<!date^")
    button = parent.blocks[3]["elements"][0]
    assert button["text"]["text"] == "Reply in chat"
    assert button["url"].endswith(f"/console/conversations/{att['conversation']}")
    assert env.running is not None
    assert button["url"].startswith(env.running.url)


async def test_first_message_mode_posts_only_when_the_attendee_writes(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        env = Env(nursery, tmp_path)
        await env.start_tools()
        await env.start_server(slack_first_message_only=True)
        await env.seed_people()
        await env.attendee("Quiet Quinn", "quinn@example.com")
        chatty = await env.attendee("Chatty Cleo", "cleo@example.com")
        async with connect(env.seed.ws_url, chatty["token"]) as cleo:
            await cleo.send(
                Send(conversation=chatty["conversation"], client_msg_id="c1", body="Hi there")
            )
            parent = await env.parent_of("Chatty Cleo")
            texts = await env.thread_texts(parent.ts, 1)
    # Quinn joined first and never wrote: had the join been posted, it would come first.
    assert [m.ts for m in env.top()] == [parent.ts]
    assert "started chatting in Launch Day" in parent.text
    assert texts == ["*Chatty Cleo*: Hi there"]


async def test_replies_both_ways_reach_the_attendee_from_the_primary_moderator(
    env: Env,
) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        async with connect(env.seed.ws_url, att["token"]) as ann:
            await _join(ann, conv)
            await ann.send(Send(conversation=conv, client_msg_id="a1", body="Is it <recorded>?"))
            assert await env.thread_texts(parent.ts, 1) == ["*Ann*: Is it &lt;recorded&gt;?"]
            env.slack.post_as_user("sam", env.channel, "Yes & soon", thread_ts=parent.ts)
            own = await next_message(ann)  # the attendee's own message comes back first
            assert own.body == "Is it <recorded>?"
            reply = await next_message(ann)
    assert reply.body == "Yes & soon"
    assert reply.kind == "message"
    assert (reply.author.kind, reply.author.id) == ("staff", env.users["mia"]["id"])
    # The human's reply is not mirrored back into the thread by the bot.
    texts = [m.text for m in env.thread(parent.ts)]
    assert texts == ["*Ann*: Is it &lt;recorded&gt;?", "Yes & soon"]


async def _reply_author(env: Env, conv: str, parent_ts: str, who: str, text: str) -> str:
    """Post ``text`` as Slack user ``who`` and return the author id the attendee sees."""
    seen = len(env.thread(parent_ts))
    env.slack.post_as_user(who, env.channel, text, thread_ts=parent_ts)
    await env.until(lambda: len(env.thread(parent_ts)) > seen)

    def find(conn: sqlite3.Connection) -> str | None:
        row = conn.execute(
            "SELECT author_id FROM messages WHERE conversation_id = ? AND body = ?", (conv, text)
        ).fetchone()
        return None if row is None else str(row[0])

    # Each read is a round trip through a worker thread: a poll that never spins.
    while (author := await env.seed.store.read(find)) is None:
        pass
    return author


async def test_attribution_modes_and_a_non_moderator(env: Env) -> None:
    ids = {name: user["id"] for name, user in env.users.items()}
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        # Default (primary): a moderator's reply appears from the primary moderator.
        assert await _reply_author(env, conv, parent.ts, "sam", "from sam 1") == ids["mia"]
        async with env.seed.http(env.admin_token) as http:
            answer = await http.put(
                f"/api/v1/contexts/{env.context['id']}/reply-as", json={"reply_as": "actual"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["effective"] == "actual"
        assert await _reply_author(env, conv, parent.ts, "sam", "from sam 2") == ids["sam"]
        # Not a moderator of this webinar: always the primary moderator.
        assert await _reply_author(env, conv, parent.ts, "olga", "from olga") == ids["mia"]


async def test_note_prefix_makes_an_internal_note(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        _, staff_token = await env.seed.staff_token("watcher@example.com")
        async with (
            connect(env.seed.ws_url, att["token"]) as ann,
            connect(env.seed.ws_url, staff_token) as staff,
        ):
            await _join(ann, conv)
            await _join(staff, conv)
            env.slack.post_as_user("mia", env.channel, "Note: refund her", thread_ts=parent.ts)
            note = await next_message(staff)
            env.slack.post_as_user("mia", env.channel, "Hello Ann", thread_ts=parent.ts)
            public = await next_message(ann)
            staff_next = await next_message(staff)
    assert (note.kind, note.body) == ("note", "refund her")
    assert (note.author.kind, note.author.id) == ("staff", env.users["mia"]["id"])
    assert public.body == "Hello Ann"  # the note never reached the attendee
    assert public.seq == note.seq + 1
    assert staff_next.seq == public.seq


async def test_slack_edit_and_delete_reach_the_attendee(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        async with connect(env.seed.ws_url, att["token"]) as ann:
            await _join(ann, conv)
            posted = env.slack.post_as_user("mia", env.channel, "See you at 3", thread_ts=parent.ts)
            first = await next_message(ann)
            env.slack.edit_as_user(env.channel, posted.ts, "See you at 4")
            edited = await next_message(ann)
            env.slack.delete_as_user(env.channel, posted.ts)
            deleted = await next_message(ann)
        async with connect(env.seed.ws_url, att["token"]) as again:
            await again.send(Join(conversation=conv))
            _, history = await again.until(lambda f: isinstance(f, HistoryEnd))
    assert (first.body, first.edited_at, first.deleted) == ("See you at 3", None, False)
    assert (edited.seq, edited.body, edited.deleted) == (first.seq, "See you at 4", False)
    assert edited.edited_at is not None
    assert (deleted.seq, deleted.body, deleted.deleted) == (first.seq, "", True)
    assert [f.seq for f in history if isinstance(f, MessageFrame)] == []


async def test_offline_attendee_gets_the_reply_by_email_and_the_thread_shows_it(
    env: Env,
) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee("Ann", "ann@example.com")
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        posted = env.slack.post_as_user(
            "mia", env.channel, "We sent the slides", thread_ts=parent.ts
        )
        (mail,) = await env.sink.wait_for(1)
        await env.until(lambda: "email" in env.slack.message(env.channel, posted.ts).reactions)

        def emailed(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT seq, emailed_at IS NOT NULL FROM messages WHERE conversation_id = ? "
                "AND body = 'We sent the slides'",
                (conv,),
            ).fetchall()

        rows = await env.seed.store.read(emailed)
    assert mail.rcpt_to == ("ann@example.com",)
    assert mail.mail_from == "chat@example.com"
    assert "Mia replied" in mail.subject
    assert "We sent the slides" in mail.message.get_content()
    assert mail.message["Message-ID"] == f"<{conv}.{rows[0][0]}@switchboard>"
    assert rows == [(rows[0][0], 1)]


async def wait_for_cursor(env: Env, name: str) -> None:
    """Wait until consumer ``name`` has handled every event stored so far."""
    store = env.seed.store
    target = store.last_event_id
    while (await store.read(functools.partial(get_cursor, name=name)) or 0) < target:
        pass  # each read is a round trip through a worker thread


async def test_online_attendee_gets_no_email(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee("Ann", "ann@example.com")
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        async with connect(env.seed.ws_url, att["token"]) as ann:
            await _join(ann, conv)
            env.slack.post_as_user("mia", env.channel, "online reply", thread_ts=parent.ts)
            await next_message(ann)
            # Presence is checked when the mailer handles the reply (just after it is
            # stored): stay until it has.
            await wait_for_cursor(env, "mailer")
        # Then the attendee leaves; the next reply goes by mail, and only that one.
        env.slack.post_as_user("mia", env.channel, "offline reply", thread_ts=parent.ts)
        (mail,) = await env.sink.wait_for(1)
    assert "offline reply" in mail.message.get_content()
    assert len(env.sink.messages) == 1


async def test_interactions_from_the_host_app_are_mirrored_in_order(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        async with env.seed.http(env.admin_token) as http:
            body = {"kind": "poll", "title": "Best day?", "answer": "Friday", "client_msg_id": "p1"}
            first = await http.post(f"/api/v1/conversations/{conv}/interactions", json=body)
            again = await http.post(f"/api/v1/conversations/{conv}/interactions", json=body)
            question = await http.post(
                f"/api/v1/conversations/{conv}/interactions",
                json={"kind": "question", "answer": "Will there be a recording?"},
            )
        texts = await env.thread_texts(parent.ts, 2)

        def recorded(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT payload FROM events WHERE type = 'interaction.recorded' ORDER BY id"
            ).fetchall()
            return [r[0] for r in rows]

        events = await env.seed.store.read(recorded)
    assert (first.status_code, again.status_code, question.status_code) == (201, 200, 201)
    assert first.json()["seq"] == again.json()["seq"]
    assert first.json()["data"]["event"] == "interaction"
    assert texts == [
        ":bar_chart: *Ann* answered the poll “Best day?”: Friday",
        ":bar_chart: *Ann* answered the question: Will there be a recording?",
    ]
    assert len(events) == 2


async def test_status_change_updates_the_parent_in_place(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        parent = await env.parent_of("Ann")
        async with env.seed.http(env.admin_token) as http:
            answer = await http.patch(
                f"/api/v1/conversations/{att['conversation']}",
                json={"status": "resolved", "assignee": {"user": env.users["sam"]["id"]}},
            )
            assert answer.status_code == 200, answer.text
        await env.until(lambda: env.slack.message(env.channel, parent.ts).text.startswith("✅"))
        updated = env.slack.message(env.channel, parent.ts)
    assert "status: resolved" in updated.text
    assert "assignee: Sam" in updated.text
    assert updated.blocks[0]["text"]["text"].startswith("✅ Resolved: Ann")
    assert len(env.top()) == 1


async def test_console_replies_and_notes_are_mirrored_with_the_authors_name(env: Env) -> None:
    with trio.fail_after(TIMEOUT):
        att = await env.attendee()
        conv = att["conversation"]
        parent = await env.parent_of("Ann")
        async with env.seed.http(env.admin_token) as http:
            for body, kind in (("We start in 5 minutes", "message"), ("she is a VIP", "note")):
                answer = await http.post(
                    f"/api/v1/conversations/{conv}/messages", json={"body": body, "kind": kind}
                )
                assert answer.status_code == 201, answer.text
        texts = await env.thread_texts(parent.ts, 2)
    # Olga is no moderator of the webinar: her reply appears from the primary moderator
    # (console attribution, as for Slack replies); the note keeps its real writer.
    assert texts == [
        "*Mia* (from Switchboard): We start in 5 minutes",
        ":memo: *Internal note by Olga:* she is a VIP",
    ]
