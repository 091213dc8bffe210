"""An Erlang/OTP-style one_for_one supervisor on trio.

A ``Supervisor`` runs children (long-lived async functions started with ``nursery.start``) and
restarts the one that fails, leaving its siblings alone. Restarts are bounded: more than
``intensity`` restarts within ``period`` seconds (measured with ``trio.current_time()``, so
``MockClock`` drives it) means something is wrong that restarting will not fix, and the
supervisor gives up: it stops every child and raises ``SupervisorEscalation`` to its own
parent. Children start in order and stop in reverse order, one at a time.

How stopping in order works: every child runs inside its own cancel scope, which becomes
shielded once the child has started, so cancelling the supervisor does not reach the children
all at once; the supervisor then cancels them one by one, newest first, and waits for each.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

__all__ = [
    "ChildSpec",
    "Restart",
    "Supervisor",
    "SupervisorEscalation",
    "SupervisorStatistics",
]

logger = logging.getLogger(__name__)


class Restart(enum.Enum):
    """When a child that ended is started again (Erlang's restart types)."""

    #: Always restarted, whether it returned or raised: a service that must be there.
    PERMANENT = "permanent"
    #: Restarted only after an exception; a normal return means its work is done.
    TRANSIENT = "transient"
    #: Never restarted; it is removed however it ended.
    TEMPORARY = "temporary"


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child.

    Attributes:
        name: Unique among the supervisor's live children.
        start: ``async def start(*, task_status)``; runs the child for its whole life and calls
            ``task_status.started(value)`` once it is ready. Errors before that reach whoever
            started it (``Supervisor.run`` or ``Supervisor.start_child``).
        restart: When to restart it.
        on_removed: Optional hook, called synchronously once when the supervisor forgets this
            child for good: it ended and is not restarted, was stopped with ``stop_child``, the
            supervisor gave up, or the supervisor shut down. Its argument is the child's last
            error, or None. Not called when the child's first start fails (the caller gets that
            error). It must not block; an exception from it is logged.
    """

    name: str
    start: Callable[..., Awaitable[None]]
    restart: Restart = Restart.PERMANENT
    on_removed: Callable[[Exception | None], None] | None = None


class SupervisorEscalation(Exception):
    """A supervisor gave up: too many restarts within its period.

    Attributes:
        supervisor: The supervisor's name.
        child: The child whose failure crossed the limit.

    The child's last error is the ``__cause__`` (None if it returned normally).
    """

    def __init__(self, supervisor: str, child: str, restarts: int, period: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gave up: child {child!r} needed more than "
            f"{restarts} restart(s) within {period} s"
        )
        self.supervisor = supervisor
        self.child = child


@dataclass(frozen=True)
class SupervisorStatistics:
    """A snapshot of a supervisor.

    Attributes:
        restarts_total: Restarts since ``run`` began.
        live_children: Children currently supervised (running or being restarted).
    """

    restarts_total: int
    live_children: int


@dataclass(eq=False)
class _Instance:
    """One run of a child: its cancel scope and whether it has finished."""

    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    started: bool = False


@dataclass(eq=False)
class _Slot:
    """A supervised child across its restarts; keeps its place in the start order."""

    spec: ChildSpec
    instance: _Instance | None = None
    removed: bool = False  # stopped or given up: never restart
    forgotten: bool = False  # on_removed has run


class _ChildStatus:
    """The ``task_status`` given to a child: shields the child once it has started."""

    def __init__(self, inner: trio.TaskStatus[Any], instance: _Instance) -> None:
        self._inner = inner
        self._instance = instance

    def started(self, value: Any = None) -> None:
        self._instance.started = True
        self._instance.scope.shield = True
        self._inner.started(value)


class Supervisor:
    """A one_for_one supervisor.

    Args:
        name: For logs and errors.
        intensity: Restarts allowed within ``period``; one more makes the supervisor give up.
        period: The sliding window, in seconds, over which restarts are counted.
    """

    def __init__(self, name: str, *, intensity: int = 3, period: float = 5.0) -> None:
        if intensity < 0:
            raise ValueError(f"intensity must be >= 0, got {intensity}")
        if period <= 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.name = name
        self._intensity = intensity
        self._period = period
        self._nursery: trio.Nursery | None = None  # set while run is running
        self._slots: dict[str, _Slot] = {}  # insertion order is start order
        self._restart_times: deque[float] = deque()
        self._restarts_total = 0
        self._closing = True  # until run starts: refuse start_child
        self._escalation: SupervisorEscalation | None = None
        self._give_up = trio.Event()

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} children={self.children()}>"

    async def run(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start ``children`` in order, report started, then supervise until cancelled.

        Each child is fully started before the next one starts. On cancellation the children
        are stopped in reverse start order, each awaited before the next. Once ``run`` has
        ended it may be called again (a parent supervisor restarting this one): it starts
        afresh with the given children and an empty restart history.

        Raises:
            SupervisorEscalation: Too many restarts; every child has been stopped.
            RuntimeError: ``run`` is already running.
            Exception: Whatever a child raised during its initial start (the children
                started before it are stopped first).
        """
        if self._nursery is not None:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._closing = False
        self._escalation = None
        self._give_up = trio.Event()
        self._restart_times.clear()
        startup_error: Exception | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    for spec in children:
                        try:
                            await self._start(spec)
                        except Exception as exc:
                            # Raised once the nursery is closed, so it is not wrapped in a group.
                            startup_error = exc
                            break
                    else:
                        task_status.started(self)
                        await self._give_up.wait()
                finally:
                    self._closing = True
                    with trio.CancelScope(shield=True):
                        await self._stop_all()
        finally:
            self._nursery = None
        if startup_error is not None:
            raise startup_error
        if self._escalation is not None:
            raise self._escalation

    async def start_child(self, spec: ChildSpec) -> Any:
        """Add a child to a running supervisor and start it.

        Returns:
            What the child passed to ``task_status.started``.

        Raises:
            ValueError: A live child already has this name.
            RuntimeError: The supervisor is not running (or is shutting down).
            Exception: Whatever the child raised before it finished starting.
        """
        if self._nursery is None or self._closing:
            raise RuntimeError(f"supervisor {self.name!r} is not running")
        return await self._start(spec)

    def stop_child(self, name: str) -> None:
        """Cancel a child and forget it: it is not restarted.

        Does not wait for the child to finish. A name that is not live is ignored (the child
        may just have ended on its own).
        """
        slot = self._slots.get(name)
        if slot is None:
            logger.debug("supervisor %r: stop_child(%r): no such child", self.name, name)
            return
        slot.removed = True
        del self._slots[name]
        if slot.instance is not None:
            slot.instance.scope.cancel()
        logger.info("supervisor %r: stopping child %r", self.name, name)

    def children(self) -> list[str]:
        """Names of the live children (running or being restarted), in start order."""
        return list(self._slots)

    def statistics(self) -> SupervisorStatistics:
        """Restarts so far and how many children are live."""
        return SupervisorStatistics(
            restarts_total=self._restarts_total, live_children=len(self._slots)
        )

    async def _start(self, spec: ChildSpec) -> Any:
        """Register a new child and start its first instance (errors go to the caller)."""
        assert self._nursery is not None
        if spec.name in self._slots:
            raise ValueError(f"supervisor {self.name!r} already has a child {spec.name!r}")
        slot = _Slot(spec)
        self._slots[spec.name] = slot
        started = False
        try:
            value = await self._nursery.start(self._run_instance, slot)
            started = True
        finally:
            if not started:
                # Failed or cancelled: drop it without on_removed (the caller gets the error).
                if self._slots.get(spec.name) is slot:
                    del self._slots[spec.name]
                slot.removed = slot.forgotten = True
        logger.info("supervisor %r: started child %r", self.name, spec.name)
        return value

    async def _run_instance(self, slot: _Slot, task_status: trio.TaskStatus[Any]) -> None:
        """Run one instance of a child, then decide whether it is restarted."""
        if slot.removed or self._closing:
            raise RuntimeError(f"child {slot.spec.name!r} was stopped before it started")
        instance = _Instance()
        slot.instance = instance
        error: Exception | None = None
        try:
            with instance.scope:
                await slot.spec.start(task_status=_ChildStatus(task_status, instance))
            if not instance.started:
                raise RuntimeError(f"child {slot.spec.name!r} was stopped before it started")
        except Exception as exc:
            if not instance.started:
                raise  # start-up error: nursery.start raises it in whoever started us
            error = exc
            logger.exception("supervisor %r: child %r crashed", self.name, slot.spec.name)
        finally:
            instance.done.set()
        await self._after_exit(slot, error)

    async def _after_exit(self, slot: _Slot, error: Exception | None) -> None:
        """Restart the child that ended if its restart type and the intensity allow it.

        Unless a new instance took over, the child is forgotten on the way out, cancellation
        (supervisor shutting down during a restart) included.
        """
        name = slot.spec.name
        restarted = False
        try:
            while True:
                if slot.removed or self._closing:
                    return
                restart = slot.spec.restart
                if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and error is None):
                    logger.info("supervisor %r: child %r ended, not restarted", self.name, name)
                    return
                if not self._note_restart():
                    self._escalate(name, error)
                    return
                logger.info("supervisor %r: restarting child %r", self.name, name)
                try:
                    await self._nursery_start(slot)
                except Exception as exc:
                    if not (slot.removed or self._closing):
                        # Counts as one more crash: the loop checks the intensity again.
                        logger.exception("supervisor %r: restart of %r failed", self.name, name)
                        error = exc
                    continue
                restarted = True
                return
        finally:
            if not restarted:
                self._forget(slot, error)

    async def _nursery_start(self, slot: _Slot) -> None:
        assert self._nursery is not None
        await self._nursery.start(self._run_instance, slot)

    def _note_restart(self) -> bool:
        """Count a restart now; False if it is one too many within the period."""
        now = trio.current_time()
        times = self._restart_times
        times.append(now)
        while times and now - times[0] >= self._period:
            times.popleft()
        if len(times) > self._intensity:
            return False
        self._restarts_total += 1
        return True

    def _escalate(self, child: str, error: Exception | None) -> None:
        logger.error(
            "supervisor %r: giving up after too many restarts of %r (intensity %d in %s s)",
            self.name,
            child,
            self._intensity,
            self._period,
        )
        escalation = SupervisorEscalation(self.name, child, self._intensity, self._period)
        escalation.__cause__ = error
        self._escalation = escalation
        self._closing = True
        self._give_up.set()

    def _forget(self, slot: _Slot, error: Exception | None) -> None:
        """Remove a child for good and run its ``on_removed`` hook, once."""
        name = slot.spec.name
        if self._slots.get(name) is slot:
            del self._slots[name]
        slot.removed = True
        if slot.forgotten:
            return
        slot.forgotten = True
        hook = slot.spec.on_removed
        if hook is None:
            return
        try:
            hook(error)
        except Exception:
            logger.exception("supervisor %r: on_removed hook of %r failed", self.name, name)

    async def _stop_all(self) -> None:
        """Stop the live children in reverse start order, each awaited before the next."""
        for slot in reversed(list(self._slots.values())):
            slot.removed = True
            instance = slot.instance
            if instance is not None and not instance.done.is_set():
                logger.info("supervisor %r: stopping child %r", self.name, slot.spec.name)
                instance.scope.cancel()
                await instance.done.wait()
        self._slots.clear()
