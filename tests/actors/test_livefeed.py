"""Tests for actors.livefeed: inbox frames pushed to watching staff outboxes."""

from __future__ import annotations

import trio

from actors import contexts, records
from actors.outbox import Outbox
from actors.records import ConversationChanges
from actors.store import Tx
from actors.system import System
from protocol.frames import ConversationFrame
from tests.actors.conftest import STAFF, TEST_TIMEOUT, drain, message, new_conversation


async def next_frame(outbox: Outbox) -> ConversationFrame:
    frame = (await outbox.receive.receive()).frame
    assert isinstance(frame, ConversationFrame), frame
    return frame


async def test_watchers_get_created_and_message_frames_with_the_state(system: System) -> None:
    watching, unwatched, left = Outbox(64), Outbox(64), Outbox(64)
    system.livefeed.watch(watching)
    system.livefeed.watch(left)
    system.livefeed.unwatch(left)
    assert system.livefeed.watcher_count == 1
    with trio.fail_after(TEST_TIMEOUT):
        conv = await new_conversation(system.store, "Ann")
        created = await next_frame(watching)
        assert (created.conversation, created.event) == (conv, "created")
        assert created.state["id"] == conv
        assert created.state["contact"]["name"] == "Ann"
        assert (created.state["status"], created.state["last_seq"]) == ("open", 0)

        await system.post(message(conv, "hello there"))
        posted = await next_frame(watching)
        assert (posted.conversation, posted.event) == (conv, "message")
        assert (posted.state["last_seq"], posted.state["preview"]) == (1, "hello there")
    assert drain(unwatched) == []
    assert drain(left) == []


async def test_watchers_get_updated_frames(system: System) -> None:
    watching = Outbox(64)
    system.livefeed.watch(watching)
    with trio.fail_after(TEST_TIMEOUT):
        conv = await new_conversation(system.store)
        await next_frame(watching)
        await system.update(conv, ConversationChanges(status="resolved", tags_add=("vip",)), STAFF)
        updated = await next_frame(watching)
        assert (updated.state["status"], updated.state["tags"]) == ("resolved", ["vip"])
        assert updated.event == "updated"


async def test_one_frame_per_conversation_per_batch_and_created_wins(system: System) -> None:
    watching = Outbox(64)
    system.livefeed.watch(watching)
    with trio.fail_after(TEST_TIMEOUT):
        conv = await new_conversation(system.store)
        await next_frame(watching)

        def three_messages(tx: Tx) -> None:  # one transaction, so one consumer batch
            for i in range(3):
                records.insert_message(tx, message(conv, f"m{i}"))

        await system.store.write(three_messages)
        frame = await next_frame(watching)
        assert frame.event == "message"
        assert (frame.state["last_seq"], frame.state["preview"]) == (3, "m2")

        def create_and_post(tx: Tx) -> str:
            created = contexts.create_conversation(tx, None, None, "api")
            records.insert_message(tx, message(created, "first words"))
            return created

        other = await system.store.write(create_and_post)
        frame = await next_frame(watching)
        assert (frame.conversation, frame.event) == (other, "created")  # not "message"
        assert frame.state["last_seq"] == 1
    assert drain(watching) == []
