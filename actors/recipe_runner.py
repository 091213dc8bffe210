"""RecipeRunner: one recipe run, at most once per (recipe, trigger), and the test run.

The scheduler (actors/recipe_scheduler.py) decides *when* a recipe runs: an event of
the log, or a timer. This module is *how*:

1. Assess (actors/recipe_facts.py): scope, filter and business hours against the
   conversation now. No match: nothing is written at all. A match outside the business
   hours, or at the end of a chain of recipes too deep (recipe_events.MAX_CHAIN_DEPTH),
   is recorded as a *skipped* run. A recipe never runs for its own doing (its id in the
   trigger's cause chain): nothing is written either.
2. Plan every action (``recipe_actions.plan_action``: reads only, the decisions made).
3. Claim, in ONE transaction (actors/recipe_claim.py): the ``recipe_runs`` row (unique
   per recipe and trigger key, state ``running``, the plan, the queued results) plus
   every action's queued effects (``enqueue_action``: notifications, webhook deliveries,
   drafts, ...) and, for a timer, the timer's removal. A row that exists already means
   the trigger was handled: nothing more, unless it is still ``running`` (the process
   stopped mid-run); then its *stored* plan is performed again, never a new one.
4. Perform the direct effects (``perform_action``: updates carrying the run's cause,
   replies with ``client_msg_id`` ``recipe:<run>:<index>``, ...), all idempotent.
5. Post the history entry (an internal ``event`` message by the recipe's bot,
   ``client_msg_id`` ``run:<run>``, so posting it again stores nothing), then finalise the
   row (done, failed or skipped, with the results). A skipped run goes the same way with
   its reason and an empty plan, so its history entry cannot be lost either.

A crash anywhere after the claim is finished on the next start (:meth:`resume_running`)
or when the event is handed again, with the same plan and the same run id, so a replayed
event log sends no second reply, stores no second webhook delivery, writes no second
history entry. Runs happen one at a time (a lock): a replayed event and a resumed run
never perform the same plan side by side.

Error handling: an action that raises while planned is skipped, while performed is
``failed``, with the error in the run's results, and the others go on; a StoreError (the
database is in trouble) propagates and leaves the run ``running``, to be resumed.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

import trio

from actors import recipe_facts, recipe_runs, recipe_timers, search_indexer
from actors.recipe_actions import Planned, RunContext, perform_action, plan_action
from actors.recipe_claim import Occasion, claim_run
from actors.recipe_defs import Recipe, get_recipe
from actors.recipe_events import MAX_CHAIN_DEPTH, Cause, cause_of, message_facts
from actors.recipe_facts import Assessment
from actors.recipe_model import Action, RecipeDefinition, parse_recipe
from actors.recipe_runs import Run
from actors.records import NewMessage, NotFound
from actors.slack_plan import CONSOLE_PATH
from actors.store import StoreError
from actors.system import System

log = logging.getLogger(__name__)


class RecipeRunner:
    """Runs recipes for the scheduler (see module docstring)."""

    def __init__(self, system: System) -> None:
        self._system = system
        self._store = system.store
        self._lock = trio.Lock()

    def _now(self) -> int:
        return self._system.config.clock()

    async def run_recipe(self, recipe: Recipe, occasion: Occasion) -> Run | None:
        """Run ``recipe`` for ``occasion`` at most once (see module docstring); return the
        run, or None when the recipe did not apply."""
        async with self._lock:
            existing = await self._store.read(
                functools.partial(
                    recipe_runs.find_run, recipe_id=recipe.id, trigger_key=occasion.trigger_key
                )
            )
            if existing is not None:
                await self._drop_timer(occasion)
                if existing.state == "running":
                    await self._resume_locked(existing)
                return existing
            if occasion.cause.names(recipe.id):
                await self._drop_timer(occasion)  # its own doing: never re-triggered by it
                return None
            if recipe.definition.filter.type == "saved":
                await search_indexer.catch_up(self._store)  # a saved search sees the message
            now = self._now()
            try:
                assessment = await self._store.read(
                    functools.partial(
                        recipe_facts.assess,
                        definition=recipe.definition,
                        conversation_id=occasion.conversation,
                        message=occasion.message,
                        now_ms=now,
                    )
                )
            except NotFound:
                await self._drop_timer(occasion)
                return None
            if not assessment.matched:
                await self._drop_timer(occasion)
                return None
            return await self._claim_and_perform(recipe, occasion, assessment, now)

    async def _claim_and_perform(
        self, recipe: Recipe, occasion: Occasion, assessment: Assessment, now: int
    ) -> Run | None:
        reason = None
        if occasion.cause.depth >= MAX_CHAIN_DEPTH:
            reason = (
                f"chain too deep: {occasion.cause.depth} recipes in a row triggered this "
                f"(at most {MAX_CHAIN_DEPTH})"
            )
        elif not assessment.hours.ok:
            reason = assessment.hours.reason
        run_id = recipe_runs.run_id_for(recipe.id, occasion.trigger_key)
        ctx = self._context(recipe, run_id, occasion, assessment.facts, now)
        planned = [] if reason else [
            await self._plan_one(ctx, index, action)
            for index, action in enumerate(recipe.definition.actions)
        ]  # fmt: skip
        claimed = await self._store.write(
            functools.partial(
                claim_run, ctx=ctx, occasion=occasion, checks=assessment.checks,
                planned=planned, reason=reason,
            )
        )  # fmt: skip
        if claimed is None:
            return None  # the timer was cancelled or re-armed meanwhile
        run, new = claimed
        if new:
            await self._perform(run, ctx, planned, recipe.definition)
        elif run.state == "running":
            await self._resume_locked(run)  # what *that* claim planned
        return run

    def _context(
        self,
        recipe: Recipe,
        run_id: str,
        occasion: Occasion,
        facts: dict[str, Any],
        now: int,
    ) -> RunContext:
        # Webhooks and notifications link to the conversation in the console.
        conversation = facts["conversation"]
        base = self._system.config.public_url.rstrip("/")
        conversation["console_url"] = base + CONSOLE_PATH.format(conversation=conversation["id"])
        return RunContext(
            system=self._system,
            recipe=recipe,
            run_id=run_id,
            trigger=recipe.definition.trigger.type,
            trigger_key=occasion.trigger_key,
            key_event=occasion.key_event,
            facts=facts,
            depth=occasion.cause.depth,
            chain=occasion.cause.chain,
            now_ms=now,
            presence=self._system.staff_presence,
        )

    async def _perform(
        self, run: Run, ctx: RunContext, planned: list[Planned], definition: RecipeDefinition
    ) -> None:
        """Perform a claimed run's plan, post its history entry, finalise it."""
        results = list(run.results)
        if run.reason is None:
            results = []
            for item in planned:
                results.append(await self._perform_one(ctx, item))
        state = "skipped" if run.reason is not None else "done"
        if any(r.get("result") == "failed" for r in results):
            state = "failed"
        entry = NewMessage(
            conversation=run.conversation_id or "",
            author=ctx.bot,
            kind="event",
            body=recipe_runs.describe_run(definition.name, run.version, results, run.reason),
            client_msg_id=recipe_runs.history_client_msg_id(run.id),
            data=recipe_runs.history_data(
                run, name=definition.name, trigger=definition.trigger.type, results=results
            ),
            internal=True,
        )
        try:
            await self._system.post(entry)
        except NotFound:
            log.info("recipes.history_dropped run=%s (conversation gone)", run.id)
        await self._store.write(
            functools.partial(recipe_runs.finalise, run_id=run.id, state=state, results=results)
        )
        log.info(
            "recipes.run recipe=%s v%d run=%s conversation=%s key=%s state=%s",
            run.recipe_id, run.version, run.id, run.conversation_id, run.trigger_key, state,
        )  # fmt: skip

    async def _plan_one(self, ctx: RunContext, index: int, action: Action) -> Planned:
        try:
            return await plan_action(ctx, index, action)
        except StoreError:
            raise
        except Exception as exc:
            # A bug in one action must not stop the others: this one is skipped, visibly.
            log.exception("recipes.plan_crashed recipe=%s index=%d", ctx.recipe.id, index)
            return Planned(index, action.type, action.type, {}, f"internal error: {exc!r}")

    async def _perform_one(self, ctx: RunContext, item: Planned) -> dict[str, Any]:
        try:
            return await perform_action(ctx, item)
        except StoreError:
            raise  # the database is in trouble: the run stays running and is resumed
        except Exception as exc:
            log.exception("recipes.action_crashed run=%s index=%d", ctx.run_id, item.index)
            return {
                "action": item.type,
                "index": item.index,
                "result": "failed",
                "detail": f"internal error: {exc!r}",
            }

    async def _drop_timer(self, occasion: Occasion) -> None:
        if occasion.timer is not None:
            await self._store.write(functools.partial(recipe_timers.take, timer=occasion.timer))

    # -- resuming an interrupted run ---------------------------------------------------------

    async def resume_running(self) -> tuple[int, int]:
        """Finish every run a stop (or an error) left ``running``; return how many were
        finished and how many failed again (they stay ``running``)."""
        runs = await self._store.read(recipe_runs.running_runs)
        finished = failed = 0
        for run in runs:
            try:
                async with self._lock:
                    current = await self._store.read(
                        functools.partial(recipe_runs.get_run, run_id=run.id)
                    )
                    if current.state == "running":
                        await self._resume_locked(current)
                finished += 1
            except StoreError:
                raise
            except Exception:
                log.exception("recipes.resume_failed run=%s", run.id)
                failed += 1
        return finished, failed

    async def _resume_locked(self, run: Run) -> None:
        """Perform a ``running`` run again from its stored plan (the same decisions)."""
        try:
            recipe, definition = await self._store.read(
                functools.partial(_recipe_at_version, run=run)
            )
        except NotFound:
            await self._store.write(
                functools.partial(
                    recipe_runs.finalise, run_id=run.id, state="failed",
                    results=[{"result": "failed", "detail": "the recipe no longer exists"}],
                )
            )  # fmt: skip
            return
        event = await self._store.read(
            functools.partial(recipe_facts.read_event, event_id=run.key_event)
        )
        message = None
        if event is not None and event.type == "message.posted":
            message = message_facts(event.payload)
        cause = Cause() if event is None else cause_of(event)
        conversation = run.conversation_id or ""
        try:
            facts = await self._store.read(
                functools.partial(
                    recipe_facts.conversation_facts,
                    conversation_id=conversation,
                    message=message,
                )
            )
        except NotFound:
            facts = {"conversation": {"id": conversation}, "message": message}
        occasion = Occasion(conversation, run.trigger_key, run.key_event, message, cause)
        ctx = self._context(recipe, run.id, occasion, facts, self._now())
        planned = [Planned.from_json(item) for item in run.plan]
        log.info("recipes.resume run=%s recipe=%s", run.id, run.recipe_id)
        await self._perform(run, ctx, planned, definition)

    # -- test run ----------------------------------------------------------------------------

    async def test_run(
        self, definition: RecipeDefinition, conversation_id: str, recipe: Recipe | None = None
    ) -> dict[str, Any]:
        """Evaluate ``definition`` against a conversation and plan its actions, with the
        conversation's latest message as the message; writes nothing (not even the search
        index: a saved filter with a search sees the index as it is).

        Returns:
            ``in_scope``; ``business_hours`` (schedule, name, when, open, ok, reason);
            ``matched`` (the filter) with its ``checks``; ``would_run`` (all three allow
            it); the ``message`` used; ``actions``: index, type, describe, skip (why not).

        Raises:
            NotFound: the conversation does not exist.
        """
        now = self._now()
        message = await self._store.read(
            functools.partial(recipe_facts.latest_message, conversation_id=conversation_id)
        )
        assessment = await self._store.read(
            functools.partial(
                recipe_facts.assess, definition=definition, conversation_id=conversation_id,
                message=message, now_ms=now,
            )
        )  # fmt: skip
        if recipe is None:
            recipe = Recipe(
                id="test", name=definition.name, kind=definition.kind, enabled=definition.enabled,
                version=0, definition=definition, after_event=0, created_at=now, updated_at=now,
            )  # fmt: skip
        else:
            recipe = dataclasses.replace(recipe, definition=definition, name=definition.name)
        occasion = Occasion(conversation_id, "test", 0, message, Cause())
        ctx = self._context(recipe, "test", occasion, assessment.facts, now)
        actions = []
        for index, action in enumerate(definition.actions):
            item = await self._plan_one(ctx, index, action)
            shown = {"index": item.index, "type": item.type, "describe": item.describe}
            actions.append({**shown, "skip": item.skip})
        return {
            "in_scope": assessment.in_scope,
            "business_hours": assessment.hours.to_json(),
            "matched": assessment.evaluation.matched,
            "checks": assessment.checks,
            "would_run": assessment.matched and assessment.hours.ok,
            "message": message,
            "actions": actions,
        }


# -- read functions (run in the Store's threads) ------------------------------------------------


def _recipe_at_version(conn: Any, run: Run) -> tuple[Recipe, RecipeDefinition]:
    """The recipe as it was when the run was planned (its name and definition then)."""
    recipe = get_recipe(conn, run.recipe_id, include_deleted=True)
    if recipe.version == run.version:
        return recipe, recipe.definition
    definition = parse_recipe(recipe_facts.version_definition(conn, run.recipe_id, run.version))
    then = dataclasses.replace(
        recipe, version=run.version, name=definition.name, definition=definition
    )
    return then, definition
