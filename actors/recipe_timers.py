"""Durable recipe timers: "no attendee reply / pending / unassigned for N minutes".

One row per (recipe, conversation) in ``recipe_timers``: when it is due, and the event
that armed it (the *anchor*: its time plus the recipe's minutes is the due time, and its
id names the run, ``timer:<conversation>:<anchor event>``, so a timer armed again by a
replayed event never runs the recipe twice). Events arm, re-arm and cancel timers
(actors/recipe_events.py says which); the scheduler's loop sleeps until the earliest due
time and fires what is due. Timers live in the database, so a restart loses none: on
start, overdue timers fire at once.

Ordering: arming and cancelling carry the event id, and a timer is only replaced or
cancelled by a later event than its anchor, so handing old events again (at-least-once
consumers, a replayed log) cannot undo what newer ones did.

Read functions take a read-only connection (or a Tx); write functions a Tx.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actors.recipe_events import cause_of, timer_effect
from actors.store import StoredEvent, Tx

if TYPE_CHECKING:
    from actors.recipe_defs import Recipe

#: Milliseconds in a minute (timers are set in minutes).
MINUTE_MS = 60_000
#: Due timers fired per pass of the loop.
DUE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Timer:
    """One armed timer."""

    recipe_id: str
    conversation_id: str
    due_at: int
    anchor_at: int
    anchor_event: int


@dataclass(frozen=True, slots=True)
class TimerOp:
    """Arm (``due_at`` set) or cancel (``due_at`` None) a recipe's timer for a
    conversation, because of event ``event_id`` at ``event_ts``."""

    recipe_id: str
    conversation_id: str
    event_id: int
    event_ts: int
    due_at: int | None

    @classmethod
    def arm(
        cls, recipe_id: str, conversation_id: str, event_id: int, event_ts: int, minutes: int
    ) -> TimerOp:
        return cls(recipe_id, conversation_id, event_id, event_ts, event_ts + minutes * MINUTE_MS)

    @classmethod
    def cancel(cls, recipe_id: str, conversation_id: str, event_id: int, event_ts: int) -> TimerOp:
        return cls(recipe_id, conversation_id, event_id, event_ts, None)


def _timer(row: Sequence[Any]) -> Timer:
    return Timer(row[0], row[1], row[2], row[3], row[4])


_COLUMNS = "recipe_id, conversation_id, due_at, anchor_at, anchor_event"


def ops_for(event: StoredEvent, recipes: Iterable[Recipe]) -> list[TimerOp]:
    """The timers ``event`` arms or cancels, for the timer recipes among ``recipes``.

    Recipes created after the event (``after_event``) are left alone, and a recipe's own
    actions (its id in the event's cause chain) never arm its timer: a "no reply for 30
    minutes -> reply" recipe would otherwise keep answering itself.
    """
    if event.conversation is None:
        return []
    ops: list[TimerOp] = []
    cause = None
    for recipe in recipes:
        trigger = recipe.definition.trigger
        if not trigger.is_timer or trigger.minutes is None or recipe.after_event >= event.id:
            continue
        effect = timer_effect(trigger.type, event)
        if effect == "cancel":
            ops.append(TimerOp.cancel(recipe.id, event.conversation, event.id, event.ts))
        elif effect == "arm":
            cause = cause_of(event) if cause is None else cause
            if not cause.names(recipe.id):
                ops.append(
                    TimerOp.arm(recipe.id, event.conversation, event.id, event.ts, trigger.minutes)
                )
    return ops


# -- writes ---------------------------------------------------------------------------------


def apply(tx: Tx, ops: Iterable[TimerOp]) -> int:
    """Arm and cancel timers; return how many rows changed.

    A timer is armed (or re-armed from the new anchor) only by an event later than its
    current anchor, and cancelled only by a later event than the one that armed it.
    """
    changed = 0
    for op in ops:
        if op.due_at is None:
            cur = tx.execute(
                "DELETE FROM recipe_timers WHERE recipe_id = ? AND conversation_id = ? "
                "AND anchor_event < ?",
                (op.recipe_id, op.conversation_id, op.event_id),
            )
        else:
            cur = tx.execute(
                f"INSERT INTO recipe_timers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (recipe_id, conversation_id) DO UPDATE SET "
                "due_at = excluded.due_at, anchor_at = excluded.anchor_at, "
                "anchor_event = excluded.anchor_event "
                "WHERE excluded.anchor_event > recipe_timers.anchor_event",
                (op.recipe_id, op.conversation_id, op.due_at, op.event_ts, op.event_id),
            )
        changed += cur.rowcount
    return changed


def take(tx: Tx, timer: Timer) -> bool:
    """Delete a timer that fires; False when it was re-armed or cancelled meanwhile."""
    cur = tx.execute(
        "DELETE FROM recipe_timers WHERE recipe_id = ? AND conversation_id = ? "
        "AND anchor_event = ?",
        (timer.recipe_id, timer.conversation_id, timer.anchor_event),
    )
    return cur.rowcount == 1


def reschedule(tx: Tx, timer: Timer, due_at: int) -> bool:
    """Move a timer's due time (the recipe's minutes changed since it was armed)."""
    cur = tx.execute(
        "UPDATE recipe_timers SET due_at = ? WHERE recipe_id = ? AND conversation_id = ? "
        "AND anchor_event = ?",
        (due_at, timer.recipe_id, timer.conversation_id, timer.anchor_event),
    )
    return cur.rowcount == 1


# -- reads ----------------------------------------------------------------------------------


def due_timers(conn: sqlite3.Connection | Tx, now: int, limit: int = DUE_BATCH) -> list[Timer]:
    """Timers due at ``now`` or earlier, earliest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM recipe_timers WHERE due_at <= ? "
        "ORDER BY due_at, anchor_event LIMIT ?",
        (now, limit),
    ).fetchall()
    return [_timer(row) for row in rows]


def next_due(conn: sqlite3.Connection | Tx) -> int | None:
    """The earliest due time of any timer (None when none is armed)."""
    row = conn.execute("SELECT MIN(due_at) FROM recipe_timers").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def list_timers(
    conn: sqlite3.Connection | Tx,
    *,
    recipe_id: str | None = None,
    conversation_id: str | None = None,
) -> list[Timer]:
    """Armed timers (earliest first), of one recipe and/or conversation."""
    where: list[str] = []
    params: list[Any] = []
    if recipe_id is not None:
        where.append("recipe_id = ?")
        params.append(recipe_id)
    if conversation_id is not None:
        where.append("conversation_id = ?")
        params.append(conversation_id)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM recipe_timers {clause}ORDER BY due_at, anchor_event", params
    ).fetchall()
    return [_timer(row) for row in rows]
