"""Tests for actors.supervisor: order, one_for_one restarts, restart types and intensity."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from actors.supervisor import (
    ChildSpec,
    Restart,
    Supervisor,
    SupervisorEscalation,
    SupervisorStatistics,
)


class Boom(Exception):
    """The failure our test children raise."""


class Recorder:
    """Builds test children and records what they do, with the virtual time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.starts: dict[str, int] = {}

    def log(self, what: str) -> None:
        self.events.append((trio.current_time(), what))

    def names(self) -> list[str]:
        return [what for _, what in self.events]

    def child(
        self,
        name: str,
        *,
        restart: Restart = Restart.PERMANENT,
        startup: float = 0.0,
        cleanup: float = 0.0,
        value: Any = None,
        life: Callable[[int], Awaitable[None]] | None = None,
        on_removed: Callable[[Exception | None], None] | None = None,
    ) -> ChildSpec:
        """A child that takes ``startup`` s to start, then runs ``life(run_number)`` (default:
        forever), and takes ``cleanup`` s (shielded) to stop when cancelled."""

        async def start(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            run = self.starts[name] = self.starts.get(name, 0) + 1
            self.log(f"start {name}")
            await trio.sleep(startup)
            task_status.started(value)
            try:
                if life is None:
                    await trio.sleep_forever()
                else:
                    await life(run)
            finally:
                with trio.CancelScope(shield=True):
                    await trio.sleep(cleanup)
                self.log(f"stop {name}")

        return ChildSpec(name, start, restart, on_removed)


def crash_every(seconds: float) -> Callable[[int], Awaitable[None]]:
    async def life(run: int) -> None:
        await trio.sleep(seconds)
        raise Boom(f"crash {run}")

    return life


def first_run(ending: str, after: float = 1.0) -> Callable[[int], Awaitable[None]]:
    """The first run ends (``"return"`` or ``"crash"``) after ``after`` s; later runs live on."""

    async def life(run: int) -> None:
        if run == 1:
            await trio.sleep(after)
            if ending == "crash":
                raise Boom("first run")
            return
        await trio.sleep_forever()

    return life


async def test_children_start_in_order_and_stop_in_reverse_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    specs = [rec.child(n, startup=1, cleanup=1) for n in ("a", "b", "c")]
    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        assert await nursery.start(sup.run, specs) is sup
        assert trio.current_time() == 3.0  # each child fully started before the next
        assert sup.children() == ["a", "b", "c"]
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert rec.events == [
        (0.0, "start a"),
        (1.0, "start b"),
        (2.0, "start c"),
        (5.0, "stop c"),  # each one stopped and awaited before the next
        (6.0, "stop b"),
        (7.0, "stop a"),
    ]
    assert sup.children() == []


async def test_one_for_one_restarts_only_the_failed_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    sup = Supervisor("sup")
    specs = [rec.child("crashy", life=first_run("crash")), rec.child("steady")]
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run, specs)
        await trio.sleep(5)
        assert rec.starts == {"crashy": 2, "steady": 1}
        assert sup.children() == ["crashy", "steady"]  # the restarted child keeps its place
        assert sup.statistics() == SupervisorStatistics(restarts_total=1, live_children=2)
        nursery.cancel_scope.cancel()
    assert rec.events == [
        (0.0, "start crashy"),
        (0.0, "start steady"),
        (1.0, "stop crashy"),
        (1.0, "start crashy"),
        (5.0, "stop steady"),
        (5.0, "stop crashy"),
    ]


@pytest.mark.parametrize(
    ("restart", "ending", "restarted"),
    [
        (Restart.PERMANENT, "return", True),
        (Restart.PERMANENT, "crash", True),
        (Restart.TRANSIENT, "return", False),
        (Restart.TRANSIENT, "crash", True),
        (Restart.TEMPORARY, "return", False),
        (Restart.TEMPORARY, "crash", False),
    ],
)
async def test_restart_types(
    autojump_clock: trio.testing.MockClock, restart: Restart, ending: str, restarted: bool
) -> None:
    rec = Recorder()
    removed: list[Exception | None] = []
    sup = Supervisor("sup")
    spec = rec.child("c", restart=restart, life=first_run(ending), on_removed=removed.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run, [spec])
        await trio.sleep(2)
        assert rec.starts["c"] == (2 if restarted else 1)
        assert sup.children() == (["c"] if restarted else [])
        assert sup.statistics().restarts_total == (1 if restarted else 0)
        if not restarted:
            assert len(removed) == 1
            assert isinstance(removed[0], Boom) == (ending == "crash")
        nursery.cancel_scope.cancel()
    assert len(removed) == 1  # on_removed runs once, at the latest on shutdown


async def test_too_many_restarts_escalate_and_stop_everything(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    removed: list[str] = []
    sup = Supervisor("sup", intensity=3, period=5)
    specs = [
        rec.child("first", on_removed=lambda e: removed.append("first")),
        rec.child("crashy", life=crash_every(1)),
        rec.child("last", on_removed=lambda e: removed.append("last")),
    ]
    with pytest.raises(SupervisorEscalation, match="'crashy'") as excinfo:
        await sup.run(specs)
    assert trio.current_time() == 4.0  # the 4th crash within 5 s
    assert excinfo.value.supervisor == "sup"
    assert excinfo.value.child == "crashy"
    assert isinstance(excinfo.value.__cause__, Boom)
    assert str(excinfo.value.__cause__) == "crash 4"
    assert rec.starts == {"first": 1, "crashy": 4, "last": 1}
    assert rec.names()[-3:] == ["stop crashy", "stop last", "stop first"]
    assert removed == ["last", "first"]
    assert sup.children() == []
    assert sup.statistics() == SupervisorStatistics(restarts_total=3, live_children=0)


async def test_escalation_reaches_the_parent_nursery_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    sup = Supervisor("sup", intensity=0, period=5)
    with pytest.RaisesGroup(SupervisorEscalation):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run, [rec.child("crashy", life=crash_every(1))])
    assert trio.current_time() == 1.0


async def test_crashes_spaced_beyond_the_period_never_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    sup = Supervisor("sup", intensity=3, period=5)
    with trio.move_on_after(21):
        await sup.run([rec.child("crashy", life=crash_every(2))])
    assert trio.current_time() == 21.0
    assert rec.starts == {"crashy": 11}  # crashes at 2, 4, ..., 20, all restarted
    assert sup.statistics().restarts_total == 10


async def test_failing_restart_counts_as_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs = 0

    async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            raise Boom(f"cannot start {runs}")
        task_status.started()
        await trio.sleep(1)
        raise Boom("crash")

    sup = Supervisor("sup", intensity=3, period=5)
    with pytest.raises(SupervisorEscalation) as excinfo:
        await sup.run([ChildSpec("c", start)])
    assert trio.current_time() == 1.0
    assert runs == 4
    assert str(excinfo.value.__cause__) == "cannot start 4"


async def test_initial_start_error_propagates_out_of_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()

    async def broken(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)
        raise Boom("no database")

    sup = Supervisor("sup")
    specs = [rec.child("a"), ChildSpec("broken", broken), rec.child("c")]
    async with trio.open_nursery() as nursery:
        with pytest.raises(Boom, match="no database"):
            await nursery.start(sup.run, specs)
    assert rec.events == [(0.0, "start a"), (1.0, "stop a")]
    assert sup.children() == []


async def test_start_child_returns_started_value_and_refuses_duplicates() -> None:
    rec = Recorder()
    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert await sup.start_child(rec.child("dyn", value="ready")) == "ready"
        assert sup.children() == ["dyn"]
        with pytest.raises(ValueError, match="'dyn'"):
            await sup.start_child(rec.child("dyn"))
        assert rec.starts == {"dyn": 1}
        nursery.cancel_scope.cancel()
    assert rec.names() == ["start dyn", "stop dyn"]


async def test_start_child_error_reaches_the_caller() -> None:
    async def broken(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.lowlevel.checkpoint()
        raise Boom("bad config")

    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(Boom, match="bad config"):
            await sup.start_child(ChildSpec("broken", broken))
        assert sup.children() == []
        nursery.cancel_scope.cancel()


async def test_start_child_needs_a_running_supervisor() -> None:
    sup = Supervisor("sup")
    with pytest.raises(RuntimeError, match="not running"):
        await sup.start_child(Recorder().child("x"))


async def test_stop_child_stops_without_restart(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    removed: list[Exception | None] = []
    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run, [rec.child("a", on_removed=removed.append), rec.child("b")])
        await trio.sleep(1)
        sup.stop_child("a")
        assert sup.children() == ["b"]
        await trio.sleep(1)
        assert rec.starts == {"a": 1, "b": 1}
        assert removed == [None]
        sup.stop_child("a")  # no longer there: ignored
        assert sup.statistics() == SupervisorStatistics(restarts_total=0, live_children=1)
        nursery.cancel_scope.cancel()
    assert rec.names() == ["start a", "start b", "stop a", "stop b"]


async def test_a_crash_is_logged_once(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    sup = Supervisor("sup")
    with caplog.at_level(logging.INFO, logger="actors.supervisor"):
        with trio.move_on_after(1.5):
            await sup.run([rec.child("crashy", life=first_run("crash"))])
    crashes = [r for r in caplog.records if r.exc_info is not None]
    assert len(crashes) == 1
    assert "crashy" in crashes[0].getMessage()


async def test_nested_supervisor_is_restarted_then_parent_escalates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    inner = Supervisor("inner", intensity=1, period=10)
    outer = Supervisor("outer", intensity=1, period=10)

    async def run_inner(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        await inner.run([rec.child("crashy", life=crash_every(1))], task_status=task_status)

    with pytest.raises(SupervisorEscalation) as excinfo:
        await outer.run([ChildSpec("inner", run_inner)])
    # inner gives up at its 2nd crash (t=2); outer restarts it; it gives up again at t=4.
    assert trio.current_time() == 4.0
    assert excinfo.value.child == "inner"
    assert isinstance(excinfo.value.__cause__, SupervisorEscalation)
    assert rec.starts == {"crashy": 4}
    assert outer.statistics().restarts_total == 1


def test_supervisor_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="intensity"):
        Supervisor("s", intensity=-1)
    with pytest.raises(ValueError, match="period"):
        Supervisor("s", period=0)


async def test_shutdown_during_a_slow_restart_does_not_hang(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs = 0
    removed: list[Exception | None] = []

    async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        if runs > 1:
            await trio.sleep(100)  # the restart takes long to start
        task_status.started()
        await trio.sleep(1)
        raise Boom("crash")

    sup = Supervisor("sup")
    with trio.move_on_after(2):
        await sup.run([ChildSpec("c", start, on_removed=removed.append)])
    assert trio.current_time() == 2.0
    assert runs == 2
    assert len(removed) == 1
    assert sup.children() == []


async def test_stop_child_during_its_start_fails_the_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)

        async def stop_soon() -> None:
            await trio.sleep(1)
            sup.stop_child("slow")

        nursery.start_soon(stop_soon)
        with pytest.raises(RuntimeError, match="stopped before it started"):
            await sup.start_child(rec.child("slow", startup=10))
        assert trio.current_time() == 1.0
        assert sup.children() == []
        nursery.cancel_scope.cancel()


async def test_run_refuses_to_run_twice_at_once() -> None:
    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(RuntimeError, match="already running"):
            await sup.run()
        nursery.cancel_scope.cancel()


async def test_error_while_stopping_is_logged_not_restarted(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    starts = 0

    async def start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal starts
        starts += 1
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            raise Boom("messy cleanup")

    sup = Supervisor("sup")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run, [ChildSpec("c", start)])
        sup.stop_child("c")
        await trio.sleep(1)
        assert starts == 1
        assert sup.children() == []
        nursery.cancel_scope.cancel()
    assert any("messy cleanup" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
