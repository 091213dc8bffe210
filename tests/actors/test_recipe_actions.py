"""Recipe actions on a running System: conversation changes carry the run's cause, replies
are sent once, round robin takes turns among online members only, smart assign follows
the contact's earlier agent within its window, hide and block take effect.

Runs are driven as the scheduler drives them (tests/recipe_kit.py): plan, claim with the
queued effects, perform.
"""

from __future__ import annotations

import functools
import json

import pytest
import trio

from actors import contexts, directory
from actors.recipe_actions import Planned, perform_action
from actors.records import NewMessage
from actors.system import System
from protocol.frames import Participant
from tests.actors.conftest import TEST_TIMEOUT
from tests.recipe_kit import (
    context,
    enqueue_again,
    execute,
    make_recipe,
    new_attendee,
    new_team,
    new_user,
    plan,
    run,
    sql,
)

HOUR = 3_600_000
DAY = 24 * HOUR
#: A fixed "now" for runs whose decisions depend on the time.
NOW = 1_900_000_000_000


async def test_conversation_changes_carry_the_cause_and_are_by_the_recipe(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        att = await new_attendee(system.store)
        conv = att["conversation"]
        recipe = await make_recipe(
            system.store,
            [
                {"type": "add_tags", "tags": ["vip", "billing"]},
                {"type": "set_properties", "properties": {"priority": "high", "language": "fr"}},
                {"type": "set_pending"},
                {"type": "remove_tags", "tags": ["billing"]},
                {"type": "resolve"},
            ],
            name="Tidy up",
        )
        done = await run(await context(system, recipe, conv, key_event=1))
        (state,) = await sql(system.store, "SELECT status, priority, properties FROM conversations")
        tags = await sql(system.store, "SELECT tag FROM conversation_tags")
        events = await sql(
            system.store,
            "SELECT payload FROM events WHERE type = 'conversation.updated' ORDER BY id",
        )
        history = await sql(
            system.store,
            "SELECT author_kind, author_id, author_name, data FROM messages "
            "WHERE conversation_id = ? AND kind = 'event' ORDER BY seq",
            conv,
        )
    assert [r["result"] for r in done.results] == ["done"] * 5
    assert [r["detail"] for r in done.results] == [
        "tagged vip, billing", "set priority high, language fr", "set pending",
        "untagged billing", "resolved",
    ]  # fmt: skip
    assert state == ("resolved", "high", '{"language": "fr"}')
    assert tags == [("vip",)]
    cause = {
        "recipe": recipe.id, "version": 1, "run": done.ctx.run_id, "depth": 1,
        "chain": [recipe.id],
    }  # fmt: skip
    payloads = [json.loads(e[0]) for e in events]
    assert len(payloads) == 5
    assert all(p["cause"] == cause for p in payloads)
    assert all(p["by"] == {"kind": "bot", "id": recipe.id, "name": "Tidy up"} for p in payloads)
    assert history
    assert all(h[:3] == ("bot", recipe.id, "Tidy up") for h in history)
    assert all(json.loads(h[3])["cause"] == cause for h in history)


async def test_a_reply_is_sent_once_with_the_run_client_msg_id(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        att = await new_attendee(system.store)
        conv = att["conversation"]
        recipe = await make_recipe(
            system.store, [{"type": "reply", "text": "We are on it.", "mode": "send"}]
        )
        first = await run(await context(system, recipe, conv, key_event=7))
        # The run performed again (a crash after the claim): the same message answers.
        again = [await perform_action(first.ctx, item) for item in first.planned]
        rows = await sql(
            system.store,
            "SELECT seq, kind, author_kind, author_id, body, client_msg_id, data FROM messages "
            "WHERE conversation_id = ? AND kind = 'message'",
            conv,
        )
    (row,) = rows
    assert row[1:6] == (
        "message", "bot", recipe.id, "We are on it.", f"recipe:{first.ctx.run_id}:0",
    )  # fmt: skip
    assert json.loads(row[6])["cause"]["run"] == first.ctx.run_id
    assert first.results == again
    assert first.results[0] == {
        "action": "reply", "index": 0, "result": "done", "detail": f"replied (message {row[0]})",
    }  # fmt: skip


async def test_round_robin_takes_turns_among_online_members_only(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        users = sorted([await new_user(system.store, f"u{i}@example.com") for i in range(3)])
        first, offline, third = users
        team = await new_team(system.store, "Support", users)
        recipe = await make_recipe(system.store, [{"type": "assign", "team": team}])
        online = system.staff_presence
        online.connected(first)
        online.connected(third)
        online.connected(third)  # two tabs: still one member
        picks = []
        for n in range(4):
            conv = (await new_attendee(system.store, name=f"A{n}"))["conversation"]
            done = await run(await context(system, recipe, conv, key_event=10 + n))
            state = await sql(
                system.store,
                "SELECT assignee_user_id, assignee_team_id FROM conversations WHERE id = ?",
                conv,
            )
            picks.append(state[0])
        online.disconnected(first)
        online.disconnected(third)
        online.disconnected(third)
        conv = (await new_attendee(system.store, name="Late"))["conversation"]
        alone = await run(await context(system, recipe, conv, key_event=20))
        nobody = await sql(
            system.store,
            "SELECT assignee_user_id, assignee_team_id FROM conversations WHERE id = ?",
            conv,
        )
        pointer = await sql(system.store, "SELECT team_id, last_user_id FROM round_robin")
    assert picks == [(first, team), (third, team), (first, team), (third, team)]
    assert offline not in {p[0] for p in picks}
    assert "round robin" in done.results[0]["detail"]
    assert nobody == [(None, team)]
    assert alone.results[0]["detail"] == "assigned to team Support (no member online)"
    assert pointer == [(team, third)]  # nobody online moved nothing


async def test_a_replayed_plan_assigns_the_same_member(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        a, b = sorted([await new_user(system.store, f"m{i}@example.com") for i in range(2)])
        team = await new_team(system.store, "Sales", [a, b])
        recipe = await make_recipe(system.store, [{"type": "assign", "team": team}])
        conv = (await new_attendee(system.store))["conversation"]
        online = system.staff_presence
        online.connected(a)
        online.connected(b)
        done = await run(await context(system, recipe, conv, key_event=3))
        online.disconnected(a)  # the stored plan decides, not the presence now
        stored = [Planned.from_json(json.loads(json.dumps(p.to_json()))) for p in done.planned]
        again = await perform_action(done.ctx, stored[0])
        state = await sql(system.store, "SELECT assignee_user_id FROM conversations")
    assert stored == done.planned
    assert state == [(a,)]
    assert again == done.results[0]


@pytest.mark.parametrize(("window", "span"), [
    ("3h", 3 * HOUR), ("24h", DAY), ("2d", 2 * DAY), ("3d", 3 * DAY), ("7d", 7 * DAY),
])  # fmt: skip
async def test_smart_assign_follows_the_contacts_agent_within_the_window(
    system: System, window: str, span: int
) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        agent = await new_user(system.store, "sam@example.com", "Sam")
        backup = await new_user(system.store, "kim@example.com", "Kim")
        system.staff_presence.connected(agent)
        recipe = await make_recipe(
            system.store,
            [{"type": "smart_assign", "window": window, "fallback": {"user": backup}}],
        )
        # Two earlier conversations of the same contact (same email, other webinars).
        inside = await new_attendee(system.store, email="ann@example.com", title="Inside")
        outside = await new_attendee(system.store, email="ann@example.com", title="Outside")
        new = await new_attendee(system.store, email="ann@example.com", title="New")
        assert inside["contact"]["id"] == new["contact"]["id"] == outside["contact"]["id"]
        await execute(
            system.store,
            "UPDATE conversations SET assignee_user_id = ?, last_activity_at = ? WHERE id = ?",
            agent, NOW - span + 60_000, inside["conversation"],
        )  # fmt: skip
        ctx = await context(system, recipe, new["conversation"], key_event=1, now_ms=NOW)
        within = await run(ctx)
        # A minute past the window: the earlier agent no longer counts; the fallback does.
        await execute(
            system.store, "UPDATE conversations SET last_activity_at = ? WHERE id = ?",
            NOW - span - 60_000, inside["conversation"],
        )  # fmt: skip
        late = await run(
            await context(system, recipe, outside["conversation"], key_event=2, now_ms=NOW)
        )
        assigned = dict(await sql(system.store, "SELECT id, assignee_user_id FROM conversations"))
    assert assigned[new["conversation"]] == agent
    assert within.results[0]["detail"] == f"assigned to Sam (handled this contact within {window})"
    assert assigned[outside["conversation"]] == backup
    assert late.results[0]["detail"] == (
        f"assigned to Kim (fallback: nobody handled this contact's conversations in the last "
        f"{window})"
    )


async def test_smart_assign_falls_back_when_the_agent_is_offline(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        agent = await new_user(system.store, "sam@example.com", "Sam")
        member = await new_user(system.store, "lea@example.com", "Lea")
        team = await new_team(system.store, "Tier 2", [member])
        with_fallback = await make_recipe(
            system.store, [{"type": "smart_assign", "window": "24h", "fallback": {"team": team}}]
        )
        without = await make_recipe(
            system.store, [{"type": "smart_assign", "window": "24h", "fallback": None}]
        )
        old = await new_attendee(system.store, email="bo@example.com", title="Old")
        new = await new_attendee(system.store, email="bo@example.com", title="New")
        await execute(
            system.store,
            "UPDATE conversations SET assignee_user_id = ?, last_activity_at = ? WHERE id = ?",
            agent, NOW - HOUR, old["conversation"],
        )  # fmt: skip
        conv = new["conversation"]
        offline = await run(await context(system, with_fallback, conv, key_event=1, now_ms=NOW))
        fallback_state = await sql(
            system.store, "SELECT assignee_user_id, assignee_team_id FROM conversations "
            "WHERE id = ?", conv,
        )  # fmt: skip
        skipped = await run(await context(system, without, conv, key_event=2, now_ms=NOW))
        # A team that handled the contact counts when any of its members is online.
        await execute(
            system.store,
            "UPDATE conversations SET assignee_user_id = NULL, assignee_team_id = ? WHERE id = ?",
            team, old["conversation"],
        )  # fmt: skip
        system.staff_presence.connected(member)
        by_team = await run(await context(system, without, conv, key_event=3, now_ms=NOW))
        team_state = await sql(
            system.store, "SELECT assignee_user_id, assignee_team_id FROM conversations "
            "WHERE id = ?", conv,
        )  # fmt: skip
    assert fallback_state == [(None, team)]
    assert offline.results[0]["detail"] == (
        "assigned to team Tier 2 (fallback: Sam, who handled this contact within 24h, is offline)"
    )
    assert skipped.results[0]["result"] == "skipped"
    assert skipped.results[0]["detail"] == (
        "Sam, who handled this contact within 24h, is offline, and there is no fallback"
    )
    assert by_team.results[0]["detail"] == (
        "assigned to team Tier 2 (handled this contact within 24h)"
    )
    assert team_state == [(None, team)]


async def test_hide_message_deletes_the_triggering_message(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        att = await new_attendee(system.store)
        conv = att["conversation"]
        author = Participant("contact", att["contact"]["id"], "Ann")
        spam = await system.post(NewMessage(conv, author, "message", "buy cheap pills"))
        recipe = await make_recipe(system.store, [{"type": "hide_message"}], name="Spam")
        ctx = await context(system, recipe, conv, key_event=5, message=spam)
        done = await run(ctx)
        again = await perform_action(ctx, done.planned[0])
        rows = await sql(
            system.store,
            "SELECT deleted_at IS NOT NULL FROM messages WHERE conversation_id = ? AND seq = ?",
            conv, spam.seq,
        )  # fmt: skip
        deleted = await sql(
            system.store, "SELECT payload FROM events WHERE type = 'message.deleted'"
        )
        no_message = await plan(await context(system, recipe, conv, key_event=6))
    assert rows == [(1,)]
    assert done.results[0]["detail"] == f"hid message {spam.seq}"
    assert again["detail"] == f"message {spam.seq} is hidden already"
    (payload,) = (json.loads(d[0]) for d in deleted)
    assert payload["by"] == {"kind": "bot", "id": recipe.id, "name": "Spam"}
    assert no_message[0].skip == "no message triggered this run"


async def test_block_contact_refuses_its_tokens_and_closes_its_sessions(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        att = await new_attendee(system.store)
        conv = att["conversation"]
        closed: list[str] = []
        sessions = system.contact_sessions
        assert sessions.register(att["contact"]["id"], "s1", closed.append)
        before = await system.store.read(
            functools.partial(directory.lookup_attendee_token, token=att["token"], now=0)
        )
        recipe = await make_recipe(system.store, [{"type": "block_contact"}])
        ctx = await context(system, recipe, conv, key_event=9)
        done = await run(ctx)
        again = await perform_action(ctx, done.planned[0])
        after = await system.store.read(
            functools.partial(directory.lookup_attendee_token, token=att["token"], now=0)
        )
        blocked = await system.store.read(
            functools.partial(contexts.is_blocked, contact_id=att["contact"]["id"])
        )
    assert before is not None
    assert after is None
    assert blocked
    assert closed == ["the contact was blocked"]
    assert done.results[0]["detail"] == "blocked Ann (1 open session closed)"
    assert again["detail"] == "Ann is blocked already"
    # A session that registers after the block (its token read just before) is refused.
    assert not sessions.register(att["contact"]["id"], "s2", closed.append)


async def test_replaying_the_claim_stores_nothing_twice(system: System) -> None:
    with trio.fail_after(TEST_TIMEOUT):
        user = await new_user(system.store, "ops@example.com", "Ops")
        att = await new_attendee(system.store)
        conv = att["conversation"]
        recipe = await make_recipe(
            system.store,
            [
                {"type": "notify", "users": [user], "email": True},
                {"type": "reply", "text": "Draft for you", "mode": "draft"},
                {"type": "reply", "text": "Needs a yes", "mode": "approval"},
                {
                    "type": "webhook", "name": "CRM", "url": "https://crm.example.com/hook",
                    "fields": ["conversation_id", "status"],
                },
            ],
        )  # fmt: skip
        ctx = await context(system, recipe, conv, key_event=42)
        done = await run(ctx)
        again = await enqueue_again(ctx, done.planned)
        counts = (
            await sql(
                system.store,
                "SELECT (SELECT COUNT(*) FROM notifications), (SELECT COUNT(*) FROM staff_mail), "
                "(SELECT COUNT(*) FROM recipe_replies), (SELECT COUNT(*) FROM webhook_deliveries)",
            )
        )[0]
        deliveries = await sql(
            system.store, "SELECT id, event_id, event_type, body FROM webhook_deliveries"
        )
    assert counts == (1, 1, 2, 1)
    assert [r["result"] for r in done.results] == ["done", "queued", "queued", "queued"]
    (delivery,) = deliveries
    assert delivery[1:3] == (42, "recipe.new_message")
    assert json.loads(delivery[3])["fields"] == {"conversation_id": conv, "status": "open"}
    assert done.results[3]["detail"] == f"webhook “CRM” queued ({delivery[0]})"
    assert again[1:] == done.queued[1:]  # the same rows, found again
