"""Tests for actors.registry: on-demand start, restart on the same mailbox, idle retire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from actors.registry import Registry
from actors.runtime import ActorCrashed, ActorStopped, Reply, run_mailbox
from actors.supervisor import ChildSpec, Restart, Supervisor, SupervisorEscalation

IDLE = 10.0  # test actors retire after this many idle seconds


class Boom(Exception):
    """The failure our test actors raise."""


@dataclass
class Msg:
    text: str
    reply: Reply[str] | None = None


class Fleet:
    """Test actors keyed by name, and a log of what each instance handled."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        restart: Restart = Restart.TRANSIENT,
        startup: float = 0.0,
        mailbox_size: int = 8,
    ) -> None:
        self.restart = restart
        self.startup = startup
        self.instances: dict[str, int] = {}
        self.handled: list[tuple[str, str, int]] = []
        self.registry: Registry[str, Msg] = Registry(
            supervisor, self.factory, mailbox_size=mailbox_size, name="fleet"
        )

    def factory(self, key: str, receive: trio.MemoryReceiveChannel[Msg]) -> ChildSpec:
        async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            n = self.instances[key] = self.instances.get(key, 0) + 1
            ref = self.registry.lookup(key)
            assert ref is not None
            await trio.sleep(self.startup)
            if key == "broken":
                raise Boom("cannot start")
            task_status.started()

            async def handle(msg: Msg) -> None:
                if msg.text == "crash":
                    raise Boom(f"{key} crashed")
                if msg.text == "slow":
                    await trio.sleep(5)
                self.handled.append((key, msg.text, n))
                if msg.reply is not None:
                    msg.reply.send(f"{key}:{msg.text}#{n}")

            await run_mailbox(
                receive, handle, idle_timeout=IDLE, on_idle=lambda: self.registry.retire(key, ref)
            )

        return ChildSpec(f"actor:{key}", start, self.restart)

    async def ask(self, key: str, text: str) -> str:
        return await self.registry.call(key, lambda reply: Msg(text, reply))


async def test_get_starts_on_demand_and_reuses_the_actor() -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert fleet.registry.lookup("a") is None
        assert len(fleet.registry) == 0
        ref = await fleet.registry.get("a")
        assert await fleet.registry.get("a") is ref
        assert fleet.registry.lookup("a") is ref
        assert fleet.registry.keys() == ["a"]
        assert len(fleet.registry) == 1
        assert await fleet.ask("a", "hi") == "a:hi#1"
        assert fleet.instances == {"a": 1}
        assert sup.children() == ["actor:a#1"]
        nursery.cancel_scope.cancel()
    assert fleet.registry.keys() == []  # shutdown forgets every actor


async def test_concurrent_gets_start_once(autojump_clock: trio.testing.MockClock) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup, startup=1)
    refs: list[Any] = []

    async def getter() -> None:
        refs.append(await fleet.registry.get("a"))

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        async with trio.open_nursery() as getters:
            for _ in range(5):
                getters.start_soon(getter)
        assert trio.current_time() == 1.0
        assert len(refs) == 5
        assert all(ref is refs[0] for ref in refs)
        assert fleet.instances == {"a": 1}
        nursery.cancel_scope.cancel()


async def test_crash_restarts_on_the_same_mailbox(autojump_clock: trio.testing.MockClock) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        other = await fleet.registry.get("b")
        ref = await fleet.registry.get("a")
        crashing: Reply[str] = Reply()
        queued: Reply[str] = Reply()
        ref.send_nowait(Msg("crash", crashing))
        ref.send_nowait(Msg("queued", queued))
        with pytest.raises(ActorCrashed, match="a crashed"):
            await crashing.wait()
        assert await queued.wait() == "a:queued#2"  # handled by the restarted instance
        assert fleet.registry.lookup("a") is ref  # callers' references stay valid
        assert await fleet.ask("a", "after") == "a:after#2"
        assert await fleet.ask("b", "fine") == "b:fine#1"
        assert fleet.registry.lookup("b") is other
        assert fleet.instances == {"b": 1, "a": 2}
        assert sup.statistics().restarts_total == 1
        nursery.cancel_scope.cancel()


async def test_idle_actor_retires_then_restarts_transparently(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert await fleet.ask("a", "one") == "a:one#1"
        old = fleet.registry.lookup("a")
        assert old is not None
        await trio.sleep(IDLE + 1)
        assert fleet.registry.keys() == []
        assert sup.children() == []
        assert old.closed
        with pytest.raises(ActorStopped):
            await old.send(Msg("lost"))
        assert await fleet.ask("a", "two") == "a:two#2"
        new = fleet.registry.lookup("a")
        assert new is not None
        assert new is not old
        assert sup.children() == ["actor:a#2"]
        assert trio.current_time() == IDLE + 1
        nursery.cancel_scope.cancel()


async def test_retire_refused_while_a_message_is_queued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await fleet.registry.get("a")
        await ref.send(Msg("slow"))
        await trio.sleep(1)  # the actor is busy with "slow" until t=5
        await ref.send(Msg("queued"))
        assert not fleet.registry.retire("a", ref)
        assert not ref.closed
        assert await fleet.ask("a", "still") == "a:still#1"
        assert fleet.handled == [("a", "slow", 1), ("a", "queued", 1), ("a", "still", 1)]
        assert trio.current_time() == 5.0
        assert fleet.registry.retire("a", ref)  # mailbox empty now
        assert ref.closed
        assert fleet.registry.keys() == []
        nursery.cancel_scope.cancel()


async def test_retire_refuses_a_stale_reference() -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref_a = await fleet.registry.get("a")
        ref_b = await fleet.registry.get("b")
        assert not fleet.registry.retire("a", ref_b)
        assert not fleet.registry.retire("missing", ref_a)
        assert fleet.registry.keys() == ["a", "b"]
        nursery.cancel_scope.cancel()


async def test_send_after_retire_starts_a_fresh_actor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await fleet.registry.get("a")
        assert fleet.registry.retire("a", ref)  # as if it had gone idle
        await fleet.registry.send("a", Msg("hello"))
        await trio.sleep(1)
        assert fleet.handled == [("a", "hello", 2)]
        nursery.cancel_scope.cancel()


async def test_call_retries_once_when_queued_call_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup, restart=Restart.TEMPORARY)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = await fleet.registry.get("a")
        ref.send_nowait(Msg("crash"))  # TEMPORARY: the instance is gone for good after this
        # This call is queued behind the crash, dropped with ActorStopped, and retried on a
        # fresh instance.
        assert await fleet.ask("a", "retry") == "a:retry#2"
        assert ref.closed
        assert fleet.registry.lookup("a") is not ref
        assert trio.current_time() == 0.0
        nursery.cancel_scope.cancel()


async def test_escalation_forgets_keys_and_fails_queued_calls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup", intensity=0, period=5)
    fleet = Fleet(sup)
    escalations: list[SupervisorEscalation] = []

    async def supervise(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await sup.run(task_status=task_status)
        except SupervisorEscalation as exc:
            escalations.append(exc)

    async with trio.open_nursery() as nursery:
        await nursery.start(supervise)
        await fleet.registry.get("b")
        ref = await fleet.registry.get("a")
        queued: Reply[str] = Reply()
        ref.send_nowait(Msg("crash"))
        ref.send_nowait(Msg("queued", queued))
        with pytest.raises(ActorStopped, match="gone"):
            await queued.wait()
    assert len(escalations) == 1
    assert fleet.registry.keys() == []
    assert ref.closed
    assert trio.current_time() == 0.0


async def test_failed_start_reaches_the_caller_and_is_forgotten() -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(Boom, match="cannot start"):
            await fleet.registry.get("broken")
        assert fleet.registry.keys() == []
        assert sup.children() == []
        with pytest.raises(Boom):  # a later get tries again
            await fleet.registry.get("broken")
        assert fleet.instances == {"broken": 2}
        nursery.cancel_scope.cancel()


async def test_waiters_on_a_failed_start_get_actor_stopped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor("sup")
    fleet = Fleet(sup, startup=1)
    outcomes: list[str] = []

    async def getter() -> None:
        try:
            await fleet.registry.get("broken")
        except Boom:
            outcomes.append("boom")
        except ActorStopped:
            outcomes.append("stopped")

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        async with trio.open_nursery() as getters:
            for _ in range(3):
                getters.start_soon(getter)
        assert sorted(outcomes) == ["boom", "stopped", "stopped"]
        assert fleet.instances == {"broken": 1}
        nursery.cancel_scope.cancel()


def test_registry_refuses_an_empty_mailbox() -> None:
    with pytest.raises(ValueError, match="mailbox_size"):
        Registry(Supervisor("sup"), Fleet(Supervisor("x")).factory, mailbox_size=0)
