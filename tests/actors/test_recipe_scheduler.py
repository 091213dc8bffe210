"""The recipe scheduler on the event log: triggers, scope, filters, business hours, the
safety rules (no self-trigger, chain depth), at most once under replays and crashes, the
history entries, and the test run that writes nothing."""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors import recipe_actions, recipe_defs, recipe_runner, recipe_runs
from actors.consumer import read_events
from actors.recipe_events import Cause, cause_of, fires
from actors.recipe_model import parse_recipe
from actors.records import ConversationChanges, NewMessage
from actors.store import StoredEvent
from tests.actors.conftest import STAFF
from tests.actors.recipe_support import (
    MINUTE,
    Engine,
    bot_messages,
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
    table_counts,
)

#: Bound of one test in virtual time (a hang jumps to it at once).
GUARD = 6 * 3600
WEBHOOK_URL = "http://127.0.0.1:9/hook"

GREETER = {
    "name": "Greeter",
    "trigger": {"type": "new_message"},
    "filter": {
        "type": "conditions",
        "match": "all",
        "conditions": [{"field": "kind", "operator": "is", "value": "attendee_message"}],
    },
    "actions": [
        {"type": "reply", "text": "Thanks, someone will be with you shortly.", "mode": "send"},
        {"type": "webhook", "name": "CRM", "url": WEBHOOK_URL},
        {"type": "add_tags", "tags": ["greeted"]},
    ],
}


async def effects(e: Engine, conv: str) -> dict[str, Any]:
    """What customer-facing and recorded effects a conversation has."""
    return {
        "replies": await bot_messages(e.store, conv),
        "deliveries": await query(e.store, "SELECT id, event_id FROM webhook_deliveries"),
        "history": [h["run"] for h in await history(e.store, conv)],
        "runs": await query(e.store, "SELECT id, state FROM recipe_runs"),
    }


async def all_events(e: Engine) -> Any:
    return await e.store.read(functools.partial(read_events, after=0, limit=10_000))


# -- triggers -----------------------------------------------------------------------------------


async def test_each_event_trigger_runs_its_recipe(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    def tagger(name: str, trigger: dict[str, Any], tag: str) -> dict[str, Any]:
        return {"name": name, "trigger": trigger, "actions": [{"type": "add_tags", "tags": [tag]}]}

    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, tagger("New", {"type": "new_conversation"}, "new"))
            await create_recipe(e.store, tagger("Msg", {"type": "new_message"}, "talked"))
            await create_recipe(
                e.store, tagger("Res", {"type": "status_changed", "status": "resolved"}, "done")
            )
            await create_recipe(e.store, tagger("Vip", {"type": "tag_added", "tag": "vip"}, "seen"))
            conv, attendee = await conversation(e.store)
            await settle(e.store)
            assert (await state(e.store, conv))["tags"] == ["new"]
            await e.system.post(NewMessage(conv, STAFF, "note", "a note is no message"))
            await set_status(e.system, conv, "pending")
            await settle(e.store)
            assert (await state(e.store, conv))["tags"] == ["new"]
            await say(e.system, conv, "hi", attendee)
            await set_status(e.system, conv, "resolved")
            await e.system.update(conv, ConversationChanges(tags_add=("vip",)), STAFF)
            await settle(e.store)
            final = await state(e.store, conv)
            names = [h["name"] for h in await history(e.store, conv)]
    assert final["tags"] == ["done", "new", "seen", "talked", "vip"]
    assert names == ["New", "Msg", "Res", "Vip"]


async def test_scope_and_conditions_that_do_not_match_leave_nothing(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    refunds = {
        "name": "Refunds",
        "trigger": {"type": "new_message"},
        "filter": {
            "type": "conditions",
            "match": "all",
            "conditions": [
                {"field": "text", "operator": "matches_keywords", "value": "refund, money back"}
            ],
        },
        "actions": [{"type": "add_tags", "tags": ["refund"]}],
    }
    link_only = {**refunds, "name": "Links", "scope": {"channels": ["link"]}}
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            recipe = await create_recipe(e.store, refunds)
            await create_recipe(e.store, link_only)
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "What about refunding?", attendee)  # not a whole word
            await settle(e.store)
            assert await effects(e, conv) == {
                "replies": [], "deliveries": [], "history": [], "runs": [],
            }  # fmt: skip
            await say(e.system, conv, "I want a Refund please", attendee)
            await settle(e.store)
            entries = await history(e.store, conv)
            runs = await query(e.store, "SELECT recipe_id, state FROM recipe_runs")
    assert runs == [(recipe.id, "done")]
    (entry,) = entries
    assert entry["matched"] == [
        {
            "field": "text",
            "operator": "matches_keywords",
            "value": ["refund", "money back"],
            "actual": "I want a Refund please",
            "ok": True,
        }
    ]


async def test_a_saved_filter_sees_the_message_that_triggered_the_run(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            saved = await e.store.write(
                functools.partial(
                    recipe_defs.create_saved_filter,
                    data={"name": "Invoices", "filters": {"q": "invoice"}},
                    by=None,
                )
            )
            await create_recipe(
                e.store,
                {
                    "name": "Billing",
                    "trigger": {"type": "new_message"},
                    "filter": {"type": "saved", "saved_filter": saved["id"]},
                    "actions": [{"type": "add_tags", "tags": ["billing"]}],
                },
            )
            conv, attendee = await conversation(e.store)
            other, someone = await conversation(e.store, "Bob")
            await say(e.system, other, "hello", someone)
            await say(e.system, conv, "where is my invoice", attendee)
            await settle(e.store)
            assert (await state(e.store, conv))["tags"] == ["billing"]
            assert (await state(e.store, other))["tags"] == []


# -- safety -------------------------------------------------------------------------------------


async def test_a_recipe_is_not_triggered_by_its_own_actions(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    """An echo recipe answering every message (its own replies included) answers once;
    a second recipe answering bots runs once on the echo, and neither answers the other's
    answer again: both are in its chain."""
    echo = {
        "name": "Echo",
        "trigger": {"type": "new_message"},
        "actions": [{"type": "reply", "text": "Echo!"}],
    }
    bots = {
        "name": "Bot watcher",
        "trigger": {"type": "new_message"},
        "filter": {
            "type": "conditions",
            "conditions": [{"field": "author_kind", "operator": "is", "value": "bot"}],
        },
        "actions": [{"type": "reply", "text": "Seen a bot."}],
    }
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            first = await create_recipe(e.store, echo)
            second = await create_recipe(e.store, bots)
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "hello", attendee)
            await settle(e.store)
            replies = await bot_messages(e.store, conv)
            runs = await query(e.store, "SELECT recipe_id, depth, state FROM recipe_runs")
    assert [body for _, body, _ in replies] == ["Echo!", "Seen a bot."]
    assert sorted(runs) == sorted([(first.id, 0, "done"), (second.id, 1, "done")])


async def test_a_chain_of_recipes_stops_at_the_depth_limit(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    def link(source: str, target: str) -> dict[str, Any]:
        return {
            "name": f"{source} to {target}",
            "trigger": {"type": "tag_added", "tag": source},
            "actions": [{"type": "add_tags", "tags": [target]}],
        }

    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            for source, target in (("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")):
                await create_recipe(e.store, link(source, target))
            conv, _ = await conversation(e.store)
            await e.system.update(conv, ConversationChanges(tags_add=("a",)), STAFF)
            await settle(e.store)
            final = await state(e.store, conv)
            entries = await history(e.store, conv)
            runs = await query(
                e.store, "SELECT depth, state, reason FROM recipe_runs ORDER BY depth"
            )
    assert final["tags"] == ["a", "b", "c", "d"]
    assert [r[:2] for r in runs] == [(0, "done"), (1, "done"), (2, "done"), (3, "skipped")]
    assert "chain too deep" in runs[3][2]
    assert entries[-1]["skipped"] == runs[3][2]
    assert entries[-1]["body"].startswith("Recipe “d to e” v1 skipped: chain too deep")


# -- business hours -----------------------------------------------------------------------------


async def test_business_hours_gate_runs_and_record_the_skips(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    """Monday 08:00 in Paris is before opening (09:00); 09:01 is inside."""
    weekday = [["09:00", "17:00"]]
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            schedule = await e.store.write(
                functools.partial(
                    recipe_defs.create_schedule,
                    data={
                        "name": "Paris office",
                        "timezone": "Europe/Paris",
                        "weekly": {d: weekday for d in ("mon", "tue", "wed", "thu", "fri")},
                    },
                )
            )

            def tagging(name: str, when: str, tag: str) -> dict[str, Any]:
                return {
                    "name": name,
                    "trigger": {"type": "new_message"},
                    "business_hours": {"schedule": schedule["id"], "when": when},
                    "actions": [{"type": "add_tags", "tags": [tag]}],
                }

            await create_recipe(e.store, tagging("Office", "inside", "office"))
            await create_recipe(e.store, tagging("Night", "outside", "after-hours"))
            early, ann = await conversation(e.store, "Ann")
            await say(e.system, early, "anyone there?", ann)
            await settle(e.store)
            await trio.sleep_until(61 * MINUTE)
            later, bob = await conversation(e.store, "Bob")
            await say(e.system, later, "good morning", bob)
            await settle(e.store)
            early_state, later_state = await state(e.store, early), await state(e.store, later)
            early_history = await history(e.store, early)
            later_history = await history(e.store, later)
    assert early_state["tags"] == ["after-hours"]
    assert later_state["tags"] == ["office"]
    assert [(h["name"], h["skipped"]) for h in early_history] == [
        ("Office", "outside business hours (Paris office)"),
        ("Night", None),
    ]
    assert [(h["name"], h["skipped"]) for h in later_history] == [
        ("Office", None),
        ("Night", "inside business hours (Paris office)"),
    ]
    assert early_history[0]["body"] == (
        "Recipe “Office” v1 skipped: outside business hours (Paris office)"
    )


# -- at most once -------------------------------------------------------------------------------


async def test_replaying_the_event_log_does_nothing_twice(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, GREETER)
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "Hello?", attendee)
            await settle(e.store)
            before = await effects(e, conv)
            # The same events handed again (at-least-once consumers).
            await e.scheduler.handle(await all_events(e))
            await settle(e.store)
            again = await effects(e, conv)
        # The whole log replayed from the start after a restart.
        with sqlite3.connect(db_path) as conn:
            conn.execute("UPDATE cursors SET event_id = 0 WHERE name = 'recipes'")
        async with engine(db_path) as e:
            await settle(e.store)
            replayed = await effects(e, conv)
            (body,) = await query(e.store, "SELECT body FROM webhook_deliveries")
    fields = json.loads(body[0])["fields"]
    assert fields["conversation_id"] == conv
    assert fields["message_body"] == "Hello?"
    assert fields["console_url"] == f"http://127.0.0.1:8080/console/conversations/{conv}"
    assert len(before["replies"]) == 1
    assert len(before["deliveries"]) == 1
    assert len(before["history"]) == 1
    assert before["runs"] == [(before["history"][0], "done")]
    assert again == before
    assert replayed == before


async def test_a_crash_between_claim_and_finalise_is_finished_once_after_the_restart(
    threaded_clock: trio.testing.MockClock, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = recipe_actions.perform_action
    stuck = trio.Event()

    async def stops_at_the_tags(ctx: Any, planned: Any) -> dict[str, Any]:
        if planned.type == "add_tags":
            stuck.set()
            await trio.sleep_forever()  # the process dies here
        return await real(ctx, planned)

    monkeypatch.setattr(recipe_runner, "perform_action", stops_at_the_tags)
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, GREETER)
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "Hello?", attendee)
            await stuck.wait()
            mid_run = await effects(e, conv)
        monkeypatch.setattr(recipe_runner, "perform_action", real)
        async with engine(db_path) as e:
            await settle(e.store)
            while (await query(e.store, "SELECT state FROM recipe_runs")) != [("done",)]:
                pass
            finished = await effects(e, conv)
            tags = (await state(e.store, conv))["tags"]
            await e.scheduler.handle(await all_events(e))
            await settle(e.store)
            replayed = await effects(e, conv)
            (entry,) = await history(e.store, conv)
    assert len(mid_run["replies"]) == 1
    assert len(mid_run["deliveries"]) == 1
    assert mid_run["history"] == []
    assert [state for _, state in mid_run["runs"]] == ["running"]
    assert finished["replies"] == mid_run["replies"]
    assert finished["deliveries"] == mid_run["deliveries"]
    assert len(finished["history"]) == 1
    assert tags == ["greeted"]
    assert replayed == finished
    assert [r["result"] for r in entry["results"]] == ["done", "queued", "done"]
    assert entry["cmid"] == f"run:{entry['run']}"


async def test_an_action_that_raises_fails_alone_and_the_run_says_so(
    threaded_clock: trio.testing.MockClock, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = recipe_actions.perform_action

    async def tags_break(ctx: Any, planned: Any) -> dict[str, Any]:
        if planned.type == "add_tags":
            raise RuntimeError("tag store on fire")
        return await real(ctx, planned)

    monkeypatch.setattr(recipe_runner, "perform_action", tags_break)
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            await create_recipe(e.store, GREETER)
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "Hello?", attendee)
            await settle(e.store)
            (entry,) = await history(e.store, conv)
            runs = await query(e.store, "SELECT state FROM recipe_runs")
            replies = await bot_messages(e.store, conv)
    assert runs == [("failed",)]
    assert len(replies) == 1
    assert [r["result"] for r in entry["results"]] == ["done", "queued", "failed"]
    assert "tag store on fire" in entry["results"][2]["detail"]
    assert entry["body"].startswith("Recipe “Greeter” v1: replied; webhook queued; add_tags failed")


# -- reads --------------------------------------------------------------------------------------


async def test_test_run_evaluates_and_plans_without_writing(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            user = await create_user(e.store, "kim@example.com")
            conv, attendee = await conversation(e.store)
            await say(e.system, conv, "I need a refund", attendee)
            await say(e.system, conv, "Looking into it")
            await e.system.post(NewMessage(conv, STAFF, "note", "latest, but a note"))
            await settle(e.store)
            definition = parse_recipe(
                {
                    "name": "Try me",
                    "trigger": {"type": "new_message"},
                    "filter": {
                        "type": "conditions",
                        "match": "any",
                        "conditions": [
                            {"field": "kind", "operator": "is", "value": "staff_reply"},
                            {"field": "text", "operator": "contains", "value": "refund"},
                        ],
                    },
                    "actions": [
                        {"type": "reply", "text": "On it.", "mode": "approval"},
                        {"type": "notify", "users": [user]},
                        {"type": "webhook", "name": "CRM", "url": WEBHOOK_URL},
                        {"type": "resolve"},
                    ],
                }
            )
            before = await table_counts(e.store)
            result = await e.scheduler.test_run(definition, conv)
            after = await table_counts(e.store)
    assert after == before
    assert result["in_scope"] is True
    assert result["matched"] is True
    assert result["would_run"] is True
    assert result["business_hours"]["ok"] is True
    assert [c["ok"] for c in result["checks"]] == [True, False]
    assert result["message"]["body"] == "Looking into it"
    assert [a["type"] for a in result["actions"]] == ["reply", "notify", "webhook", "resolve"]
    assert all(a["describe"] for a in result["actions"])


async def test_list_runs_pages_newest_first(
    threaded_clock: trio.testing.MockClock, db_path: Path
) -> None:
    with trio.fail_after(GUARD):
        async with engine(db_path) as e:
            recipe = await create_recipe(
                e.store,
                {
                    "name": "Count",
                    "trigger": {"type": "new_message"},
                    "actions": [{"type": "add_tags", "tags": ["seen"]}],
                },
            )
            conv, attendee = await conversation(e.store)
            other, bob = await conversation(e.store, "Bob")
            for n in range(3):
                await say(e.system, conv, f"message {n}", attendee)
                await trio.sleep(1)
            await say(e.system, other, "hi", bob)
            await settle(e.store)

            def listing(**kwargs: Any) -> Any:
                return e.store.read(functools.partial(recipe_runs.list_runs, **kwargs))

            everything = await listing(recipe_id=recipe.id)
            first_page = await listing(conversation_id=conv, limit=2)
            second_page = await listing(conversation_id=conv, limit=2, before=first_page[-1]["id"])
    assert [r["conversation"] for r in everything] == [other, conv, conv, conv]
    assert [r["created_at"] for r in everything] == sorted(
        (r["created_at"] for r in everything), reverse=True
    )
    assert [r["id"] for r in first_page + second_page] == [r["id"] for r in everything[1:]]
    assert everything[0]["recipe_name"] == "Count"
    assert everything[0]["state"] == "done"


def _event(type_: str, payload: dict[str, Any]) -> StoredEvent:
    return StoredEvent(9, type_, "cv_1", json.dumps(payload), 1_000)


@pytest.mark.parametrize(
    ("trigger", "status", "tag", "event", "expected"),
    [
        ("new_conversation", None, None, _event("conversation.created", {}), True),
        ("new_conversation", None, None, _event("message.posted", {"kind": "message"}), False),
        ("new_message", None, None, _event("message.posted", {"kind": "message"}), True),
        ("new_message", None, None, _event("message.posted", {"kind": "note"}), False),
        ("new_message", None, None, _event("message.posted", {"kind": "event"}), False),
        (
            "new_message", None, None,
            _event("message.posted", {"kind": "message", "internal": True}), False,
        ),
        (
            "status_changed", "resolved", None,
            _event("conversation.updated", {"changes": {"status": ["open", "resolved"]}}), True,
        ),
        (
            "status_changed", "pending", None,
            _event("conversation.updated", {"changes": {"status": ["open", "resolved"]}}), False,
        ),
        (
            "tag_added", None, "vip",
            _event("conversation.updated", {"changes": {"tags": [["a"], ["a", "VIP"]]}}), True,
        ),
        (
            "tag_added", None, "vip",
            _event("conversation.updated", {"changes": {"tags": [["vip"], ["vip", "b"]]}}), False,
        ),
    ],
)  # fmt: skip
def test_which_events_trigger_which_recipes(
    trigger: str, status: str | None, tag: str | None, event: StoredEvent, expected: bool
) -> None:
    assert fires(trigger, status, tag, event) is expected


def test_causes_name_the_chain_and_depth() -> None:
    cause = {"recipe": "rc_b", "run": "rr_1", "depth": 2, "chain": ["rc_a", "rc_b"]}
    updated = _event("conversation.updated", {"changes": {}, "cause": cause})
    posted = _event("message.posted", {"kind": "message", "data": {"cause": cause}})
    person = _event("message.posted", {"kind": "message", "data": None})
    assert cause_of(updated) == Cause(2, ("rc_a", "rc_b"))
    assert cause_of(posted) == Cause(2, ("rc_a", "rc_b"))
    assert cause_of(person) == Cause()
    assert cause_of(updated).names("rc_a")
    assert not cause_of(person).names("rc_a")
