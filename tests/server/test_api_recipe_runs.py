"""Test runs, runs and the per-recipe webhook delivery log over REST, on a real server:
a test run evaluates and plans without changing a single row, runs and deliveries page
newest first with ``before``, and a delivery can be sent again with its webhook-id.

Helpers and the ``settings`` fixture (private webhook targets allowed, for the loopback
receiver) are test_api_recipes.py's.
"""

from __future__ import annotations

import trio

from tests.e2e.test_webhooks_delivery import Receiver
from tests.helpers import Seed
from tests.server.test_api_recipes import (  # noqa: F401 - settings is a fixture
    MASKED,
    TOKEN,
    contact_of,
    invalid,
    recipe_body,
    rows,
    say,
    settings,
    settle,
    wait_for,
    webhook_action,
)
from tests.server.test_api_support import error_code, snapshot, staff

# -- test run -------------------------------------------------------------------------------------


async def test_test_run_evaluates_and_plans_without_side_effects(
    nursery: trio.Nursery, seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        receiver = Receiver()
        await nursery.start(receiver.serve)
        admin, client = await staff(seed, "admin@example.com", "admin")
        context = await seed.context()
        attendee = await seed.attendee(context["id"], email="ann@example.com")
        conversation = attendee["conversation"]
        await say(seed.running, conversation, "Where is my refund?", contact_of(attendee))
        definition = recipe_body(
            name="Refunds",
            # Disabled and created after the message: it never runs by itself here.
            enabled=False,
            trigger={"type": "new_message"},
            filter={
                "type": "conditions",
                "match": "all",
                "conditions": [
                    {"field": "text", "operator": "matches_keywords", "value": "refund, money"},
                    {"field": "status", "operator": "is", "value": "open"},
                ],
            },
            actions=[
                {"type": "reply", "text": "We are on it.", "mode": "send"},
                {"type": "resolve"},
                {"type": "notify", "users": [admin["id"]], "email": True},
                webhook_action(f"{receiver.url}/hook"),
            ],
        )
        async with client:
            rid = (await client.post("/api/v1/recipes", json=definition)).json()["id"]
            await settle(seed.store)
            before = await snapshot(seed)
            saved = await client.post(
                "/api/v1/recipes/test-run", json={"recipe": rid, "conversation": conversation}
            )
            # The editor's unsaved change, masked credentials included, tried as that recipe.
            edited = dict(definition)
            edited["filter"] = {
                "type": "conditions",
                "conditions": [{"field": "status", "operator": "is", "value": "resolved"}],
            }
            edited["actions"] = [
                *definition["actions"][:3],
                webhook_action(receiver.url, authorization=MASKED),
            ]
            unsaved = await client.post(
                "/api/v1/recipes/test-run",
                json={"recipe": rid, "definition": edited, "conversation": conversation},
            )
            alone = await client.post(
                "/api/v1/recipes/test-run",
                json={"definition": recipe_body(), "conversation": conversation},
            )
            await settle(seed.store)
            after = await snapshot(seed)
    assert saved.status_code == 200, saved.text
    result = saved.json()
    assert result["recipe"] == rid
    assert result["conversation"] == conversation
    assert result["matched"] is True
    assert result["in_scope"] is True
    assert result["would_run"] is True
    assert [(c["field"], c["ok"]) for c in result["checks"]] == [("text", True), ("status", True)]
    assert result["message"]["body"] == "Where is my refund?"
    assert [a["type"] for a in result["actions"]] == ["reply", "resolve", "notify", "webhook"]
    assert all(a["describe"] and a["skip"] is None for a in result["actions"])

    assert unsaved.status_code == 200, unsaved.text
    assert unsaved.json()["matched"] is False
    assert unsaved.json()["would_run"] is False
    assert unsaved.json()["checks"][0]["actual"] == "open"
    assert alone.status_code == 200, alone.text
    assert alone.json()["recipe"] is None
    assert alone.json()["matched"] is True  # filter "all" by default

    assert after == before  # no reply, status, notification, mail, delivery or run
    assert receiver.requests == []


async def test_test_run_refusals(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed, "admin@example.com", "admin")
        context = await seed.context()
        conversation = (await seed.attendee(context["id"]))["conversation"]
        async with client:
            rid = (await client.post("/api/v1/recipes", json=recipe_body())).json()["id"]
            before = await snapshot(seed)
            url = "/api/v1/recipes/test-run"
            no_conversation = await client.post(url, json={"recipe": rid})
            nothing_to_run = await client.post(url, json={"conversation": conversation})
            unknown_conversation = await client.post(
                url, json={"recipe": rid, "conversation": "cv_nope"}
            )
            unknown_recipe = await client.post(
                url, json={"recipe": "rc_nope", "conversation": conversation}
            )
            bad_trigger = await client.post(
                url,
                json={
                    "definition": recipe_body(trigger={"type": "later"}),
                    "conversation": conversation,
                },
            )
            bad_user = await client.post(
                url,
                json={
                    "definition": recipe_body(actions=[{"type": "notify", "users": ["us_x"]}]),
                    "conversation": conversation,
                },
            )
            not_an_object = await client.post(
                url, json={"definition": "resolve it", "conversation": conversation}
            )
            unknown_field = await client.post(
                url, json={"recipe": rid, "conversation": conversation, "dry": True}
            )
            after = await snapshot(seed)
    assert no_conversation.status_code == 400
    assert error_code(no_conversation) == "missing_field"
    assert "conversation is required" in no_conversation.json()["error"]["message"]
    assert nothing_to_run.status_code == 400
    assert error_code(nothing_to_run) == "missing_field"
    assert unknown_conversation.status_code == 404
    assert "cv_nope" in unknown_conversation.json()["error"]["message"]
    assert unknown_recipe.status_code == 404
    assert invalid(bad_trigger)[0] == "definition.trigger.type"
    assert invalid(bad_user)[0] == "definition.actions[0].users[0]"
    assert "no user us_x" in invalid(bad_user)[1]
    assert not_an_object.status_code == 400
    assert error_code(not_an_object) == "bad_field"
    assert unknown_field.status_code == 400
    assert "unknown field dry" in unknown_field.json()["error"]["message"]
    assert after == before


# -- runs and deliveries --------------------------------------------------------------------------


async def test_runs_and_deliveries_page_and_redeliver(
    nursery: trio.Nursery, seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        receiver = Receiver()
        await nursery.start(receiver.serve)
        _, admin = await staff(seed, "admin@example.com", "admin")
        _, agent = await staff(seed)
        context = await seed.context()
        async with admin, agent:
            created = await admin.post(
                "/api/v1/recipes",
                json=recipe_body(
                    actions=[
                        {"type": "add_tags", "tags": ["auto"]},
                        webhook_action(f"{receiver.url}/recipe"),
                    ]
                ),
            )
            rid = created.json()["id"]
            # An admin's own endpoint: its deliveries are not this recipe's.
            own = await admin.post(
                "/api/v1/webhooks",
                json={"url": f"{receiver.url}/own", "event_types": ["conversation.created"]},
            )
            conversations = [
                (await seed.attendee(context["id"], name=name))["conversation"]
                for name in ("Ann", "Bob", "Cem")
            ]
            await settle(seed.store)
            await receiver.wait_for(6)
            await wait_for(
                seed,
                lambda c: (
                    c.execute(
                        "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'"
                    ).fetchone()[0]
                    == 6
                ),
            )
            runs = f"/api/v1/recipes/{rid}/runs"
            page1 = await agent.get(runs, params={"limit": 2})
            page2 = await agent.get(runs, params={"limit": 2, "before": page1.json()["next"]})
            everything = await agent.get(runs)
            by_conversation = await agent.get(f"/api/v1/conversations/{conversations[1]}/runs")
            bad_cursor = await agent.get(runs, params={"before": "rr_nope"})
            bad_limit = await agent.get(runs, params={"limit": 0})

            log = f"/api/v1/recipes/{rid}/deliveries"
            deliveries1 = await admin.get(log, params={"limit": 2})
            deliveries2 = await admin.get(
                log, params={"limit": 2, "before": deliveries1.json()["next"]}
            )
            failed = await admin.get(log, params={"state": "failed"})
            bad_state = await admin.get(log, params={"state": "lost"})
            chosen = deliveries1.json()["items"][0]
            again = await admin.post(f"{log}/{chosen['id']}/redeliver")
            await receiver.wait_for(7)
            [own_delivery] = await rows(
                seed,
                "SELECT id FROM webhook_deliveries WHERE endpoint_id = ? LIMIT 1",
                own.json()["id"],
            )
            foreign = await admin.post(f"{log}/{own_delivery[0]}/redeliver")
            unknown = await admin.post(f"{log}/msg_nope/redeliver")
    items = page1.json()["items"] + page2.json()["items"]
    assert page1.status_code == 200, page1.text
    assert len(page1.json()["items"]) == 2
    assert page1.json()["next"] == page1.json()["items"][-1]["id"]
    assert page2.json()["next"] is None
    assert [r["conversation"] for r in items] == conversations[::-1]  # newest first
    assert everything.json() == {"items": items, "next": None}
    first = items[0]
    assert first["recipe"] == rid
    assert first["recipe_name"] == "Tag new conversations"
    assert first["version"] == 1
    assert first["state"] == "done"
    assert [r["result"] for r in first["results"]] == ["done", "queued"]
    assert by_conversation.json()["items"] == [items[1]]
    assert bad_cursor.status_code == 400
    assert "before" in bad_cursor.json()["error"]["message"]
    assert bad_limit.status_code == 400

    log_items = deliveries1.json()["items"] + deliveries2.json()["items"]
    assert len(deliveries1.json()["items"]) == 2
    assert deliveries1.json()["next"] == deliveries1.json()["items"][-1]["seq"]
    assert deliveries2.json()["next"] is None
    assert len(log_items) == 3
    assert {d["endpoint"] for d in log_items} != {own.json()["id"]}
    assert {(d["action_index"], d["state"], d["event_type"]) for d in log_items} == {
        (1, "delivered", "recipe.new_conversation")
    }
    assert failed.json() == {"items": [], "next": None}
    assert bad_state.status_code == 400
    assert again.status_code == 202, again.text
    assert again.json() == {"id": chosen["id"], "state": "pending", "attempts": 1}
    recipe_requests = [r for r in receiver.requests if r.path == "recipe"]
    assert len(recipe_requests) == 4
    assert recipe_requests[-1].webhook_id == chosen["id"]  # the same webhook-id again
    assert recipe_requests[-1].headers["authorization"] == TOKEN
    assert foreign.status_code == 404
    assert unknown.status_code == 404
