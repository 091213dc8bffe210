"""The actor building blocks: bounded mailboxes, references, request/reply and the actor loop.

An actor is a task that owns some state and reads messages from a bounded trio memory channel
(its mailbox), one at a time, so its state needs no locks. Other tasks hold an ``ActorRef`` (the
send side) and either fire a message (``ActorRef.send``) or ask a question and wait for the
answer (``call``, which puts a one-shot ``Reply`` into the message). Mailboxes are always
bounded: a full mailbox makes senders wait (backpressure) instead of growing memory.

Error handling: sending to a closed mailbox raises ``ActorStopped``; an actor that fails while
handling a call's message fails that call with ``ActorCrashed`` (``run_mailbox``) and then lets
the exception propagate so its supervisor decides what happens next.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "ActorCrashed",
    "ActorRef",
    "ActorStopped",
    "Reply",
    "call",
    "discard_mailbox",
    "mailbox",
    "run_mailbox",
]

logger = logging.getLogger(__name__)

# A call that has not been answered after this long is treated as lost: long enough for a
# store group commit under load, short enough that a stuck actor surfaces as an error.
DEFAULT_CALL_TIMEOUT = 30.0

T = TypeVar("T")
R = TypeVar("R")


class ActorStopped(Exception):
    """The actor's mailbox is closed: the message was not (and will not be) handled."""


class ActorCrashed(Exception):
    """The actor failed while handling the message of a ``call``.

    The message is the failure's ``str``; ``__cause__`` is the original exception.
    """


class ActorRef(Generic[T]):
    """A handle on an actor: the send side of its bounded mailbox.

    The reference owns its send channel: close it with ``close`` (not on the channel), so that
    ``closed`` stays true to what happened.

    Args:
        name: The actor's name, used in errors and logs.
        send: The send side of the actor's mailbox.
    """

    __slots__ = ("_closed", "_name", "_send")

    def __init__(self, name: str, send: trio.MemorySendChannel[T]) -> None:
        self._name = name
        self._send = send
        self._closed = False

    @property
    def name(self) -> str:
        """The actor's name."""
        return self._name

    @property
    def closed(self) -> bool:
        """True once the mailbox accepts no more messages (send side closed or reader gone)."""
        return self._closed or self._send.statistics().open_receive_channels == 0

    async def send(self, msg: T) -> None:
        """Put ``msg`` into the mailbox, waiting while it is full (backpressure).

        Raises:
            ActorStopped: The mailbox is closed, or was closed while we waited.
        """
        try:
            await self._send.send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
            self._closed = True
            raise ActorStopped(f"actor {self._name!r} is stopped") from exc

    def send_nowait(self, msg: T) -> None:
        """Put ``msg`` into the mailbox without waiting.

        Raises:
            trio.WouldBlock: The mailbox is full.
            ActorStopped: The mailbox is closed.
        """
        try:
            self._send.send_nowait(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
            self._closed = True
            raise ActorStopped(f"actor {self._name!r} is stopped") from exc

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The mailbox channel's statistics (buffer use, blocked senders, ...)."""
        return self._send.statistics()

    def close(self) -> None:
        """Close the send side: the actor drains what is queued, then its loop ends.

        Tasks blocked in ``send`` on this reference get ``ActorStopped``. Idempotent.
        """
        self._closed = True
        self._send.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ActorRef {self._name!r} {state}>"


def mailbox(name: str, size: int) -> tuple[ActorRef[T], trio.MemoryReceiveChannel[T]]:
    """Create a bounded mailbox for an actor.

    Args:
        name: The actor's name (given to the ``ActorRef``).
        size: How many messages may wait; at least 1. Zero (a rendezvous) and infinity are
            refused: unbounded mailboxes are forbidden by design and a rendezvous makes every
            ``send_nowait`` fail.

    Returns:
        The reference for senders and the receive channel for the actor.

    Raises:
        ValueError: ``size`` is not an integer >= 1.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"mailbox size must be an integer >= 1, got {size!r}")
    send, receive = trio.open_memory_channel[T](size)
    return ActorRef(name, send), receive


class Reply(Generic[R]):
    """A one-shot reply slot, put into a message by ``call``.

    The actor answers with ``send`` or ``fail``; both are synchronous and never block, so an
    actor can answer even when the caller has gone (timed out or cancelled). Only the first
    answer counts; later ones are ignored and logged at debug level.
    """

    __slots__ = ("_event", "_result")

    def __init__(self) -> None:
        self._event = trio.Event()
        # A 1-tuple holds a value (so a value that is itself an exception stays a value).
        self._result: tuple[R] | Exception | None = None

    @property
    def done(self) -> bool:
        """True once ``send`` or ``fail`` was called."""
        return self._event.is_set()

    def send(self, value: R) -> None:
        """Answer the call with ``value``."""
        if self.done:
            logger.debug("reply already done; ignoring value %r", value)
            return
        self._result = (value,)
        self._event.set()

    def fail(self, exc: Exception) -> None:
        """Answer the call with an error: ``call`` raises ``exc`` in the caller."""
        if self.done:
            logger.debug("reply already done; ignoring error %r", exc)
            return
        self._result = exc
        self._event.set()

    async def wait(self) -> R:
        """Wait for the answer and return it, or raise the error given to ``fail``."""
        await self._event.wait()
        result = self._result
        if isinstance(result, tuple):
            return result[0]
        assert result is not None  # the event is set only together with a result
        raise result

    def __repr__(self) -> str:
        return f"<Reply {'done' if self.done else 'pending'}>"


async def call(
    ref: ActorRef[T],
    make_msg: Callable[[Reply[R]], T],
    *,
    timeout: float | None = DEFAULT_CALL_TIMEOUT,  # noqa: ASYNC109 - part of the contract
) -> R:
    """Send a request to an actor and wait for its answer.

    Args:
        ref: The actor.
        make_msg: Builds the message around a fresh ``Reply`` (e.g. ``lambda r: Get(key, r)``).
        timeout: Seconds for the whole exchange, waiting for mailbox space included; None
            waits forever.

    Returns:
        The value the actor gave to ``Reply.send``.

    Raises:
        ActorStopped: The mailbox is closed.
        ActorCrashed: The actor failed while handling the message.
        trio.TooSlowError: No answer within ``timeout``.
        Exception: Whatever the actor gave to ``Reply.fail``.
    """
    reply: Reply[R] = Reply()
    msg = make_msg(reply)
    with trio.fail_after(math.inf if timeout is None else timeout):
        await ref.send(msg)
        return await reply.wait()


async def run_mailbox(
    receive: trio.MemoryReceiveChannel[T],
    handle: Callable[[T], Awaitable[None]],
    *,
    idle_timeout: float | None = None,
    on_idle: Callable[[], bool] | None = None,
) -> None:
    """The generic actor loop: handle the mailbox's messages one at a time.

    The loop never closes ``receive``: the mailbox outlives one actor instance, so that a
    restarted instance keeps reading the same channel (see ``actors.registry``).

    Args:
        receive: The mailbox.
        handle: Handles one message.
        idle_timeout: If given with ``on_idle``, seconds without a message after which
            ``on_idle`` is asked whether to stop.
        on_idle: Returns True to end the loop (e.g. ``Registry.retire`` succeeded); False to
            keep waiting.

    Returns:
        When every send side is closed and the mailbox is drained, or when ``on_idle`` says so.

    Raises:
        ValueError: Only one of ``idle_timeout`` and ``on_idle`` was given.
        Exception: Whatever ``handle`` raised (the supervisor decides). Error handling: if the
            message has a ``reply`` attribute holding an unanswered ``Reply``, that reply is
            first failed with ``ActorCrashed`` so the caller is not left waiting.
    """
    if (idle_timeout is None) != (on_idle is None):
        raise ValueError("idle_timeout and on_idle go together")
    while True:
        try:
            if idle_timeout is None:
                msg = await receive.receive()
            else:
                # Only the wait is timed, never the handling of a message.
                with trio.move_on_after(idle_timeout) as idle:
                    msg = await receive.receive()
                if idle.cancelled_caught:
                    assert on_idle is not None
                    if on_idle():
                        return
                    continue
        except trio.EndOfChannel:
            return
        await _handle_one(msg, handle)


async def _handle_one(msg: T, handle: Callable[[T], Awaitable[None]]) -> None:
    """Handle one message; on failure, fail its pending reply before re-raising."""
    try:
        await handle(msg)
    except Exception as exc:
        reply: Any = getattr(msg, "reply", None)
        if isinstance(reply, Reply) and not reply.done:
            crashed = ActorCrashed(str(exc))
            crashed.__cause__ = exc
            reply.fail(crashed)
        raise


def discard_mailbox(receive: trio.MemoryReceiveChannel[T], reason: str) -> int:
    """Empty the mailbox of an actor that will not run again, without waiting.

    Each discarded message carrying an unanswered ``reply`` fails it with ``ActorStopped``, so
    no caller waits for its timeout. The channel is not closed.

    Args:
        receive: The dead actor's mailbox.
        reason: Why, for the error message and the log.

    Returns:
        How many messages were discarded.
    """
    count = 0
    while True:
        try:
            msg = receive.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            break
        count += 1
        reply: Any = getattr(msg, "reply", None)
        if isinstance(reply, Reply) and not reply.done:
            reply.fail(ActorStopped(reason))
    if count:
        logger.warning("discarded %d queued message(s): %s", count, reason)
    return count
