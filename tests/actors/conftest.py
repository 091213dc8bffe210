"""Fixtures and helpers for the actor tests: a running Store or System on tmp_path.

Clocks: the Store runs sqlite in worker threads. Under the standard ``autojump_clock``
(threshold 0) virtual time jumps as soon as every task waits, including while a worker
thread runs a query, which fires unrelated timeouts. Tests that need virtual time request
``threaded_clock`` instead: it only jumps after the loop has been idle for a while in real
time, so sqlite calls finish first and virtual times stay exact.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import contexts, directory
from actors.consumer import Consumer, get_cursor
from actors.history import messages_after
from actors.outbox import Outbox, OutFrame, Subscription
from actors.records import NewMessage
from actors.store import Store, Tx
from actors.system import System, SystemConfig
from protocol.frames import MessageFrame, Participant, ServerFrame

#: Real seconds the loop must sit idle before a ``threaded_clock`` jumps: far longer than
#: a sqlite call on tmp_path, far shorter than a test's patience.
AUTOJUMP_THRESHOLD = 0.2
#: Real-time bound for one test that uses the real clock.
TEST_TIMEOUT = 15
#: Real seconds a WriterGate holds the writer thread at most, so a failing test cannot
#: wedge the Store (its batches are not cancellable) and hang the teardown.
GATE_TIMEOUT = 10.0

STAFF = Participant(kind="staff", id="us_sam", name="Sam")
STAFF2 = Participant(kind="staff", id="us_kim", name="Kim")
CONTACT = Participant(kind="contact", id="ct_ann", name="Ann")

StartSystem = Callable[..., Awaitable[System]]


@pytest.fixture
def threaded_clock() -> trio.testing.MockClock:
    """A MockClock safe with worker threads (see module docstring); request it in the test."""
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
async def store(nursery: trio.Nursery, db_path: Path) -> Store:
    """A running Store on a fresh file (synchronous=NORMAL: no fsync, same semantics)."""
    started: Store = await nursery.start(Store(db_path, synchronous="NORMAL").run)
    return started


@pytest.fixture
def start_system(nursery: trio.Nursery, db_path: Path) -> StartSystem:
    """``await start_system(consumers=[...], **SystemConfig overrides)`` -> a running System."""

    async def start(*, consumers: Iterable[Consumer] = (), **overrides: Any) -> System:
        overrides.setdefault("synchronous", "NORMAL")
        system = System(SystemConfig(database=db_path, **overrides))
        for consumer in consumers:
            system.add_consumer(consumer)
        running: System = await nursery.start(system.run)
        return running

    return start


@pytest.fixture
async def system(start_system: StartSystem) -> System:
    return await start_system()


# -- data ---------------------------------------------------------------------------------


async def new_conversation(store: Store, name: str = "Ann") -> str:
    """Create a webinar context and an attendee in it; return the conversation id."""
    context = await store.write(
        functools.partial(
            contexts.create_context,
            kind="webinar",
            title=f"Webinar of {name}",
            data={},
            moderators=[],
            primary_moderator=None,
            external_id=None,
        )
    )
    attendee = await store.write(
        functools.partial(
            contexts.create_attendee,
            context_id=context["id"],
            name=name,
            email=None,
            external_id=None,
            channel="widget",
            token=directory.new_token("sba"),
            ttl_ms=3_600_000,
        )
    )
    conversation: str = attendee["conversation"]
    return conversation


async def new_user(store: Store, email: str) -> str:
    """Create a staff user; return its id."""
    user = await store.write(
        functools.partial(
            directory.create_user, email=email, name=email, role="agent", password_hash=None
        )
    )
    user_id: str = user["id"]
    return user_id


def message(
    conversation: str,
    body: str,
    *,
    author: Participant = STAFF,
    kind: str = "message",
    client_msg_id: str | None = None,
) -> NewMessage:
    return NewMessage(
        conversation=conversation,
        author=author,
        kind=kind,
        body=body,
        client_msg_id=client_msg_id,
    )


def append_events(count: int, type_: str = "test.event") -> Callable[[Tx], list[int]]:
    """A write function appending ``count`` events in one transaction."""

    def write(tx: Tx) -> list[int]:
        return [tx.append_event(type_, None, {"n": n}) for n in range(count)]

    return write


async def wait_for_cursor(store: Store, name: str, event_id: int) -> None:
    """Return once the durable cursor ``name`` is ``event_id`` (each check is a thread read)."""
    while await store.read(functools.partial(get_cursor, name=name)) != event_id:
        pass


# -- sessions -----------------------------------------------------------------------------


class Sink:
    """A hand-made session end for one conversation: a real Outbox and a Subscription."""

    def __init__(
        self,
        conversation: str,
        identity: Participant,
        *,
        session: str,
        is_staff: bool,
        size: int = 1024,
    ) -> None:
        self.outbox = Outbox(size)
        self.lost = 0
        self.lost_event = trio.Event()
        self.sub = Subscription(
            conversation,
            session,
            identity,
            is_staff=is_staff,
            outbox=self.outbox,
            on_lost=self._on_lost,
        )

    def _on_lost(self, sub: Subscription) -> None:
        assert sub is self.sub
        self.lost += 1
        self.lost_event.set()

    async def join(self, system: System) -> int:
        """Subscribe and go live at once, as a session with nothing to replay does."""
        upto = await system.subscribe(self.sub)
        self.sub.last_seq = upto
        assert self.sub.go_live()
        return upto

    async def join_replaying(self, system: System) -> int:
        """Subscribe, replay the history up to the seq the group gave, then go live.

        What a websocket session does (server/ws.py): live frames are held meanwhile.
        """
        upto = await system.subscribe(self.sub)
        history = await system.store.read(
            functools.partial(
                messages_after,
                conversation=self.sub.conversation,
                after_seq=0,
                upto_seq=upto,
                include_notes=self.sub.is_staff,
            )
        )
        for stored in history:
            await self.outbox.put(OutFrame(stored.to_frame()))
        self.sub.last_seq = upto
        assert self.sub.go_live()
        return upto

    async def next(self) -> ServerFrame:
        return (await self.outbox.receive.receive()).frame

    async def next_message(self) -> MessageFrame:
        frame = await self.next()
        assert isinstance(frame, MessageFrame), frame
        return frame

    def nowait(self) -> list[ServerFrame]:
        """Everything queued right now."""
        return drain(self.outbox)


def drain(outbox: Outbox) -> list[ServerFrame]:
    frames: list[ServerFrame] = []
    while True:
        try:
            frames.append(outbox.receive.receive_nowait().frame)
        except trio.WouldBlock:
            return frames


def message_seqs(frames: Iterable[ServerFrame]) -> list[int]:
    return [f.seq for f in frames if isinstance(f, MessageFrame)]


class WriterGate:
    """``async with WriterGate(store):`` holds the Store's writer thread inside a write.

    Writes submitted meanwhile queue up and commit together, in one batch, once the block
    exits: a deterministic way to observe "before commit" and to fill one batch.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._entered = threading.Event()
        self._release = threading.Event()

    def _hold(self, tx: Tx) -> None:
        self._entered.set()
        self._release.wait(GATE_TIMEOUT)

    async def __aenter__(self) -> WriterGate:
        await self._store.submit(self._hold, lambda result: None)
        entered = await trio.to_thread.run_sync(self._entered.wait, GATE_TIMEOUT)
        assert entered, "the writer never picked up the gate"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()


@pytest.fixture
async def conversation(system: System) -> str:
    """A conversation in the running ``system``."""
    return await new_conversation(system.store)
