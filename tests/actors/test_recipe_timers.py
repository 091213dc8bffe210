"""Timer recipes under MockClock: "no attendee reply", "pending" and "unassigned for N
minutes" fire at exactly their due time, are cancelled and re-armed by the events that
should, and survive a restart of the system (the timers are rows)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import recipe_defs, recipe_timers
from actors.recipe_events import timer_effect
from actors.records import ConversationChanges
from actors.store import StoredEvent
from actors.system import System, SystemConfig
from tests.actors.conftest import STAFF
from tests.actors.recipe_support import (
    MINUTE,
    at,
    conversation,
    create_recipe,
    create_user,
    engine,
    history,
    query,
    say,
    set_status,
    settle,
    state,
    status_changes,
    virtual_ms,
)

RESOLVE_QUIET = {
    "name": "Resolve quiet conversations",
    "trigger": {"type": "no_attendee_reply", "minutes": 30},
    "filter": {
        "type": "conditions",
        "match": "all",
        "conditions": [{"field": "status", "operator": "is", "value": "open"}],
    },
    "actions": [{"type": "resolve"}],
}
#: Bound of one test in virtual time (hours pass in it; a hang jumps to it at once).
GUARD = 6 * 3600


async def timers(store: Any, conv: str) -> list[recipe_timers.Timer]:
    found: list[recipe_timers.Timer] = await store.read(
        lambda conn: recipe_timers.list_timers(conn, conversation_id=conv)
    )
    return found


async def test_resolve_30_minutes_after_the_last_staff_reply_at_the_exact_time(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            recipe = await create_recipe(e.store, RESOLVE_QUIET)
            conv, _ = await conversation(e.store)
            reply = await say(e.system, conv, "Here are the slides.")
            await settle(e.store)
            (timer,) = await timers(e.store, conv)
            assert timer.due_at == reply.ts + 30 * 60_000

            await trio.sleep_until(at(reply.ts) + 30 * MINUTE - 0.001)  # 29:59.999
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "open"

            await trio.sleep_until(at(reply.ts) + 30 * MINUTE + 1)
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "resolved"
            ((change, ts, payload),) = await status_changes(e.store, conv)
            entries = await history(e.store, conv)
            runs = await query(e.store, "SELECT trigger_key, state FROM recipe_runs")
            assert await timers(e.store, conv) == []
    assert change == ["open", "resolved"]
    assert ts == reply.ts + 30 * 60_000  # exactly +30 min
    assert payload["by"] == {"kind": "bot", "id": recipe.id, "name": recipe.name}
    assert payload["cause"]["recipe"] == recipe.id
    assert runs == [(f"timer:{conv}:{timer.anchor_event}", "done")]
    (entry,) = entries
    assert entry["trigger"] == "no_attendee_reply"
    assert entry["results"][0]["result"] == "done"
    assert entry["internal"] == 1
    assert entry["body"] == "Recipe “Resolve quiet conversations” v1: resolved"


async def test_an_attendee_reply_cancels_the_timer_and_the_next_staff_reply_arms_it(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, RESOLVE_QUIET)
            conv, attendee = await conversation(e.store)
            first = await say(e.system, conv, "Does that answer it?")
            await trio.sleep_until(at(first.ts) + 10 * MINUTE)
            await say(e.system, conv, "Not quite, one more question", attendee)
            await settle(e.store)
            assert await timers(e.store, conv) == []
            await trio.sleep_until(at(first.ts) + 45 * MINUTE)
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "open"  # the old due time passed

            second = await say(e.system, conv, "Here you go.")
            await trio.sleep_until(at(second.ts) + 30 * MINUTE - 0.001)
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "open"
            await trio.sleep_until(at(second.ts) + 30 * MINUTE + 1)
            await settle(e.store)
            changes = await status_changes(e.store, conv)
    assert [(c, ts) for c, ts, _ in changes] == [(["open", "resolved"], second.ts + 30 * 60_000)]


async def test_a_second_staff_reply_rearms_the_timer_from_its_own_time(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, RESOLVE_QUIET)
            conv, _ = await conversation(e.store)
            first = await say(e.system, conv, "Hello!")
            await trio.sleep_until(at(first.ts) + 20 * MINUTE)
            second = await say(e.system, conv, "Anything else?")
            await trio.sleep_until(at(first.ts) + 30 * MINUTE + 1)
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "open"
            await trio.sleep_until(at(second.ts) + 30 * MINUTE + 1)
            await settle(e.store)
            changes = await status_changes(e.store, conv)
    assert [ts for _, ts, _ in changes] == [second.ts + 30 * 60_000]


async def test_pending_for_fires_after_the_minutes_and_a_status_change_cancels_it(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    definition = {
        "name": "Nudge pending",
        "trigger": {"type": "pending_for", "minutes": 60},
        "actions": [{"type": "add_tags", "tags": ["stale"]}, {"type": "resolve"}],
    }
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, definition)
            conv, _ = await conversation(e.store)
            start = trio.current_time()
            await set_status(e.system, conv, "pending")
            await trio.sleep_until(start + 30 * MINUTE)
            await set_status(e.system, conv, "open")  # away from pending: cancelled
            await settle(e.store)
            assert await timers(e.store, conv) == []
            await trio.sleep_until(start + 40 * MINUTE)
            await set_status(e.system, conv, "pending")
            await settle(e.store)
            (timer,) = await timers(e.store, conv)
            await trio.sleep_until(start + 100 * MINUTE - 0.001)
            await settle(e.store)
            assert (await state(e.store, conv))["status"] == "pending"
            await trio.sleep_until(start + 100 * MINUTE + 1)
            await settle(e.store)
            final = await state(e.store, conv)
            changes = await status_changes(e.store, conv)
    assert timer.due_at == timer.anchor_at + 60 * 60_000
    assert final["status"] == "resolved"
    assert final["tags"] == ["stale"]
    assert changes[-1][0] == ["pending", "resolved"]
    assert changes[-1][1] == timer.due_at


async def test_unassigned_for_assigns_a_conversation_nobody_took(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            lead = await create_user(e.store, "lead@example.com")
            agent = await create_user(e.store, "agent@example.com")
            await create_recipe(
                e.store,
                {
                    "name": "Nobody took it",
                    "trigger": {"type": "unassigned_for", "minutes": 15},
                    "actions": [{"type": "assign", "user": lead}],
                },
            )
            start = trio.current_time()
            taken, _ = await conversation(e.store, "Ann")
            left, _ = await conversation(e.store, "Bob")
            await trio.sleep_until(start + 5 * MINUTE)
            await e.system.update(taken, ConversationChanges(assignee_user=agent), STAFF)
            await settle(e.store)
            assert await timers(e.store, taken) == []
            (timer,) = await timers(e.store, left)

            await trio.sleep_until(start + 15 * MINUTE + 1)
            await settle(e.store)
            assert (await state(e.store, left))["assignee"] == {"user": lead, "team": None}
            assert (await state(e.store, taken))["assignee"] == {"user": agent, "team": None}

            # Clearing the assignee arms the timer again, from then.
            await trio.sleep_until(start + 20 * MINUTE)
            await e.system.update(taken, ConversationChanges(clear_assignee=True), STAFF)
            await trio.sleep_until(start + 35 * MINUTE - 0.001)
            await settle(e.store)
            assert (await state(e.store, taken))["assignee"] == {"user": None, "team": None}
            await trio.sleep_until(start + 35 * MINUTE + 1)
            await settle(e.store)
            assert (await state(e.store, taken))["assignee"] == {"user": lead, "team": None}
            assigned_at = await query(
                e.store,
                "SELECT ts FROM events WHERE type = 'conversation.updated' "
                "AND conversation_id = ? AND payload LIKE '%\"bot\"%'",
                left,
            )
    assert assigned_at == [(timer.due_at,)]


async def test_a_timer_survives_a_restart(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    """Stopped before anything is due, started again later: the overdue timer fires at
    once, the other one at its own time."""
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, RESOLVE_QUIET)
            early, _ = await conversation(e.store, "Ann")
            late, _ = await conversation(e.store, "Bob")
            first = await say(e.system, early, "Done on our side.")
            await trio.sleep_until(at(first.ts) + 20 * MINUTE)
            second = await say(e.system, late, "Done on our side too.")
            await settle(e.store)
        # Stopped at +20 min; the server is down until +40 min.
        await trio.sleep_until(at(first.ts) + 40 * MINUTE)
        restarted = trio.current_time()
        async with engine(db_path) as e:
            await settle(e.store)
            while (await state(e.store, early))["status"] != "resolved":
                pass  # the overdue timer fires at once: no virtual time passes
            fired_early = trio.current_time()
            assert (await state(e.store, late))["status"] == "open"
            await trio.sleep_until(at(second.ts) + 30 * MINUTE - 0.001)
            await settle(e.store)
            assert (await state(e.store, late))["status"] == "open"
            await trio.sleep_until(at(second.ts) + 30 * MINUTE + 1)
            await settle(e.store)
            early_changes = await status_changes(e.store, early)
            late_changes = await status_changes(e.store, late)
    assert fired_early == restarted
    assert [ts for _, ts, _ in early_changes] == [first.ts + 40 * 60_000]
    assert [ts for _, ts, _ in late_changes] == [second.ts + 30 * 60_000]


async def test_an_attendee_reply_not_yet_handled_at_a_restart_still_cancels_the_timer(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    """The reply is committed, the stop comes before the consumer saw it, the restart
    after the due time: the consumer catches up before the timer may fire."""
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, RESOLVE_QUIET)
            conv, attendee = await conversation(e.store)
            reply = await say(e.system, conv, "Please check.")
            await settle(e.store)
            await trio.sleep_until(at(reply.ts) + 10 * MINUTE)
        # Written while the scheduler is not running (as if it crashed before handling).
        async with trio.open_nursery() as nursery:
            bare = System(SystemConfig(database=db_path, synchronous="NORMAL", clock=virtual_ms))
            await nursery.start(bare.run)
            await say(bare, conv, "Thanks, that works!", attendee)
            nursery.cancel_scope.cancel()
        await trio.sleep_until(at(reply.ts) + 60 * MINUTE)
        async with engine(db_path) as e:
            await settle(e.store)
            await trio.sleep(1)
            await settle(e.store)
            final = await state(e.store, conv)
            left = await timers(e.store, conv)
    assert final["status"] == "open"
    assert left == []


async def test_timers_are_not_armed_by_events_before_the_recipe_existed(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            conv, _ = await conversation(e.store)
            await say(e.system, conv, "Before the recipe.")
            await settle(e.store)
            await create_recipe(e.store, RESOLVE_QUIET)
            await set_status(e.system, conv, "pending")  # an unrelated later event
            await settle(e.store)
            assert await timers(e.store, conv) == []
            later = await say(e.system, conv, "After the recipe.")
            await settle(e.store)
            (timer,) = await timers(e.store, conv)
    assert timer.anchor_at == later.ts


async def test_a_disabled_recipe_drops_its_timers_instead_of_firing(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            recipe = await create_recipe(e.store, RESOLVE_QUIET)
            conv, _ = await conversation(e.store)
            reply = await say(e.system, conv, "Hello!")
            await settle(e.store)
            await e.store.write(
                functools.partial(
                    recipe_defs.set_enabled, recipe_id=recipe.id, enabled=False, by=None
                )
            )
            e.scheduler.recipes_changed()
            await trio.sleep_until(at(reply.ts) + 31 * MINUTE)
            await settle(e.store)
            final = await state(e.store, conv)
            left = await timers(e.store, conv)
            runs = await query(e.store, "SELECT id FROM recipe_runs")
    assert final["status"] == "open"
    assert left == []
    assert runs == []


def _event(type_: str, payload: dict[str, Any], event_id: int = 5) -> StoredEvent:
    return StoredEvent(event_id, type_, "cv_1", json.dumps(payload), 1_000)


def _message(author_kind: str, kind: str = "message", internal: bool = False) -> StoredEvent:
    author = {"kind": author_kind, "id": "x", "name": "X"}
    payload = {"kind": kind, "internal": internal, "author": author, "seq": 3, "body": "hi"}
    return _event("message.posted", payload)


def _updated(key: str, old: Any, new: Any) -> StoredEvent:
    return _event("conversation.updated", {"changes": {key: [old, new]}})


@pytest.mark.parametrize(
    ("trigger", "event", "effect"),
    [
        ("no_attendee_reply", _message("staff"), "arm"),
        ("no_attendee_reply", _message("bot"), "arm"),
        ("no_attendee_reply", _message("contact"), "cancel"),
        ("no_attendee_reply", _message("staff", kind="note"), None),
        ("no_attendee_reply", _message("staff", internal=True), None),
        ("no_attendee_reply", _message("system"), None),
        ("pending_for", _updated("status", "open", "pending"), "arm"),
        ("pending_for", _updated("status", "pending", "resolved"), "cancel"),
        ("pending_for", _updated("status", "open", "resolved"), None),
        ("pending_for", _message("staff"), None),
        ("unassigned_for", _event("conversation.created", {}), "arm"),
        ("unassigned_for", _updated("assignee", {"user": "u", "team": None}, {}), "arm"),
        ("unassigned_for", _updated("assignee", {}, {"user": "u", "team": None}), "cancel"),
        ("unassigned_for", _updated("assignee", {}, {"user": None, "team": "t"}), "cancel"),
        ("unassigned_for", _updated("tags", [], ["a"]), None),
    ],
)
def test_which_events_arm_and_cancel_timers(
    trigger: str, event: StoredEvent, effect: str | None
) -> None:
    assert timer_effect(trigger, event) == effect


@pytest.mark.parametrize("minutes", [1, 525_600])
async def test_timer_due_time_is_anchor_plus_minutes(minutes: int) -> None:
    op = recipe_timers.TimerOp.arm("rc_1", "cv_1", 7, 1_000, minutes)
    assert op.due_at == 1_000 + minutes * 60_000
