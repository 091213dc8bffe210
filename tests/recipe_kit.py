"""Helpers for the recipe action tests: recipes stored for real, and runs driven the way
the scheduler drives them (plan, then claim + enqueue in one transaction, then perform).

Shared by tests/actors, tests/server and tests/e2e; no fixtures here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from actors import contexts, directory, recipe_defs, recipe_facts, recipe_runs
from actors.recipe_actions import Planned, RunContext, enqueue_action, perform_action, plan_action
from actors.recipe_claim import Occasion, claim_run
from actors.recipe_defs import Recipe
from actors.recipe_events import Cause, message_facts
from actors.records import StoredMessage
from actors.store import Store, Tx
from actors.system import System


async def make_recipe(
    store: Store,
    actions: list[dict[str, Any]],
    *,
    trigger: dict[str, Any] | None = None,
    name: str = "Helper",
) -> Recipe:
    """Store a recipe (version 1) with these actions; its webhook endpoints too."""
    data = {
        "name": name,
        "trigger": trigger or {"type": "new_message"},
        "actions": actions,
    }
    recipe: Recipe = await store.write(
        functools.partial(recipe_defs.create_recipe, data=data, by=None)
    )
    return recipe


@dataclass
class Run:
    """One run's context, plan and results."""

    ctx: RunContext
    planned: list[Planned]
    queued: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


async def context(
    system: System,
    recipe: Recipe,
    conversation: str,
    *,
    key_event: int,
    message: StoredMessage | None = None,
    now_ms: int | None = None,
    run_id: str | None = None,
) -> RunContext:
    """The context of a run of ``recipe`` on ``conversation`` for ``key_event``."""
    facts = await system.store.read(
        functools.partial(
            recipe_facts.conversation_facts,
            conversation_id=conversation,
            message=None if message is None else message_facts(message.to_json()),
        )
    )
    key = recipe_runs.event_key(key_event)
    return RunContext(
        system=system,
        recipe=recipe,
        run_id=run_id or recipe_runs.run_id_for(recipe.id, key),
        trigger=recipe.definition.trigger.type,
        trigger_key=key,
        key_event=key_event,
        facts=facts,
        depth=0,
        chain=(),
        now_ms=system.config.clock() if now_ms is None else now_ms,
        presence=system.staff_presence,
    )


def _claim(tx: Tx, ctx: RunContext, planned: list[Planned]) -> list[dict[str, Any]]:
    """The scheduler's own claim (recipe_claim.claim_run): queued effects and run row."""
    occasion = Occasion(ctx.conversation, ctx.trigger_key, ctx.key_event, None, Cause())
    claimed = claim_run(tx, ctx, occasion, [], planned, None)
    assert claimed is not None
    return claimed[0].results


async def plan(ctx: RunContext) -> list[Planned]:
    return [
        await plan_action(ctx, index, action)
        for index, action in enumerate(ctx.recipe.definition.actions)
    ]


async def run(ctx: RunContext) -> Run:
    """Plan, claim (enqueue) and perform every action of the run."""
    planned = await plan(ctx)
    queued = await ctx.system.store.write(functools.partial(_claim, ctx=ctx, planned=planned))
    results = [await perform_action(ctx, item) for item in planned]
    return Run(ctx, planned, queued, results)


async def enqueue_again(ctx: RunContext, planned: list[Planned]) -> list[dict[str, Any]]:
    """enqueue_action for every planned action once more (a replayed claim)."""

    def write(tx: Tx) -> list[dict[str, Any]]:
        return [r for item in planned if (r := enqueue_action(tx, ctx, item)) is not None]

    result: list[dict[str, Any]] = await ctx.system.store.write(write)
    return result


async def new_attendee(
    store: Store, *, name: str = "Ann", email: str | None = None, title: str = "Launch"
) -> dict[str, Any]:
    """A context and an attendee in it: contact, conversation, token."""
    ctx = await store.write(
        functools.partial(
            contexts.create_context, kind="webinar", title=title, data={}, moderators=[],
            primary_moderator=None, external_id=None,
        )
    )  # fmt: skip
    token = directory.new_token("sba")
    attendee: dict[str, Any] = await store.write(
        functools.partial(
            contexts.create_attendee, context_id=ctx["id"], name=name, email=email,
            external_id=None, channel="widget", token=token, ttl_ms=3_600_000,
        )
    )  # fmt: skip
    return attendee


async def new_user(store: Store, email: str, name: str | None = None) -> str:
    user = await store.write(
        functools.partial(
            directory.create_user, email=email, name=name or email.split("@")[0], role="agent",
            password_hash=None,
        )
    )  # fmt: skip
    return str(user["id"])


async def new_team(store: Store, name: str, members: list[str]) -> str:
    team = await store.write(functools.partial(directory.create_team, name=name, members=members))
    return str(team["id"])


async def sql(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = await store.read(
        lambda conn: conn.execute(query, params).fetchall()
    )
    return rows


async def execute(store: Store, query: str, *params: Any) -> None:
    await store.write(lambda tx: tx.execute(query, params))
