"""Tests for actors.records, actors.history and actors.conversation_update: seq assignment,
idempotent sends, read marks, history reads, updates, search."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import conversation_update, directory, history, records
from actors.records import ConversationChanges, NewMessage, NotFound, StoredMessage
from actors.search_indexer import catch_up
from actors.store import Store, Tx
from protocol.frames import Participant
from tests.actors.conftest import (
    CONTACT,
    STAFF,
    TEST_TIMEOUT,
    WriterGate,
    message,
    new_conversation,
    new_user,
)


async def insert(store: Store, msg: NewMessage) -> StoredMessage:
    return await store.write(functools.partial(records.insert_message, msg=msg))


async def state(store: Store, conversation: str) -> dict[str, Any]:
    (found,) = await store.read(functools.partial(history.conversation_states, ids=[conversation]))
    return found


async def count(store: Store, sql: str, *params: object) -> int:
    def run(conn: sqlite3.Connection) -> int:
        return int(conn.execute(sql, params).fetchone()[0])

    return await store.read(run)


async def update(
    store: Store, conversation: str, by: Participant = STAFF, **changes: Any
) -> tuple[dict[str, Any], list[StoredMessage]]:
    return await store.write(
        functools.partial(
            conversation_update.update_conversation,
            conversation=conversation,
            changes=ConversationChanges(**changes),
            by=by,
        )
    )


@pytest.fixture
async def conv(store: Store) -> str:
    return await new_conversation(store)


async def test_seq_increments_per_conversation_without_gaps(store: Store, conv: str) -> None:
    other = await new_conversation(store, "Bob")
    seqs: dict[str, list[int]] = {conv: [], other: []}
    for i in range(5):
        for target in (conv, other)[: 1 + i % 2]:
            stored = await insert(store, message(target, f"m{i}"))
            seqs[target].append(stored.seq)
    assert seqs == {conv: [1, 2, 3, 4, 5], other: [1, 2]}
    assert (await state(store, conv))["last_seq"] == 5
    replayed = await store.read(
        functools.partial(
            history.messages_after, conversation=conv, after_seq=0, upto_seq=99, include_notes=True
        )
    )
    assert [(m.seq, m.body) for m in replayed] == [(i + 1, f"m{i}") for i in range(5)]


async def test_message_to_a_missing_conversation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="cv_nope"):
        await insert(store, message("cv_nope", "hello"))
    assert await count(store, "SELECT COUNT(*) FROM messages") == 0
    assert await count(store, "SELECT COUNT(*) FROM events WHERE type = 'message.posted'") == 0


async def test_duplicate_client_msg_id_returns_the_same_seq(store: Store, conv: str) -> None:
    first = await insert(store, message(conv, "hello", client_msg_id="c1"))
    again = await insert(store, message(conv, "hello (resent)", client_msg_id="c1"))
    assert (first.seq, first.duplicate) == (1, False)
    assert (again.seq, again.duplicate) == (1, True)
    assert again.body == "hello"  # the stored message, not the resend
    assert again.ts == first.ts
    assert await count(store, "SELECT COUNT(*) FROM messages") == 1
    assert await count(store, "SELECT COUNT(*) FROM events WHERE type = 'message.posted'") == 1
    following = await insert(store, message(conv, "next", client_msg_id="c2"))
    assert following.seq == 2  # the duplicate consumed no seq


async def test_duplicates_in_one_batch_share_one_seq(store: Store, conv: str) -> None:
    results: list[StoredMessage] = []

    async def send(body: str) -> None:
        results.append(await insert(store, message(conv, body, client_msg_id="same")))

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            async with WriterGate(store):
                nursery.start_soon(send, "one")
                nursery.start_soon(send, "two")
                await trio.testing.wait_all_tasks_blocked()
                assert store.statistics().queued == 2
    assert sorted((m.seq, m.duplicate) for m in results) == [(1, False), (1, True)]
    assert await count(store, "SELECT COUNT(*) FROM messages") == 1


async def test_same_client_msg_id_from_another_author_is_another_message(
    store: Store, conv: str
) -> None:
    mine = await insert(store, message(conv, "from staff", client_msg_id="c1"))
    theirs = await insert(store, message(conv, "from contact", author=CONTACT, client_msg_id="c1"))
    assert (mine.seq, theirs.seq) == (1, 2)
    assert not theirs.duplicate


async def test_notes_are_left_out_for_contacts(store: Store, conv: str) -> None:
    await insert(store, message(conv, "visible", author=CONTACT))
    await insert(store, message(conv, "internal", kind="note"))
    await insert(store, message(conv, "resolved", kind="event"))
    await insert(store, message(conv, "answer"))

    async def kinds(reader: Any, **kwargs: Any) -> list[tuple[int, str]]:
        found = await store.read(functools.partial(reader, conversation=conv, **kwargs))
        return [(m.seq, m.kind) for m in found]

    after = history.messages_after
    assert await kinds(after, after_seq=0, upto_seq=4, include_notes=False) == [
        (1, "message"),
        (3, "event"),
        (4, "message"),
    ]
    assert await kinds(after, after_seq=1, upto_seq=3, include_notes=True) == [
        (2, "note"),
        (3, "event"),
    ]
    before = history.messages_before
    assert await kinds(before, before_seq=4, include_notes=False, limit=10) == [
        (1, "message"),
        (3, "event"),
    ]
    assert await kinds(before, before_seq=None, include_notes=True, limit=2) == [
        (3, "event"),
        (4, "message"),
    ]
    # The inbox preview shows messages only, never a note.
    assert (await state(store, conv))["preview"] == "answer"


async def test_mark_read_moves_forward_only_and_caps_at_last_seq(store: Store, conv: str) -> None:
    for body in ("a", "b", "c"):
        await insert(store, message(conv, body))

    async def read_to(seq: int, reader: Participant = CONTACT) -> int | None:
        return await store.write(
            functools.partial(records.mark_read, conversation=conv, reader=reader, seq=seq)
        )

    assert await read_to(2) == 2
    assert await read_to(1) is None  # never backwards
    assert await read_to(2) is None  # unchanged
    assert await read_to(99) == 3  # capped at the last seq
    assert await read_to(100) is None
    assert await read_to(1, reader=STAFF) == 1  # marks are per reader
    assert await count(store, "SELECT seq FROM read_marks WHERE reader_id = ?", CONTACT.id) == 3
    assert await count(store, "SELECT COUNT(*) FROM events WHERE type = 'message.read'") == 3
    with pytest.raises(NotFound):
        await store.write(
            functools.partial(records.mark_read, conversation="cv_nope", reader=CONTACT, seq=1)
        )


async def test_update_changes_each_field_and_records_an_event(store: Store, conv: str) -> None:
    user = await new_user(store, "kim@example.com")
    team = await store.write(functools.partial(directory.create_team, name="Sales", members=[]))

    new, events = await update(store, conv, status="pending")
    assert new["status"] == "pending"
    [event] = events
    assert (event.seq, event.kind, event.author) == (1, "event", STAFF)
    assert event.body == "status: open → pending"
    assert not event.internal  # the contact sees status changes
    assert event.data == {
        "event": "conversation_updated",
        "changes": {"status": ["open", "pending"]},
    }

    new, event = await update(store, conv, priority="urgent")
    assert (new["priority"], new["last_seq"]) == ("urgent", 2)

    new, _ = await update(store, conv, assignee_user=user)
    assert new["assignee"] == {"user": user, "team": None}
    new, _ = await update(store, conv, assignee_team=team["id"])
    assert new["assignee"] == {"user": user, "team": team["id"]}
    new, _ = await update(store, conv, clear_assignee=True)
    assert new["assignee"] == {"user": None, "team": None}

    new, events = await update(store, conv, tags_add=("vip", "billing"))
    assert new["tags"] == ["billing", "vip"]
    [event] = events
    assert event.body == "tagged billing, vip"
    assert event.internal  # tags are staff business
    new, _ = await update(store, conv, tags_remove=("vip",))
    assert new["tags"] == ["billing"]

    new, _ = await update(store, conv, properties={"language": "de", "country": "AT"})
    assert new["properties"] == {"country": "AT", "language": "de"}
    new, _ = await update(store, conv, properties={"country": None})
    assert new["properties"] == {"language": "de"}

    assert new["last_seq"] == 9  # one event message per effective update
    updates = "SELECT COUNT(*) FROM events WHERE type = 'conversation.updated'"
    assert await count(store, updates) == 9


async def test_mixed_update_splits_public_and_internal_events(store: Store, conv: str) -> None:
    new, events = await update(store, conv, status="resolved", tags_add=("refund",))
    assert new["status"] == "resolved"
    assert [(e.internal, e.data["changes"] if e.data else None) for e in events] == [
        (False, {"status": ["open", "resolved"]}),
        (True, {"tags": [[], ["refund"]]}),
    ]
    run = functools.partial(
        history.messages_after, conversation=conv, after_seq=0, upto_seq=99, include_notes=False
    )
    contact_view = await store.read(run)
    assert [m.body for m in contact_view] == ["status: open → resolved"]


async def test_a_recipe_cause_is_recorded_in_the_event_and_the_history(
    store: Store, conv: str
) -> None:
    cause = {"recipe": "rc_1", "version": 2, "run": "rr_1", "depth": 1, "chain": ["rc_1"]}
    _, events = await update(store, conv, status="resolved", cause=cause)
    assert [e.data["cause"] if e.data else None for e in events] == [cause]

    def last_payload(conn: sqlite3.Connection) -> str:
        return str(
            conn.execute(
                "SELECT payload FROM events WHERE type = 'conversation.updated' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()[0]
        )

    assert '"cause":{"recipe":"rc_1"' in await store.read(last_payload)
    _, events = await update(store, conv, status="open")  # a person: no cause recorded
    assert events[0].data is not None
    assert "cause" not in events[0].data
    assert '"cause"' not in await store.read(last_payload)


async def test_timestamps_come_from_the_store_clock(nursery: trio.Nursery, tmp_path: Path) -> None:
    clocked: Store = await nursery.start(
        Store(tmp_path / "clock.db", synchronous="NORMAL", clock=lambda: 1_234_567).run
    )
    conv = await new_conversation(clocked)
    stored = await insert(clocked, message(conv, "hi", author=CONTACT))
    assert stored.ts == 1_234_567


async def test_update_that_changes_nothing_writes_nothing(store: Store, conv: str) -> None:
    await update(store, conv, tags_add=("vip",), properties={"language": "de"})
    before = await state(store, conv)
    events = await count(store, "SELECT COUNT(*) FROM events")
    same, written = await update(
        store,
        conv,
        status="open",
        priority="none",
        tags_add=("vip",),
        tags_remove=("absent",),
        properties={"language": "de", "missing": None},
    )
    assert written == []
    assert same == before
    assert await state(store, conv) == before  # updated_at and last_seq unchanged too
    assert await count(store, "SELECT COUNT(*) FROM events") == events


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"status": "closed"}, ValueError, "status must be one of"),
        ({"status": "resolved", "priority": "meh"}, ValueError, "priority must be one of"),
        ({"tags_add": ("x",), "assignee_user": "us_nobody"}, NotFound, "user us_nobody"),
        ({"priority": "high", "assignee_team": "tm_nobody"}, NotFound, "team tm_nobody"),
    ],
)
async def test_bad_update_raises_and_changes_nothing(
    store: Store, conv: str, changes: dict[str, Any], error: type[Exception], match: str
) -> None:
    before = await state(store, conv)
    events = await count(store, "SELECT COUNT(*) FROM events")
    with pytest.raises(error, match=match):
        await update(store, conv, **changes)
    assert await state(store, conv) == before
    assert await count(store, "SELECT COUNT(*) FROM events") == events


async def test_update_of_a_missing_conversation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="cv_nope"):
        await update(store, "cv_nope", status="resolved")


async def test_full_text_search_finds_message_bodies(store: Store, conv: str) -> None:
    await insert(store, message(conv, "Where is my invoice?", author=CONTACT))
    await insert(store, message(conv, "The webinar starts at noon"))
    await insert(store, message(conv, "Invoices are sent monthly", kind="note"))

    def search(conn: sqlite3.Connection, term: str) -> list[int]:
        rows = conn.execute(
            "SELECT m.seq FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "WHERE messages_fts MATCH ? ORDER BY m.seq",
            (term,),
        ).fetchall()
        return [row[0] for row in rows]

    # Indexed after the commit, in batches: nothing is found until the indexer ran.
    assert await store.read(functools.partial(search, term="invoice")) == []
    await catch_up(store)
    assert await store.read(functools.partial(search, term="invoice")) == [1]
    assert await store.read(functools.partial(search, term="invoice*")) == [1, 3]
    assert await store.read(functools.partial(search, term="webinar")) == [2]
    assert await store.read(functools.partial(search, term="absent")) == []


async def test_conversation_states_keep_the_order_asked_and_skip_missing(store: Store) -> None:
    first = await new_conversation(store, "Ann")
    second = await new_conversation(store, "Bob")

    def states(conn: sqlite3.Connection | Tx) -> list[str]:
        found = history.conversation_states(conn, [second, "cv_missing", first, second])
        return [s["contact"]["name"] for s in found]

    assert await store.read(states) == ["Bob", "Ann"]


async def test_resends_are_recognised_per_writer_not_per_displayed_author(
    store: Store, conv: str
) -> None:
    """Two staff replies shown as the webinar's primary moderator stay two messages."""
    primary = Participant(kind="staff", id="us_primary", name="Mia")
    sam = Participant(kind="staff", id="us_sam", name="Sam")
    olga = Participant(kind="staff", id="us_olga", name="Olga")

    def reply(sender: Participant, body: str) -> NewMessage:
        return NewMessage(
            conversation=conv,
            author=primary,
            sender=sender,
            kind="message",
            body=body,
            client_msg_id="1",
        )

    first = await insert(store, reply(sam, "from Sam"))
    second = await insert(store, reply(olga, "from Olga"))
    again = await insert(store, reply(sam, "from Sam, resent"))
    assert (first.seq, first.duplicate, second.seq, second.duplicate) == (1, False, 2, False)
    assert (again.seq, again.duplicate, again.body, again.author) == (1, True, "from Sam", primary)
