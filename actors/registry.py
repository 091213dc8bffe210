"""A registry of keyed actors (one per conversation, say), started on demand under a supervisor.

The mailbox belongs to the key, not to one actor instance. The registry creates it, keeps the
``ActorRef`` and gives the receive side to the factory, whose start function captures it. When
the actor crashes and the supervisor restarts it, the new instance reads the same channel: the
callers' references stay valid and the messages queued behind the crashing one are handled by
the new instance.

An idle actor stops itself: it calls ``Registry.retire`` (synchronous, no checkpoint, so no
message can slip in between the check and the close) and returns normally. A later ``get``
starts a fresh instance with a fresh mailbox, which reloads its state from the store.

How the registry learns that a key's actor is gone for good (it retired, it crashed and is not
restarted, the supervisor gave up on it or shut down): the registry adds a
``ChildSpec.on_removed`` hook to the factory's spec. The supervisor calls it once when it
forgets the child, and the registry then drops the key (if it still maps to that actor), closes
the mailbox and fails the calls still queued in it with ``ActorStopped``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

from actors.runtime import (
    DEFAULT_CALL_TIMEOUT,
    ActorRef,
    ActorStopped,
    Reply,
    call,
    discard_mailbox,
    mailbox,
)
from actors.supervisor import ChildSpec, Supervisor

__all__ = ["Registry"]

logger = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(eq=False)
class _Entry(Generic[T]):
    """One key's actor: its mailbox, and whether its first start has finished."""

    ref: ActorRef[T]
    receive: trio.MemoryReceiveChannel[T]
    ready: trio.Event = dataclasses.field(default_factory=trio.Event)
    started: bool = False
    start_error: BaseException | None = None


class Registry(Generic[K, T]):
    """Maps keys to live actors, starting each one on demand under ``supervisor``.

    Args:
        supervisor: Runs the actors (one child per key).
        factory: ``factory(key, receive)`` returns the ``ChildSpec`` of the actor for ``key``
            reading ``receive``. Its start function must capture ``receive`` (so a restarted
            instance reads the same mailbox) and never close it. Use ``Restart.TRANSIENT``
            (restarted after a crash, not after retiring) or ``Restart.TEMPORARY``; a
            PERMANENT actor would be restarted after retiring, on a closed mailbox. The spec's
            name gets a ``#<n>`` suffix, unique per start, so that a retiring instance still
            finishing never clashes with its successor.
        mailbox_size: Bound of each actor's mailbox.
        name: For logs.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        factory: Callable[[K, trio.MemoryReceiveChannel[T]], ChildSpec],
        *,
        mailbox_size: int,
        name: str = "registry",
    ) -> None:
        if mailbox_size < 1:
            raise ValueError(f"mailbox_size must be >= 1, got {mailbox_size}")
        self._supervisor = supervisor
        self._factory = factory
        self._mailbox_size = mailbox_size
        self.name = name
        self._entries: dict[K, _Entry[T]] = {}
        self._generation = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry {self.name!r} actors={len(self)}>"

    def keys(self) -> list[K]:
        """Keys with a live actor (or one being started)."""
        return list(self._entries)

    def lookup(self, key: K) -> ActorRef[T] | None:
        """The actor for ``key`` if it is running or starting, else None; never starts one.

        An actor may look up its own reference while it starts (e.g. to ``retire`` later).
        Messages sent to an actor that is still starting wait in its mailbox; if the start
        fails, calls among them fail with ``ActorStopped``.
        """
        entry = self._entries.get(key)
        return None if entry is None else entry.ref

    async def get(self, key: K) -> ActorRef[T]:
        """The actor for ``key``, started if needed.

        Concurrent ``get``s for a key that is not running start it once; the others wait for
        that start.

        Raises:
            ActorStopped: Another task's start of this actor failed or was cancelled.
            Exception: Whatever the actor raised while starting (in the task that started it).
        """
        entry = self._entries.get(key)
        if entry is None:
            return await self._start(key)
        if not entry.started:
            await entry.ready.wait()
            if not entry.started:
                raise ActorStopped(
                    f"{self.name}: actor for {key!r} failed to start"
                ) from entry.start_error
        return entry.ref

    def retire(self, key: K, ref: ActorRef[T]) -> bool:
        """Let an idle actor stop: called by the actor itself, synchronously.

        Succeeds only if ``ref`` is still the registered actor for ``key`` and its mailbox is
        empty with nobody waiting to send. Then the key is dropped and the mailbox's send side
        closed; the actor must return normally right after. Because this does not checkpoint,
        no message can arrive between the check and the close.

        Returns:
            True if the actor may stop; False if it must keep running.
        """
        entry = self._entries.get(key)
        if entry is None or entry.ref is not ref:
            return False
        stats = ref.statistics()
        if stats.current_buffer_used != 0 or stats.tasks_waiting_send != 0:
            return False
        del self._entries[key]
        ref.close()
        logger.debug("%s: actor for %r retired", self.name, key)
        return True

    async def send(self, key: K, msg: T) -> None:
        """Send ``msg`` to the actor for ``key`` (started if needed), with backpressure.

        If the actor retired between looking it up and sending, retries once with a fresh one.

        Raises:
            ActorStopped: The second attempt failed too.
        """
        try:
            await (await self.get(key)).send(msg)
        except ActorStopped:
            await (await self.get(key)).send(msg)

    async def call(
        self,
        key: K,
        make_msg: Callable[[Reply[R]], T],
        *,
        timeout: float | None = DEFAULT_CALL_TIMEOUT,  # noqa: ASYNC109 - as runtime.call
    ) -> R:
        """``actors.runtime.call`` on the actor for ``key`` (started if needed).

        If the actor stopped before handling the message (it retired, or it is gone for good
        and its queued calls were failed), retries once with a fresh actor. ``timeout`` covers
        both attempts and the start.

        Raises:
            ActorStopped: The second attempt failed too.
            ActorCrashed: The actor failed while handling the message (not retried).
            trio.TooSlowError: No answer within ``timeout``.
        """
        with trio.fail_after(math.inf if timeout is None else timeout):
            try:
                return await call(await self.get(key), make_msg, timeout=None)
            except ActorStopped:
                return await call(await self.get(key), make_msg, timeout=None)

    async def _start(self, key: K) -> ActorRef[T]:
        """Create the mailbox and start the actor for ``key`` (registered before any wait)."""
        ref: ActorRef[T]
        receive: trio.MemoryReceiveChannel[T]
        ref, receive = mailbox(f"{self.name}[{key!r}]", self._mailbox_size)
        entry: _Entry[T] = _Entry(ref, receive)
        self._entries[key] = entry
        try:
            spec = self._factory(key, receive)
            spec = dataclasses.replace(
                spec,
                name=f"{spec.name}#{next(self._generation)}",
                on_removed=self._removal_hook(key, entry, spec.on_removed),
            )
            await self._supervisor.start_child(spec)
            entry.started = True
        except Exception as exc:
            entry.start_error = exc
            raise
        finally:
            if not entry.started:
                # Failed or cancelled: the supervisor does not call on_removed for a child
                # that never started, so clean up here.
                self._drop(key, entry, "its start failed")
            entry.ready.set()
        logger.debug("%s: started actor for %r", self.name, key)
        return ref

    def _removal_hook(
        self,
        key: K,
        entry: _Entry[T],
        chained: Callable[[Exception | None], None] | None,
    ) -> Callable[[Exception | None], None]:
        def on_removed(error: Exception | None) -> None:
            self._drop(key, entry, "it stopped")
            if chained is not None:
                chained(error)

        return on_removed

    def _drop(self, key: K, entry: _Entry[T], why: str) -> None:
        """Forget ``entry`` (if still registered), close its mailbox, fail queued calls."""
        if self._entries.get(key) is entry:
            del self._entries[key]
        entry.ref.close()
        discard_mailbox(entry.receive, f"{self.name}: actor for {key!r} is gone: {why}")
        entry.receive.close()
