"""Tests for actors.consumer: ordered at-least-once delivery from durable cursors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from actors.consumer import get_cursor, run_consumer
from actors.store import Store, StoredEvent
from actors.system import System, SystemConfig
from tests.actors.conftest import TEST_TIMEOUT, StartSystem, append_events, wait_for_cursor


class Flaky(Exception):
    """What a consumer raises to simulate a failed side effect."""


class Recorder:
    """A consumer recording the event ids of each batch (and, optionally, failing once)."""

    def __init__(self, name: str, *, live_only: bool = False, fail_call: int | None = None) -> None:
        self.name = name
        self.live_only = live_only
        self.calls: list[list[int]] = []
        #: The durable cursor as stored when each batch arrived.
        self.cursors: list[int | None] = []
        self.store: Store | None = None
        self._fail_call = fail_call
        self._changed = trio.Event()

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        self.calls.append([e.id for e in events])
        if self.store is not None:
            self.cursors.append(
                await self.store.read(functools.partial(get_cursor, name=self.name))
            )
        self._changed.set()
        self._changed = trio.Event()
        if len(self.calls) == self._fail_call:
            raise Flaky(f"{self.name} failed on batch {events[0].id}..{events[-1].id}")

    def delivered(self) -> list[int]:
        return [event_id for batch in self.calls for event_id in batch]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()


async def test_every_event_is_handed_once_in_order_and_the_cursor_advances(
    store: Store,
) -> None:
    recorder = Recorder("audit")
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(run_consumer, store, recorder, batch_size=2))
            for size in (1, 2, 3, 4, 5):  # 15 events in commits of several sizes
                await store.write(append_events(size))
            await recorder.wait_until(lambda: recorder.delivered()[-1:] == [15])
            await wait_for_cursor(store, "audit", 15)
            nursery.cancel_scope.cancel()
    assert recorder.delivered() == list(range(1, 16))
    assert all(1 <= len(batch) <= 2 for batch in recorder.calls)


async def test_failing_consumer_is_restarted_and_gets_the_batch_again(
    start_system: StartSystem,
) -> None:
    recorder = Recorder("audit", fail_call=2)
    with trio.fail_after(TEST_TIMEOUT):
        system = await start_system(consumers=[recorder])
        recorder.store = system.store
        await system.store.write(append_events(3))
        await wait_for_cursor(system.store, "audit", 3)
        await system.store.write(append_events(3))
        await recorder.wait_until(lambda: len(recorder.calls) == 3)
        await wait_for_cursor(system.store, "audit", 6)
    assert recorder.calls == [[1, 2, 3], [4, 5, 6], [4, 5, 6]]  # at least once
    assert recorder.cursors == [None, 3, 3]  # never advanced past the failed batch
    assert system.root.statistics().restarts_total == 1


async def test_durable_consumer_resumes_after_its_cursor_in_a_new_system(db_path: Path) -> None:
    config = SystemConfig(database=db_path, synchronous="NORMAL")
    before_restart = Recorder("audit")
    after_restart, newcomer = Recorder("audit"), Recorder("newcomer")
    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            system = System(config)
            system.add_consumer(before_restart)
            await nursery.start(system.run)
            await system.store.write(append_events(3))
            await wait_for_cursor(system.store, "audit", 3)
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            system = System(config)
            system.add_consumer(after_restart)
            system.add_consumer(newcomer)
            await nursery.start(system.run)
            await system.store.write(append_events(2))
            await after_restart.wait_until(lambda: bool(after_restart.calls))
            await newcomer.wait_until(lambda: newcomer.delivered()[-1:] == [5])
            await wait_for_cursor(system.store, "audit", 5)
            nursery.cancel_scope.cancel()
    assert before_restart.calls == [[1, 2, 3]]
    assert after_restart.calls == [[4, 5]]  # nothing acknowledged is handed again
    assert newcomer.delivered() == [1, 2, 3, 4, 5]  # no cursor yet: from the beginning


async def test_live_only_consumer_starts_at_the_head_and_stores_no_cursor(store: Store) -> None:
    recorder = Recorder("live", live_only=True)
    with trio.fail_after(TEST_TIMEOUT):
        await store.write(append_events(3))
        async with trio.open_nursery() as nursery:
            await nursery.start(run_consumer, store, recorder)
            await store.write(append_events(2))
            await recorder.wait_until(lambda: bool(recorder.calls))
            nursery.cancel_scope.cancel()
        assert recorder.calls == [[4, 5]]
        assert await store.read(functools.partial(get_cursor, name="live")) is None
