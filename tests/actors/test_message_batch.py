"""The batched message write agrees with the one-by-one write, on random batches."""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import outcome
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import schema
from actors.message_batch import insert_messages
from actors.records import NewMessage, NotFound, insert_message
from actors.store import Store, Tx, connect
from protocol.frames import Participant

CONVERSATIONS = ["cv_a", "cv_b", "cv_c"]
AUTHORS = [
    Participant(kind="contact", id="ct_1", name="Ann"),
    Participant(kind="staff", id="us_1", name="Sam"),
    Participant(kind="bot", id="bt_1", name="Recipe"),
]

messages = st.builds(
    NewMessage,
    conversation=st.sampled_from([*CONVERSATIONS, "cv_missing"]),
    author=st.sampled_from(AUTHORS),
    kind=st.sampled_from(["message", "message", "note", "event"]),
    body=st.text(max_size=20),
    client_msg_id=st.one_of(st.none(), st.sampled_from(["m1", "m2", "m3", "m4"])),
    in_reply_to=st.one_of(st.none(), st.integers(1, 5)),
    data=st.one_of(st.none(), st.just({"event": "x"})),
    internal=st.booleans(),
    sender=st.one_of(st.none(), st.sampled_from(AUTHORS)),
)


def _database(path: Path) -> sqlite3.Connection:
    conn = connect(path, synchronous="NORMAL")
    schema.migrate(conn)
    for conversation in CONVERSATIONS:
        conn.execute(
            "INSERT INTO conversations (id, created_at, updated_at, last_activity_at) "
            "VALUES (?, 0, 0, 0)",
            (conversation,),
        )
    return conn


def _one_by_one(tx: Tx, batch: list[NewMessage]) -> list[outcome.Outcome[Any]]:
    results: list[outcome.Outcome[Any]] = []
    for msg in batch:
        tx.conn.execute("SAVEPOINT w")
        try:
            results.append(outcome.Value(insert_message(tx, msg)))
        except NotFound as exc:
            tx.conn.execute("ROLLBACK TO w")
            results.append(outcome.Error(exc))
        tx.conn.execute("RELEASE w")
    return results


def _comparable(result: outcome.Outcome[Any]) -> Any:
    if isinstance(result, outcome.Error):
        return ("error", type(result.error).__name__, str(result.error))
    return ("value", dataclasses.asdict(result.unwrap()))


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "messages": conn.execute(
            "SELECT conversation_id, seq, kind, author_kind, author_id, author_name, body, "
            "attachments, client_msg_id, in_reply_to, data, internal, sender_kind, sender_id, "
            "created_at "
            "FROM messages ORDER BY id"
        ).fetchall(),
        "conversations": conn.execute("SELECT * FROM conversations ORDER BY id").fetchall(),
        "events": conn.execute(
            "SELECT id, type, conversation_id, payload, ts FROM events ORDER BY id"
        ).fetchall(),
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(messages, min_size=1, max_size=12), min_size=1, max_size=4))
def test_batched_and_one_by_one_writes_agree(
    tmp_path_factory: Any, batches: list[list[NewMessage]]
) -> None:
    folder = tmp_path_factory.mktemp("batch")
    fast, slow = _database(folder / "fast.db"), _database(folder / "slow.db")
    try:
        for number, batch in enumerate(batches, start=1):
            tx_fast, tx_slow = Tx(fast, number * 1000), Tx(slow, number * 1000)
            for conn in (fast, slow):
                conn.execute("BEGIN")
            got = insert_messages(tx_fast, batch)
            expected = _one_by_one(tx_slow, batch)
            for conn in (fast, slow):
                conn.execute("COMMIT")
            assert [_comparable(r) for r in got] == [_comparable(r) for r in expected]
            assert tx_fast.max_event_id == tx_slow.max_event_id
        assert _tables(fast) == _tables(slow)
    finally:
        fast.close()
        slow.close()


async def test_store_falls_back_to_one_by_one_when_the_batch_call_fails(tmp_path: Path) -> None:
    calls: list[int] = []

    def broken_batch(tx: Tx, items: list[str]) -> list[outcome.Outcome[Any]]:
        calls.append(len(items))
        tx.execute("INSERT INTO settings_kv (key, value) VALUES ('half-done', '1')")
        raise RuntimeError("boom")

    def single(tx: Tx, key: str) -> str:
        tx.execute("INSERT INTO settings_kv (key, value) VALUES (?, 'ok')", (key,))
        return key

    entered, released = threading.Event(), threading.Event()

    def hold(tx: Tx) -> None:
        # Keeps the writer thread busy until the three writes below are queued, so they
        # are committed together in the next transaction.
        entered.set()
        assert released.wait(timeout=30)

    store = Store(tmp_path / "db.sqlite", synchronous="NORMAL")
    send, receive = trio.open_memory_channel[outcome.Outcome[Any]](3)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await store.submit(hold, lambda result: None)
            assert await trio.to_thread.run_sync(entered.wait, 30)
            for key in ("a", "b", "c"):
                await store.submit(
                    functools.partial(single, key=key),
                    send.send_nowait,
                    batch=broken_batch,
                    item=key,
                )
            released.set()
            results = [await receive.receive() for _ in range(3)]
            rows = await store.read(
                lambda conn: conn.execute("SELECT key FROM settings_kv ORDER BY key").fetchall()
            )
            nursery.cancel_scope.cancel()
    assert calls == [3]  # the run was tried as one call...
    assert [r.unwrap() for r in results] == ["a", "b", "c"]  # ...then done one by one
    assert rows == [("a",), ("b",), ("c",)]  # and the failed call left nothing behind
