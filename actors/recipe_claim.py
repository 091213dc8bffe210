"""The claim of a recipe run: the one transaction that makes it happen at most once.

Split from actors/recipe_runner.py (which decides, plans and performs) because this is
the step the at-most-once promise rests on, and it reads best alone. In ONE transaction
(:func:`claim_run`): the ``recipe_runs`` row, unique per (recipe, trigger key), with its
plan; every action's queued effects (notifications, webhook deliveries, drafts, ...); and
for a timer, the timer's removal. An :class:`Occasion` is what a run is for, and its
trigger key is what makes a second claim find the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors import recipe_runs, recipe_timers
from actors.recipe_actions import Planned, RunContext, enqueue_action
from actors.recipe_events import Cause
from actors.recipe_runs import Run
from actors.recipe_timers import Timer
from actors.store import Tx


@dataclass(frozen=True, slots=True)
class Occasion:
    """What a run is for: a conversation, the trigger key, the trigger's event."""

    conversation: str
    trigger_key: str
    #: The event of the trigger; for a timer, the event that armed it.
    key_event: int
    #: The message facts of the trigger (None for conversation events).
    message: dict[str, Any] | None
    cause: Cause
    #: The timer that fired (removed in the claim transaction), for timer runs.
    timer: Timer | None = None


def claim_run(
    tx: Tx,
    ctx: RunContext,
    occasion: Occasion,
    checks: list[dict[str, Any]],
    planned: list[Planned],
    reason: str | None,
) -> tuple[Run, bool] | None:
    """The claim transaction: the run row, the queued effects, the fired timer.

    Returns:
        The run and whether this call created it; or None when the timer of the occasion
        was cancelled or re-armed meanwhile (nothing is written then).
    """
    existing = recipe_runs.find_run(tx, ctx.recipe.id, occasion.trigger_key)
    taken = occasion.timer is None or recipe_timers.take(tx, occasion.timer)
    if existing is not None:
        return existing, False
    if not taken:
        return None
    queued = []
    if reason is None:
        for item in planned:
            result = enqueue_action(tx, ctx, item)
            if result is not None:
                queued.append(result)
    return recipe_runs.claim(
        tx,
        run_id=ctx.run_id,
        recipe_id=ctx.recipe.id,
        version=ctx.recipe.version,
        conversation_id=occasion.conversation,
        trigger_key=occasion.trigger_key,
        depth=ctx.depth,
        matched=checks,
        plan=[item.to_json() for item in planned],
        results=queued,
        reason=reason,
    )
