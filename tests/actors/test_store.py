"""Tests for actors.store: group commit, per-write savepoints, the event log, read pool."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from actors.consumer import read_events
from actors.store import Store, StoreError, Tx
from tests.actors.conftest import TEST_TIMEOUT, WriterGate, append_events


class Boom(Exception):
    """The failure our test writes raise."""


def put(tx: Tx, key: str, value: str = "v") -> str:
    tx.execute("INSERT INTO settings_kv (key, value) VALUES (?, ?)", (key, value))
    return key


def put_then_fail(tx: Tx, key: str) -> None:
    put(tx, key)
    raise Boom(f"write of {key} failed")


def keys(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT key FROM settings_kv ORDER BY key")]


def test_synchronous_mode_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be"):
        Store(tmp_path / "db.sqlite", synchronous="OFF")


async def test_concurrent_writes_are_group_committed(store: Store) -> None:
    before = store.statistics()
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(store.write, functools.partial(put, key=f"k{i:03}"))
    after = store.statistics()
    assert after.writes - before.writes == 200
    assert after.batches - before.batches < 200
    assert after.largest_batch > 1
    assert after.failed_writes == before.failed_writes
    assert await store.read(keys) == [f"k{i:03}" for i in range(200)]


async def test_failing_write_is_rolled_back_alone_and_reraised(store: Store) -> None:
    outcomes: dict[str, object] = {}

    async def run(key: str, fail: bool) -> None:
        fn = put_then_fail if fail else put
        try:
            outcomes[key] = await store.write(functools.partial(fn, key=key))
        except Boom as exc:
            outcomes[key] = exc

    before = store.statistics()
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            async with WriterGate(store):
                for key, fail in (("a", False), ("bad", True), ("c", False)):
                    nursery.start_soon(run, key, fail)
                await trio.testing.wait_all_tasks_blocked()
                assert store.statistics().queued == 3  # all three wait for the same batch
    after = store.statistics()
    assert after.batches - before.batches == 2  # the gate's batch, then ours: one batch
    assert after.failed_writes - before.failed_writes == 1
    assert outcomes["a"] == "a"
    assert outcomes["c"] == "c"
    error = outcomes["bad"]
    assert isinstance(error, Boom)
    assert str(error) == "write of bad failed"
    assert await store.read(keys) == ["a", "c"]


async def test_write_reraises_the_functions_exception_object(store: Store) -> None:
    raised: list[Boom] = []

    def fail(tx: Tx) -> None:
        raised.append(Boom("nope"))
        raise raised[0]

    with pytest.raises(Boom, match="nope") as excinfo:
        await store.write(fail)
    assert excinfo.value is raised[0]
    assert await store.write(functools.partial(put, key="after")) == "after"


async def test_refused_transaction_fails_every_write_of_the_batch(store: Store) -> None:
    """A write that breaks the transaction (here: a ROLLBACK) costs its whole batch."""
    outcomes: dict[str, object] = {}

    def rogue(tx: Tx) -> None:
        tx.execute("ROLLBACK")

    async def run(name: str, fn: object) -> None:
        try:
            outcomes[name] = await store.write(fn)  # type: ignore[arg-type]
        except StoreError as exc:
            outcomes[name] = exc

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            async with WriterGate(store):
                nursery.start_soon(run, "good", functools.partial(put, key="good"))
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(run, "rogue", rogue)
                await trio.testing.wait_all_tasks_blocked()
                assert store.statistics().queued == 2
        assert isinstance(outcomes["good"], StoreError)
        assert isinstance(outcomes["rogue"], StoreError)
        assert await store.read(keys) == []
        # The Store keeps serving.
        assert await store.write(functools.partial(put, key="later")) == "later"
    assert await store.read(keys) == ["later"]


async def test_events_get_increasing_ids_published_after_commit(store: Store) -> None:
    start = store.last_event_id
    seen_inside: list[int] = []

    def two_events(tx: Tx) -> tuple[int, int]:
        first = tx.append_event("test.first", None, {"n": 1})
        second = tx.append_event("test.second", "cv_x", {"n": 2})
        seen_inside.append(store.last_event_id)  # runs in the writer thread, before COMMIT
        return first, second

    first, second = await store.write(two_events)
    assert start < first < second
    assert seen_inside == [start]
    assert store.last_event_id == second == store.statistics().last_event_id
    (third,) = await store.write(append_events(1))
    assert third > second
    assert store.last_event_id == third
    events = await store.read(functools.partial(read_events, after=start, limit=10))
    assert [(e.id, e.type, e.conversation, e.payload) for e in events] == [
        (first, "test.first", None, {"n": 1}),
        (second, "test.second", "cv_x", {"n": 2}),
        (third, "test.event", None, {"n": 0}),
    ]


async def test_wait_for_event_wakes_on_a_commit_with_events(store: Store) -> None:
    start = store.last_event_id
    woke: list[int] = []

    async def waiter() -> None:
        woke.append(await store.wait_for_event(start))

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            await store.write(functools.partial(put, key="no-event"))
            await trio.testing.wait_all_tasks_blocked()
            assert woke == []  # a commit without events wakes nobody
            (event_id,) = await store.write(append_events(1))
        assert woke == [event_id]
        assert await store.wait_for_event(start) == event_id  # already past: at once


async def test_events_of_a_failed_write_are_not_published(store: Store) -> None:
    start = store.last_event_id

    def append_then_fail(tx: Tx) -> None:
        tx.append_event("test.phantom", None, {})
        raise Boom("rolled back")

    with pytest.raises(Boom, match="rolled back"):
        await store.write(append_then_fail)
    # Nothing was committed, so nothing may be published: a live_only consumer starting
    # now would take the phantom id as its start and skip the next real event, which
    # reuses that id (AUTOINCREMENT is rolled back with the savepoint too).
    assert store.last_event_id == start
    (real,) = await store.write(append_events(1))
    assert real == start + 1
    assert store.last_event_id == real


async def test_data_survives_closing_and_reopening(db_path: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            first: Store = await nursery.start(Store(db_path).run)
            await first.write(functools.partial(put, key="kept", value="yes"))
            (event_id,) = await first.write(append_events(1))
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            second: Store = await nursery.start(Store(db_path).run)
            assert second.last_event_id == event_id
            assert await second.read(keys) == ["kept"]
            (next_id,) = await second.write(append_events(1))
            assert next_id == event_id + 1
            nursery.cancel_scope.cancel()


async def test_reads_run_on_read_only_connections(store: Store) -> None:
    def sneaky_write(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO settings_kv (key, value) VALUES ('x', 'y')")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.read(sneaky_write)
    assert await store.read(keys) == []


async def test_many_concurrent_reads_share_the_pool(store: Store) -> None:
    await store.write(functools.partial(put, key="k"))
    results: list[list[str]] = []

    async def read() -> None:
        results.append(await store.read(keys))

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(read)
    assert results == [["k"]] * 20
