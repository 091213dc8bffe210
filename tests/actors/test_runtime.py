"""Tests for actors.runtime: mailboxes, ActorRef, call/Reply and the actor loop."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import pytest
import trio
import trio.testing

from actors.runtime import (
    ActorCrashed,
    ActorRef,
    ActorStopped,
    Reply,
    call,
    discard_mailbox,
    mailbox,
    run_mailbox,
)

M = TypeVar("M")


def new_mailbox(
    name: str, size: int, _kind: type[M]
) -> tuple[ActorRef[M], trio.MemoryReceiveChannel[M]]:
    """``mailbox`` with the message type spelled out (a generic function is not subscriptable)."""
    return mailbox(name, size)


@dataclass
class Ask:
    """A test request: the actor answers ``value * 2`` (or misbehaves on purpose)."""

    value: int
    reply: Reply[int]


async def double(msg: Ask) -> None:
    if msg.value < 0:
        raise ValueError(f"negative: {msg.value}")
    if msg.value == 0:
        msg.reply.fail(KeyError("zero"))
        return
    if msg.value == 99:
        return  # never answers
    msg.reply.send(msg.value * 2)


# -- mailbox and ActorRef ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1, math.inf, 1.5])
def test_mailbox_refuses_unbounded_and_empty(size: float) -> None:
    with pytest.raises(ValueError, match="mailbox size"):
        mailbox("a", size)  # type: ignore[arg-type]


def test_mailbox_gives_ref_and_receive_channel() -> None:
    ref, receive = new_mailbox("counter", 2, int)
    assert ref.name == "counter"
    assert not ref.closed
    ref.send_nowait(1)
    assert ref.statistics().current_buffer_used == 1
    assert ref.statistics().max_buffer_size == 2
    assert receive.receive_nowait() == 1


async def test_send_waits_while_mailbox_full(autojump_clock: trio.testing.MockClock) -> None:
    ref, receive = new_mailbox("a", 1, str)
    await ref.send("first")
    sent_at: list[float] = []

    async def second_sender() -> None:
        await ref.send("second")
        sent_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second_sender)
        await trio.sleep(3)
        assert ref.statistics().tasks_waiting_send == 1
        assert sent_at == []
        assert await receive.receive() == "first"
    assert sent_at == [3.0]
    assert receive.receive_nowait() == "second"


def test_send_nowait_raises_wouldblock_when_full() -> None:
    ref, _receive = new_mailbox("a", 1, int)
    ref.send_nowait(1)
    with pytest.raises(trio.WouldBlock):
        ref.send_nowait(2)


async def test_closed_ref_raises_actor_stopped() -> None:
    ref, _receive = new_mailbox("a", 1, int)
    ref.close()
    assert ref.closed
    with pytest.raises(ActorStopped, match="'a'"):
        await ref.send(1)
    with pytest.raises(ActorStopped):
        ref.send_nowait(1)
    ref.close()  # idempotent


async def test_ref_is_stopped_when_the_reader_is_gone() -> None:
    ref, receive = new_mailbox("a", 1, int)
    receive.close()
    assert ref.closed
    with pytest.raises(ActorStopped):
        await ref.send(1)


async def test_close_wakes_blocked_sender_with_actor_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref, _receive = new_mailbox("a", 1, int)
    ref.send_nowait(1)
    errors: list[Exception] = []

    async def blocked_sender() -> None:
        try:
            await ref.send(2)
        except ActorStopped as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_sender)
        await trio.sleep(1)
        ref.close()
    assert len(errors) == 1
    assert trio.current_time() == 1.0


# -- Reply and call ------------------------------------------------------------------------


async def test_reply_first_answer_wins() -> None:
    reply: Reply[int] = Reply()
    assert not reply.done
    reply.send(1)
    reply.send(2)
    reply.fail(RuntimeError("late"))
    assert reply.done
    assert await reply.wait() == 1


async def test_reply_holds_an_exception_value_as_a_value() -> None:
    reply: Reply[Exception] = Reply()
    err = ValueError("x")
    reply.send(err)
    assert await reply.wait() is err


async def _serve(receive: trio.MemoryReceiveChannel[Ask]) -> None:
    await run_mailbox(receive, double)


async def test_call_returns_the_value() -> None:
    ref, receive = new_mailbox("doubler", 4, Ask)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, receive)
        assert await call(ref, lambda r: Ask(21, r)) == 42
        assert await call(ref, lambda r: Ask(5, r), timeout=None) == 10
        ref.close()


async def test_call_reraises_the_failure() -> None:
    ref, receive = new_mailbox("doubler", 4, Ask)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, receive)
        with pytest.raises(KeyError, match="zero"):
            await call(ref, lambda r: Ask(0, r))
        ref.close()


async def test_call_times_out_at_exact_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref, receive = new_mailbox("doubler", 4, Ask)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, receive)
        with pytest.raises(trio.TooSlowError):
            await call(ref, lambda r: Ask(99, r), timeout=2.5)
        assert trio.current_time() == 2.5
        ref.close()


async def test_call_timeout_covers_waiting_for_mailbox_space(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref, _receive = new_mailbox("nobody-reads", 1, Ask)
    ref.send_nowait(Ask(1, Reply()))
    with pytest.raises(trio.TooSlowError):
        await call(ref, lambda r: Ask(2, r), timeout=4)
    assert trio.current_time() == 4.0


async def test_call_on_closed_mailbox_raises_actor_stopped() -> None:
    ref, _receive = new_mailbox("a", 1, Ask)
    ref.close()
    with pytest.raises(ActorStopped):
        await call(ref, lambda r: Ask(1, r))


# -- run_mailbox ---------------------------------------------------------------------------


async def test_crashing_handler_fails_pending_call_and_reraises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref, receive = new_mailbox("doubler", 4, Ask)
    actor_errors: list[Exception] = []

    async def actor() -> None:
        try:
            await run_mailbox(receive, double)
        except ValueError as exc:
            actor_errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(actor)
        with pytest.raises(ActorCrashed, match="negative: -1") as excinfo:
            await call(ref, lambda r: Ask(-1, r))
    assert isinstance(excinfo.value.__cause__, ValueError)
    assert [str(e) for e in actor_errors] == ["negative: -1"]
    assert trio.current_time() == 0.0  # failed at once, not at the call timeout


async def test_crash_leaves_queued_messages_for_the_next_reader() -> None:
    ref, receive = new_mailbox("doubler", 4, Ask)
    later: Reply[int] = Reply()
    ref.send_nowait(Ask(-1, Reply()))
    ref.send_nowait(Ask(4, later))
    with pytest.raises(ValueError, match="negative"):
        await run_mailbox(receive, double)
    ref.close()
    await run_mailbox(receive, double)  # a "restarted" instance on the same channel
    assert await later.wait() == 8


async def test_run_mailbox_drains_then_returns_when_closed() -> None:
    ref, receive = new_mailbox("a", 3, int)
    seen: list[int] = []

    async def handle(msg: int) -> None:
        await trio.lowlevel.checkpoint()
        seen.append(msg)

    for i in range(3):
        ref.send_nowait(i)
    ref.close()
    await run_mailbox(receive, handle)
    assert seen == [0, 1, 2]


async def test_run_mailbox_asks_on_idle_after_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref, receive = new_mailbox("a", 3, int)
    asked_at: list[float] = []
    handled_at: list[float] = []

    async def handle(msg: int) -> None:
        await trio.sleep(7)  # longer than the idle timeout: handling is not timed
        handled_at.append(trio.current_time())

    def on_idle() -> bool:
        asked_at.append(trio.current_time())
        return len(asked_at) == 2

    async def sender() -> None:
        await trio.sleep(3)
        await ref.send(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await run_mailbox(receive, handle, idle_timeout=5, on_idle=on_idle)
    assert handled_at == [10.0]
    assert asked_at == [15.0, 20.0]


async def test_run_mailbox_needs_idle_timeout_and_on_idle_together() -> None:
    _ref, receive = new_mailbox("a", 1, int)

    async def handle(msg: int) -> None:
        await trio.lowlevel.checkpoint()

    with pytest.raises(ValueError, match="together"):
        await run_mailbox(receive, handle, idle_timeout=1)


async def test_discard_mailbox_fails_queued_calls() -> None:
    ref, receive = new_mailbox("a", 3, Ask)
    pending: Reply[int] = Reply()
    ref.send_nowait(Ask(1, pending))
    ref.send_nowait(Ask(2, Reply()))
    assert discard_mailbox(receive, "gone") == 2
    with pytest.raises(ActorStopped, match="gone"):
        await pending.wait()
    assert discard_mailbox(receive, "gone") == 0


def test_actor_ref_repr_says_state() -> None:
    ref, _receive = new_mailbox("a", 1, int)
    assert repr(ref) == "<ActorRef 'a' open>"
    ref.close()
    assert repr(ref) == "<ActorRef 'a' closed>"
    assert isinstance(ref, ActorRef)
