"""RecipeScheduler: runs automation recipes on the event log and on durable timers.

An event-log consumer (DESIGN.md sections 3 and 5; name ``recipes``, durable cursor).
For each event it arms or cancels the timers of timer recipes (actors/recipe_timers.py)
and runs the recipes the event triggers (actors/recipe_events.py): a new conversation, a
new public message, a status change, an added tag. Only recipes created before the
event take part (``after_event``): replaying the log never runs a new recipe on the
past. :meth:`run` is the timer loop: it sleeps until the earliest timer is due (on the
system clock, ``SystemConfig.clock``), wakes when timers change, and runs that recipe on
that conversation. How one run happens, at most once per trigger, is
actors/recipe_runner.py.

Restarts: timers are rows, so on start the loop fires the overdue ones at once; runs a
stop interrupted are finished first, from their stored plan. A timer only fires once
every event up to its due time was handled, so an attendee reply committed just before
a restart still cancels it.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import trio

from actors import recipe_facts, recipe_runs, recipe_timers
from actors.consumer import get_cursor
from actors.recipe_claim import Occasion
from actors.recipe_defs import Recipe, active_recipes, get_recipe
from actors.recipe_events import RELEVANT_EVENTS, cause_of, fires, message_facts, timer_effect
from actors.recipe_model import RecipeDefinition
from actors.recipe_runner import RecipeRunner
from actors.recipe_timers import MINUTE_MS, Timer
from actors.records import NotFound
from actors.store import StoredEvent, StoreError
from actors.system import System

log = logging.getLogger(__name__)

#: Where the server keeps the running scheduler for the REST handlers (``app.config``).
CONFIG_KEY = "switchboard.recipe_scheduler"
#: The consumer's name: the key of its durable cursor.
CONSUMER_NAME = "recipes"
#: Seconds before a run an error left ``running`` (or a timer that failed to fire) is
#: tried again: long enough not to hammer a failing conversation, short enough to matter.
RETRY_INTERVAL = 60.0


class RecipeScheduler:
    """The recipe consumer and timer loop (see module docstring).

    Args:
        system: the running System; ``system.add_consumer(scheduler)`` before it runs, and
            run :meth:`run` under its supervisor. Recipe webhook deliveries are sent (and
            SSRF-checked) by the WebhookDispatcher, not here.
    """

    name = CONSUMER_NAME
    live_only = False

    def __init__(self, system: System) -> None:
        self._system = system
        self._store = system.store
        self.runner = RecipeRunner(system)
        self._timers_changed = trio.Event()
        self._progress = trio.Event()
        #: The newest event :meth:`handle` finished (timers wait for it).
        self._handled = 0
        #: When runs left ``running`` by an error are tried again (trio time), if any.
        self._retry_at: float | None = None

    def _now(self) -> int:
        return self._system.config.clock()

    def recipes_changed(self) -> None:
        """Look at the timers again (REST calls it after any save: a recipe disabled,
        deleted or given other minutes changes what is due)."""
        self._timers_changed.set()

    async def test_run(
        self, definition: RecipeDefinition, conversation_id: str, recipe: Recipe | None = None
    ) -> dict[str, Any]:
        """What ``definition`` would do on a conversation now; writes nothing (see
        :meth:`RecipeRunner.test_run`).

        Raises:
            NotFound: the conversation does not exist.
        """
        return await self.runner.test_run(definition, conversation_id, recipe)

    # -- the consumer ------------------------------------------------------------------------

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        """Arm/cancel timers and run the recipes ``events`` trigger (idempotent)."""
        wanted = [e for e in events if e.type in RELEVANT_EVENTS and e.conversation]
        # Read after the events were: a recipe created before one of them is visible now.
        recipes = await self._store.read(active_recipes) if wanted else []
        if recipes:
            # Every timer change of the batch in one write (they carry their event ids,
            # so their order within the write is all that matters).
            ops = [op for event in wanted for op in recipe_timers.ops_for(event, recipes)]
            if ops:
                changed = await self._store.write(functools.partial(recipe_timers.apply, ops=ops))
                if changed:
                    self._timers_changed.set()
            for event in wanted:
                await self._run_triggered(event, recipes)
        if events:
            self._handled = max(self._handled, events[-1].id)
            self._progress.set()
            self._progress = trio.Event()

    async def _run_triggered(self, event: StoredEvent, recipes: list[Recipe]) -> None:
        assert event.conversation is not None
        occasion: Occasion | None = None
        for recipe in recipes:
            trigger = recipe.definition.trigger
            if recipe.after_event >= event.id or trigger.is_timer:
                continue
            if not fires(trigger.type, trigger.status, trigger.tag, event):
                continue
            if occasion is None:
                message = message_facts(event.payload) if event.type == "message.posted" else None
                occasion = Occasion(
                    event.conversation,
                    recipe_runs.event_key(event.id),
                    event.id,
                    message,
                    cause_of(event),
                )
            try:
                await self.runner.run_recipe(recipe, occasion)
            except StoreError:
                raise  # the database is in trouble: restart from the cursor
            except Exception:
                # A bug (or a conversation actor timing out) must not crash-loop the
                # consumer; a claimed run stays ``running`` and is tried again later.
                log.exception("recipes.run_failed recipe=%s event=%d", recipe.id, event.id)
                self._retry_later()

    def _retry_later(self) -> None:
        """Try the runs left ``running`` again after RETRY_INTERVAL."""
        if self._retry_at is None:
            self._retry_at = trio.current_time() + RETRY_INTERVAL
            self._timers_changed.set()

    # -- the timer loop ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Finish runs a stop interrupted, then fire timers as they fall due, forever."""
        stored = await self._store.read(functools.partial(get_cursor, name=self.name))
        self._handled = max(self._handled, stored or 0)
        task_status.started()
        await self._resume()
        while True:
            self._timers_changed = trio.Event()
            if self._retry_at is not None and trio.current_time() >= self._retry_at:
                self._retry_at = None
                await self._resume()
            now = self._now()
            due = await self._store.read(functools.partial(recipe_timers.due_timers, now=now))
            for timer in due:
                await self._wait_caught_up(timer.due_at)
                await self._fire_guarded(timer, now)
            if due:
                continue
            next_due = await self._store.read(recipe_timers.next_due)
            waits = [] if next_due is None else [(next_due - self._now()) / 1000]
            if self._retry_at is not None:
                waits.append(self._retry_at - trio.current_time())
            if not waits:
                await self._timers_changed.wait()
                continue
            with trio.move_on_after(max(0.0, min(waits))):
                await self._timers_changed.wait()

    async def _resume(self) -> None:
        resumed, stuck = await self.runner.resume_running()
        if resumed or stuck:
            log.info("recipes.resumed runs=%d still_running=%d", resumed, stuck)
        if stuck:
            self._retry_later()

    async def _wait_caught_up(self, due_at: int) -> None:
        """Wait until every event up to ``due_at`` was handled: one of them may cancel the
        timer."""
        while True:
            pending = await self._store.read(
                functools.partial(_first_event_after, after=self._handled)
            )
            if pending is None or pending[1] > due_at:
                return
            await self._progress.wait()

    async def _fire_guarded(self, timer: Timer, now: int) -> None:
        try:
            await self._fire(timer, now)
        except StoreError:
            raise
        except Exception:
            log.exception(
                "recipes.timer_failed recipe=%s conversation=%s",
                timer.recipe_id,
                timer.conversation_id,
            )
            # Not due again at once (the loop would spin on it): after RETRY_INTERVAL.
            later = now + int(RETRY_INTERVAL * 1000)
            await self._store.write(
                functools.partial(recipe_timers.reschedule, timer=timer, due_at=later)
            )
            self._retry_later()

    async def _fire(self, timer: Timer, now: int) -> None:
        """Run the timer's recipe on its conversation (or drop or move a stale timer)."""
        try:
            recipe: Recipe | None = await self._store.read(
                functools.partial(get_recipe, recipe_id=timer.recipe_id)
            )
        except NotFound:
            recipe = None
        trigger = None if recipe is None else recipe.definition.trigger
        if (
            recipe is None
            or trigger is None
            or trigger.minutes is None
            or not recipe.enabled
            or timer.anchor_event <= recipe.after_event  # armed before it was enabled again
        ):
            await self._store.write(functools.partial(recipe_timers.take, timer=timer))
            return
        due_at = timer.anchor_at + trigger.minutes * MINUTE_MS
        if due_at > now:  # the recipe's minutes grew since the timer was armed
            await self._store.write(
                functools.partial(recipe_timers.reschedule, timer=timer, due_at=due_at)
            )
            return
        anchor = await self._store.read(
            functools.partial(recipe_facts.read_event, event_id=timer.anchor_event)
        )
        if anchor is None or timer_effect(trigger.type, anchor) != "arm":
            # The recipe's trigger changed since: this event does not start its timer.
            await self._store.write(functools.partial(recipe_timers.take, timer=timer))
            return
        message = message_facts(anchor.payload) if anchor.type == "message.posted" else None
        occasion = Occasion(
            timer.conversation_id,
            recipe_runs.timer_key(timer.conversation_id, timer.anchor_event),
            timer.anchor_event,
            message,
            cause_of(anchor),
            timer,
        )
        await self.runner.run_recipe(recipe, occasion)


def _first_event_after(conn: sqlite3.Connection, after: int) -> tuple[int, int] | None:
    """(id, ts) of the first event after ``after``."""
    row = conn.execute(
        "SELECT id, ts FROM events WHERE id > ? ORDER BY id LIMIT 1", (after,)
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))
