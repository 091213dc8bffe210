"""Recipe definitions in SQLite (through a running Store): versions on every edit,
after_event, masked credentials, reference errors naming the field, soft delete, the
endpoints of webhook actions, business hours and saved filters (matching what the inbox
lists)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any

import pytest

from actors import (
    conversation_update,
    directory,
    recipe_defs,
    recipe_webhooks,
    records,
    search,
    webhook_store,
)
from actors.business_hours import HoursError, is_open
from actors.directory import Conflict
from actors.recipe_defs import Recipe
from actors.recipe_model import RecipeError, parse_recipe
from actors.recipe_refs import FILTER_KEYS
from actors.records import ConversationChanges, NotFound
from actors.search import ConversationFilter
from actors.search_indexer import catch_up
from actors.store import Store, Tx
from tests.actors.conftest import CONTACT, STAFF, append_events, message, new_conversation, new_user

SECRET_AUTH = "Bearer s3cr3t-token-abcd1234"
HOURS = {
    "name": "Paris office",
    "timezone": "Europe/Paris",
    "weekly": {"mon": [["09:00", "17:30"]]},
    "holidays": ["2026-12-25"],
}


def definition(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Triage",
        "trigger": {"type": "new_message"},
        "actions": [{"type": "add_tags", "tags": ["new"]}],
    }
    base.update(overrides)
    return base


def hook(url: str = "https://crm.example/hook", **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": "CRM", "url": url, **extra}


async def write(store: Store, fn: Callable[..., Any], *args: Any) -> Any:
    return await store.write(lambda tx: fn(tx, *args))


async def read(store: Store, fn: Callable[..., Any], *args: Any) -> Any:
    return await store.read(lambda conn: fn(conn, *args))


async def max_event(store: Store) -> int:
    return await store.read(
        lambda conn: conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    )


# -- versions and after_event ------------------------------------------------------------------


async def test_create_writes_version_one_after_the_newest_event(store: Store) -> None:
    await store.write(append_events(3))
    created: Recipe = await write(store, recipe_defs.create_recipe, definition(), "us_admin")
    assert created.version == 1
    assert created.kind == "new_item"
    assert created.enabled
    assert created.after_event == await max_event(store) == 3
    assert created.definition == parse_recipe(definition())
    versions = await read(store, recipe_defs.list_versions, created.id)
    assert [(v["version"], v["created_by"]) for v in versions] == [(1, "us_admin")]
    assert versions[0]["definition"] == created.definition.to_json()
    assert await read(store, recipe_defs.get_recipe, created.id) == created


async def test_every_edit_is_a_new_version(store: Store) -> None:
    created: Recipe = await write(store, recipe_defs.create_recipe, definition(), None)
    renamed = definition(name="Triage 2", trigger={"type": "status_changed", "status": "open"})
    updated: Recipe = await write(store, recipe_defs.update_recipe, created.id, renamed, "us_a")
    assert (updated.version, updated.name, updated.kind) == (2, "Triage 2", "update")
    same: Recipe = await write(store, recipe_defs.update_recipe, created.id, renamed, "us_a")
    assert same.version == 3  # every save, also without a change
    disabled: Recipe = await write(store, recipe_defs.set_enabled, created.id, False, "us_b")
    assert (disabled.version, disabled.enabled, disabled.definition.enabled) == (4, False, False)
    enabled: Recipe = await write(store, recipe_defs.set_enabled, created.id, True, "us_b")
    assert (enabled.version, enabled.enabled) == (5, True)
    versions = await read(store, recipe_defs.list_versions, created.id)
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    assert [v["enabled"] for v in versions] == [True, False, True, True, True]
    first = await read(store, recipe_defs.get_version, created.id, 1)
    assert first["name"] == "Triage"
    assert first["definition"]["trigger"] == {"type": "new_message"}
    with pytest.raises(NotFound):
        await read(store, recipe_defs.get_version, created.id, 6)


async def test_enabling_again_moves_after_event(store: Store) -> None:
    created: Recipe = await write(store, recipe_defs.create_recipe, definition(), None)
    assert created.after_event == 0
    await write(store, recipe_defs.set_enabled, created.id, False, None)
    await store.write(append_events(4))
    still_off: Recipe = await write(
        store, recipe_defs.update_recipe, created.id, definition(enabled=False), None
    )
    assert still_off.after_event == 0
    await store.write(append_events(2))
    on_again: Recipe = await write(store, recipe_defs.set_enabled, created.id, True, None)
    assert on_again.after_event == 6
    await store.write(append_events(1))
    edited: Recipe = await write(store, recipe_defs.update_recipe, created.id, definition(), None)
    assert edited.after_event == 6  # an edit of an enabled recipe keeps it


async def test_active_recipes_are_enabled_and_not_deleted(store: Store) -> None:
    ids = []
    for name in ("a", "b", "c"):
        made: Recipe = await write(store, recipe_defs.create_recipe, definition(name=name), None)
        ids.append(made.id)
    await write(store, recipe_defs.set_enabled, ids[1], False, None)
    await write(store, recipe_defs.delete_recipe, ids[2])
    assert [r.id for r in await read(store, recipe_defs.active_recipes)] == [ids[0]]
    assert [r.id for r in await read(store, recipe_defs.list_recipes)] == ids[:2]


async def test_soft_delete_drops_timers_and_keeps_versions(store: Store) -> None:
    conversation = await new_conversation(store)
    made: Recipe = await write(
        store,
        recipe_defs.create_recipe,
        definition(trigger={"type": "pending_for", "minutes": 5}, actions=[{"type": "resolve"}]),
        None,
    )

    def arm(tx: Tx) -> None:
        tx.execute(
            "INSERT INTO recipe_timers (recipe_id, conversation_id, due_at, anchor_at, "
            "anchor_event) VALUES (?, ?, 1, 0, 0)",
            (made.id, conversation),
        )

    await store.write(arm)
    await write(store, recipe_defs.delete_recipe, made.id)
    with pytest.raises(NotFound):
        await read(store, recipe_defs.get_recipe, made.id)
    gone = await store.read(
        lambda conn: recipe_defs.get_recipe(conn, made.id, include_deleted=True)
    )
    assert gone.deleted_at is not None
    assert not gone.enabled
    timers = await store.read(
        lambda conn: conn.execute("SELECT COUNT(*) FROM recipe_timers").fetchone()[0]
    )
    assert timers == 0
    assert len(await read(store, recipe_defs.list_versions, made.id)) == 1
    for edit in (
        lambda tx: recipe_defs.update_recipe(tx, made.id, definition(), None),
        lambda tx: recipe_defs.set_enabled(tx, made.id, True, None),
        lambda tx: recipe_defs.delete_recipe(tx, made.id),
    ):
        with pytest.raises(NotFound):
            await store.write(edit)


async def test_unknown_recipe(store: Store) -> None:
    with pytest.raises(NotFound):
        await read(store, recipe_defs.get_recipe, "rc_nope")
    with pytest.raises(NotFound):
        await write(store, recipe_defs.update_recipe, "rc_nope", definition(), None)
    with pytest.raises(NotFound):
        await read(store, recipe_defs.list_versions, "rc_nope")


async def test_a_bad_definition_writes_nothing(store: Store) -> None:
    with pytest.raises(RecipeError) as caught:
        await write(store, recipe_defs.create_recipe, definition(actions=[]), None)
    assert caught.value.field == "actions"
    assert await read(store, recipe_defs.list_recipes) == []
    made: Recipe = await write(store, recipe_defs.create_recipe, definition(), None)
    bad = definition(trigger={"type": "pending_for", "minutes": 0})
    with pytest.raises(RecipeError, match=r"^trigger\.minutes: "):
        await write(store, recipe_defs.update_recipe, made.id, bad, None)
    assert (await read(store, recipe_defs.get_recipe, made.id)).version == 1


# -- references --------------------------------------------------------------------------------


@pytest.fixture
async def refs(store: Store) -> dict[str, str]:
    """Existing things to refer to: a user, a team, a context, a schedule, a saved filter."""
    user = await new_user(store, "ann@example.com")
    team = await store.write(lambda tx: directory.create_team(tx, "Support", [user]))
    conversation = await new_conversation(store)
    context = await store.read(
        lambda conn: conn.execute(
            "SELECT context_id FROM conversations WHERE id = ?", (conversation,)
        ).fetchone()[0]
    )
    hours = await write(store, recipe_defs.create_schedule, HOURS)
    saved = await write(
        store,
        recipe_defs.create_saved_filter,
        {"name": "Open", "filters": {"status": "open"}},
        user,
    )
    return {
        "user": user,
        "team": team["id"],
        "context": context,
        "hours": hours["id"],
        "saved": saved["id"],
        "conversation": conversation,
    }


async def test_references_that_exist_are_accepted(store: Store, refs: dict[str, str]) -> None:
    data = definition(
        scope={"contexts": [refs["context"]]},
        filter={
            "type": "conditions",
            "conditions": [
                {"field": "context", "operator": "in", "value": [refs["context"]]},
                {
                    "field": "assignee",
                    "operator": "in",
                    "value": ["unassigned", refs["user"], f"team:{refs['team']}"],
                },
            ],
        },
        business_hours={"schedule": refs["hours"], "when": "inside"},
        actions=[
            {"type": "notify", "users": [refs["user"]]},
            {"type": "assign", "team": refs["team"]},
            {"type": "smart_assign", "window": "7d", "fallback": {"user": refs["user"]}},
        ],
    )
    made: Recipe = await write(store, recipe_defs.create_recipe, data, None)
    assert made.definition.business_hours is not None
    saved = definition(filter={"type": "saved", "saved_filter": refs["saved"]})
    assert (await write(store, recipe_defs.create_recipe, saved, None)).version == 1


@pytest.mark.parametrize(
    ("make", "field", "fragment"),
    [
        (
            lambda r: {"scope": {"contexts": [r["context"], "ctx_gone"]}},
            "scope.contexts[1]",
            "no context ctx_gone",
        ),
        (
            lambda r: {"filter": {"type": "saved", "saved_filter": "sf_gone"}},
            "filter.saved_filter",
            "no saved filter sf_gone",
        ),
        (
            lambda r: {
                "filter": {
                    "type": "conditions",
                    "conditions": [
                        {"field": "status", "operator": "is", "value": "open"},
                        {"field": "context", "operator": "is", "value": "ctx_gone"},
                    ],
                }
            },
            "filter.conditions[1].value",
            "no context",
        ),
        (
            lambda r: {
                "filter": {
                    "type": "conditions",
                    "conditions": [
                        {"field": "assignee", "operator": "not_in", "value": [r["user"], "us_gone"]}
                    ],
                }
            },
            "filter.conditions[0].value[1]",
            "no user us_gone",
        ),
        (
            lambda r: {
                "filter": {
                    "type": "conditions",
                    "conditions": [
                        {"field": "assignee", "operator": "is", "value": "team:tm_gone"}
                    ],
                }
            },
            "filter.conditions[0].value",
            "no team tm_gone",
        ),
        (
            lambda r: {"business_hours": {"schedule": "bh_gone", "when": "outside"}},
            "business_hours.schedule",
            "no business hours schedule bh_gone",
        ),
        (
            lambda r: {
                "actions": [
                    {"type": "resolve"},
                    {"type": "notify", "users": [r["user"], "us_gone"]},
                ]
            },
            "actions[1].users[1]",
            "no user us_gone",
        ),
        (
            lambda r: {"actions": [{"type": "assign", "user": "us_gone"}]},
            "actions[0].user",
            "no user",
        ),
        (
            lambda r: {"actions": [{"type": "assign", "team": "tm_gone"}]},
            "actions[0].team",
            "no team",
        ),
        (
            lambda r: {
                "actions": [
                    {"type": "smart_assign", "window": "3h", "fallback": {"team": "tm_gone"}}
                ]
            },
            "actions[0].fallback.team",
            "no team tm_gone",
        ),
    ],
)
async def test_reference_errors_name_the_field(
    store: Store,
    refs: dict[str, str],
    make: Callable[[dict[str, str]], dict[str, Any]],
    field: str,
    fragment: str,
) -> None:
    with pytest.raises(RecipeError) as caught:
        await write(store, recipe_defs.create_recipe, definition(**make(refs)), None)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert await read(store, recipe_defs.list_recipes) == []


# -- masked credentials ------------------------------------------------------------------------


def test_masks_show_the_scheme_and_a_tail_of_long_credentials() -> None:
    assert recipe_defs.mask_authorization(SECRET_AUTH) == "Bearer …1234"
    assert recipe_defs.mask_authorization("Basic abc") == "Basic …"
    assert recipe_defs.mask_authorization(None) is None


async def test_authorization_is_masked_everywhere_it_is_shown(store: Store) -> None:
    data = definition(actions=[{"type": "resolve"}, hook(authorization=SECRET_AUTH)])
    made: Recipe = await write(store, recipe_defs.create_recipe, data, None)
    assert made.definition.actions[1].params["authorization"] == SECRET_AUTH
    shown = recipe_defs.recipe_json(made)
    assert shown["actions"][1]["authorization"] == "Bearer …1234"
    assert shown["id"] == made.id
    assert shown["version"] == 1
    text = json.dumps(shown) + json.dumps(await read(store, recipe_defs.list_versions, made.id))
    text += json.dumps(await read(store, recipe_defs.get_version, made.id, 1))
    assert "s3cr3t" not in text


async def test_a_masked_authorization_sent_back_keeps_the_stored_one(store: Store) -> None:
    data = definition(actions=[hook(authorization=SECRET_AUTH)])
    made: Recipe = await write(store, recipe_defs.create_recipe, data, None)
    shown = recipe_defs.recipe_json(made)
    shown["name"] = "Renamed"  # what the console sends back: the answer, edited
    kept: Recipe = await write(store, recipe_defs.update_recipe, made.id, shown, None)
    assert kept.version == 2
    assert kept.name == "Renamed"
    assert kept.definition.actions[0].params["authorization"] == SECRET_AUTH
    # The action moved to another index: still recognised by its mask.
    moved = {**shown, "actions": [{"type": "resolve"}, shown["actions"][0]]}
    kept = await write(store, recipe_defs.update_recipe, made.id, moved, None)
    assert kept.definition.actions[1].params["authorization"] == SECRET_AUTH
    # A new value replaces it.
    fresh = {**shown, "actions": [hook(authorization="Token new-value")]}
    replaced: Recipe = await write(store, recipe_defs.update_recipe, made.id, fresh, None)
    assert replaced.definition.actions[0].params["authorization"] == "Token new-value"
    # The old mask now matches nothing stored.
    with pytest.raises(RecipeError) as caught:
        await write(store, recipe_defs.update_recipe, made.id, shown, None)
    assert caught.value.field == "actions[0].authorization"
    assert "send the full value" in caught.value.message


async def test_a_masked_authorization_cannot_create(store: Store) -> None:
    data = definition(actions=[{"type": "resolve"}, hook(authorization="Bearer …1234")])
    with pytest.raises(RecipeError) as caught:
        await write(store, recipe_defs.create_recipe, data, None)
    assert caught.value.field == "actions[1].authorization"


# -- webhook endpoints of recipes --------------------------------------------------------------


def _endpoints(conn: Any, recipe_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT action_index, id, secret, url, method, content_type, auth_header, fields, "
        "event_types, enabled, disabled_reason FROM webhook_endpoints WHERE recipe_id = ? "
        "ORDER BY action_index",
        (recipe_id,),
    ).fetchall()


async def test_webhook_actions_get_endpoints_with_secrets_shown_once(store: Store) -> None:
    await store.write(append_events(2))
    data = definition(
        actions=[
            {"type": "resolve"},
            hook(authorization=SECRET_AUTH, fields=["status", "tags"], method="GET"),
        ]
    )
    made: Recipe = await write(store, recipe_defs.create_recipe, data, None)
    [row] = await store.read(lambda conn: _endpoints(conn, made.id))
    index, endpoint_id, secret, url, method, content_type, auth, fields, events, on, _ = row
    assert made.webhook_secrets == {1: secret}
    assert secret.startswith("whsec_")
    assert recipe_defs.recipe_json(made)["webhook_secrets"] == {"1": secret}
    assert (index, url, method, content_type, auth) == (
        1,
        "https://crm.example/hook",
        "GET",
        "application/json",
        SECRET_AUTH,
    )
    assert (json.loads(fields), json.loads(events), on) == (["status", "tags"], [], 1)
    found = await store.read(lambda conn: recipe_webhooks.endpoint_id_for(conn, made.id, 1))
    assert found == endpoint_id
    assert await store.read(lambda conn: recipe_webhooks.endpoint_id_for(conn, made.id, 0)) is None
    endpoint = await store.read(lambda conn: webhook_store.require_endpoint(conn, endpoint_id))
    assert endpoint.after_event == 2
    assert endpoint.recipe_id == made.id
    again: Recipe = await write(store, recipe_defs.get_recipe, made.id)
    assert again.webhook_secrets == {}
    assert "webhook_secrets" not in recipe_defs.recipe_json(again)


async def test_editing_webhook_actions_updates_disables_and_revives(store: Store) -> None:
    made: Recipe = await write(store, recipe_defs.create_recipe, definition(actions=[hook()]), None)
    [before] = await store.read(lambda conn: _endpoints(conn, made.id))
    changed = definition(
        actions=[hook("https://other.example/x", content_type="application/x-www-form-urlencoded")]
    )
    edited: Recipe = await write(store, recipe_defs.update_recipe, made.id, changed, None)
    assert edited.webhook_secrets == {}  # the same endpoint, the same secret
    [after] = await store.read(lambda conn: _endpoints(conn, made.id))
    assert after[1:3] == before[1:3]
    assert after[3] == "https://other.example/x"
    assert after[5] == "application/x-www-form-urlencoded"
    await write(store, recipe_defs.update_recipe, made.id, definition(), None)
    [removed] = await store.read(lambda conn: _endpoints(conn, made.id))
    assert (removed[9], removed[10]) == (0, recipe_webhooks.REMOVED)
    await write(store, recipe_defs.update_recipe, made.id, changed, None)
    [revived] = await store.read(lambda conn: _endpoints(conn, made.id))
    assert (revived[1], revived[9], revived[10]) == (before[1], 1, None)
    two = definition(actions=[hook(), hook("https://second.example/")])
    grown: Recipe = await write(store, recipe_defs.update_recipe, made.id, two, None)
    assert list(grown.webhook_secrets) == [1]
    admins = await store.read(webhook_store.list_endpoints)
    assert admins == []  # recipes' endpoints are not in the admins' list


async def test_webhook_payloads(store: Store) -> None:
    facts = {
        "conversation": {
            "id": "cv_1",
            "status": "open",
            "tags": ["a"],
            "channel": "link",
            "contact": {"id": "ct_1", "name": "Ann", "email": "a@example.com"},
            "console_url": "http://sb.example/console#cv_1",
        },
        "message": {
            "seq": 4,
            "kind": "attendee_message",
            "body": "hi",
            "author": {"kind": "contact", "id": "ct_1", "name": "Ann"},
        },
    }
    new_item: Recipe = await write(
        store,
        recipe_defs.create_recipe,
        definition(
            actions=[
                hook(fields=["conversation_id", "message_body", "console_url", "contact_email"])
            ]
        ),
        None,
    )
    payload = recipe_webhooks.webhook_payload(
        new_item, new_item.definition.actions[0], facts, "new_message"
    )
    assert payload == {
        "recipe": {"id": new_item.id, "name": "Triage", "version": 1},
        "trigger": "new_message",
        "fields": {
            "conversation_id": "cv_1",
            "message_body": "hi",
            "console_url": "http://sb.example/console#cv_1",
            "contact_email": "a@example.com",
        },
    }
    update: Recipe = await write(
        store,
        recipe_defs.create_recipe,
        definition(trigger={"type": "tag_added", "tag": "a"}, actions=[hook()]),
        None,
    )
    whole = recipe_webhooks.webhook_payload(
        update, update.definition.actions[0], facts, "tag_added"
    )
    assert whole["conversation"] == facts["conversation"]
    assert whole["message"] == facts["message"]
    assert "fields" not in whole
    no_message = {"conversation": facts["conversation"], "message": None}
    assert (
        recipe_webhooks.webhook_payload(
            update, update.definition.actions[0], no_message, "tag_added"
        )["message"]
        is None
    )


# -- business hours ----------------------------------------------------------------------------


async def test_business_hours_crud(store: Store) -> None:
    created = await write(store, recipe_defs.create_schedule, HOURS)
    assert created["id"].startswith("bh_")
    assert created["weekly"]["mon"] == [["09:00", "17:30"]]
    assert created["weekly"]["sun"] == []
    with pytest.raises(Conflict):
        await write(store, recipe_defs.create_schedule, {**HOURS, "name": "PARIS OFFICE"})
    with pytest.raises(HoursError) as caught:
        await write(store, recipe_defs.create_schedule, {**HOURS, "timezone": "Paris"})
    assert caught.value.field == "timezone"
    changed = {**HOURS, "timezone": "America/New_York"}
    updated = await write(store, recipe_defs.update_schedule, created["id"], changed)
    assert updated["timezone"] == "America/New_York"
    assert updated["created_at"] == created["created_at"]
    loaded = await read(store, recipe_defs.load_schedule, created["id"])
    assert loaded.timezone == "America/New_York"
    monday_10_new_york = 1_781_532_000_000  # 2026-06-15T14:00Z
    assert is_open(loaded, monday_10_new_york)
    assert not is_open(loaded, monday_10_new_york - 5 * 3_600_000)
    other = await write(store, recipe_defs.create_schedule, {**HOURS, "name": "Berlin"})
    assert [s["name"] for s in await read(store, recipe_defs.list_schedules)] == [
        "Berlin",
        "Paris office",
    ]
    with pytest.raises(Conflict):
        await write(store, recipe_defs.update_schedule, other["id"], HOURS)  # name taken
    used: Recipe = await write(
        store,
        recipe_defs.create_recipe,
        definition(business_hours={"schedule": created["id"], "when": "inside"}),
        None,
    )
    with pytest.raises(Conflict, match="Triage"):
        await write(store, recipe_defs.delete_schedule, created["id"])
    await write(store, recipe_defs.delete_recipe, used.id)  # a deleted recipe uses nothing
    await write(store, recipe_defs.delete_schedule, created["id"])
    with pytest.raises(NotFound):
        await read(store, recipe_defs.get_schedule, created["id"])


# -- saved filters -----------------------------------------------------------------------------


async def test_saved_filters_crud_and_validation(store: Store, refs: dict[str, str]) -> None:
    created = await write(
        store,
        recipe_defs.create_saved_filter,
        {
            "name": "Mine",
            "filters": {
                "assignee": refs["user"],
                "tag": " VIP ",
                "q": "  ",
                "channel": "Widget",
                "status": None,
            },
        },
        refs["user"],
    )
    assert created["filters"] == {"assignee": refs["user"], "tag": "vip", "channel": "widget"}
    assert created["created_by"] == refs["user"]
    with pytest.raises(Conflict):
        await write(store, recipe_defs.create_saved_filter, {"name": "MINE"}, None)
    updated = await write(
        store,
        recipe_defs.update_saved_filter,
        created["id"],
        {"name": "Unassigned", "filters": {"assignee": "Unassigned", "status": "pending"}},
    )
    assert updated["filters"] == {"assignee": "unassigned", "status": "pending"}
    names = [f["name"] for f in await read(store, recipe_defs.list_saved_filters)]
    assert names == ["Open", "Unassigned"]
    used: Recipe = await write(
        store,
        recipe_defs.create_recipe,
        definition(filter={"type": "saved", "saved_filter": created["id"]}),
        None,
    )
    with pytest.raises(Conflict, match="Triage"):
        await write(store, recipe_defs.delete_saved_filter, created["id"])
    await write(store, recipe_defs.delete_recipe, used.id)
    await write(store, recipe_defs.delete_saved_filter, created["id"])
    with pytest.raises(NotFound):
        await read(store, recipe_defs.get_saved_filter, created["id"])


@pytest.mark.parametrize(
    ("filters", "field", "fragment"),
    [
        ({"status": "closed"}, "filters.status", "open, pending, resolved"),
        ({"assignee": "me"}, "filters.assignee", "user id"),
        ({"assignee": "team:"}, "filters.assignee", "team id"),
        ({"assignee": "us_gone"}, "filters.assignee", "no user us_gone"),
        ({"assignee": "team:tm_gone"}, "filters.assignee", "no team tm_gone"),
        ({"context": "ctx_gone"}, "filters.context", "no context ctx_gone"),
        ({"channel": "fax"}, "filters.channel", "unknown channel"),
        ({"tag": "x" * 65}, "filters.tag[0]", "64"),
        ({"q": "x" * 513}, "filters.q", "512"),
        ({"q": 3}, "filters.q", "string"),
        ({"sort": "new"}, "filters.sort", "unknown field"),
        ("open", "filters", "must be an object"),
    ],
)
async def test_bad_saved_filters_name_the_field(
    store: Store, filters: Any, field: str, fragment: str
) -> None:
    with pytest.raises(RecipeError) as caught:
        await write(store, recipe_defs.create_saved_filter, {"name": "F", "filters": filters}, None)
    assert caught.value.field == field
    assert fragment in caught.value.message


async def test_saved_filters_match_what_the_inbox_lists(store: Store) -> None:
    """For each filter, the conversations saved_filter_matches accepts are exactly those
    the inbox (search.list_conversations) lists."""
    ann = await new_user(store, "ann@example.com")
    team = await store.write(lambda tx: directory.create_team(tx, "Sales", [ann]))
    ids = [await new_conversation(store, name) for name in ("A", "B", "C", "D")]
    a, b, c, d = ids
    changes = {
        a: ConversationChanges(status="pending", assignee_user=ann, tags_add=("vip",)),
        b: ConversationChanges(assignee_team=team["id"], tags_add=("billing",)),
        c: ConversationChanges(status="resolved", tags_add=("vip", "billing")),
    }
    for conversation, change in changes.items():
        await store.write(
            functools.partial(
                conversation_update.update_conversation,
                conversation=conversation,
                changes=change,
                by=STAFF,
            )
        )
    bodies = {a: "I want a refund", b: "Refund please", c: "Thanks a lot", d: "refunding?"}
    for conversation, body in bodies.items():
        await store.write(
            functools.partial(
                records.insert_message, msg=message(conversation, body, author=CONTACT)
            )
        )
    await catch_up(store)
    context_of_a = await store.read(
        lambda conn: conn.execute(
            "SELECT context_id FROM conversations WHERE id = ?", (a,)
        ).fetchone()[0]
    )
    cases: list[dict[str, str]] = [
        {},
        {"status": "open"},
        {"status": "pending"},
        {"assignee": ann},
        {"assignee": "unassigned"},
        {"assignee": f"team:{team['id']}"},
        {"tag": "VIP"},
        {"tag": "billing", "status": "open"},
        {"q": "refund"},
        {"q": "refund*"},
        {"q": "refund", "tag": "vip"},
        {"context": context_of_a},
        {"channel": "widget"},
        {"channel": "link"},
    ]
    seen_sizes = set()
    for index, filters in enumerate(cases):
        saved = await write(
            store, recipe_defs.create_saved_filter, {"name": f"F{index}", "filters": filters}, None
        )
        matched = set()
        for conversation in ids:
            found = await store.read(
                lambda conn, cv=conversation, sf=saved["id"]: recipe_defs.saved_filter_matches(
                    conn, sf, cv
                )
            )
            if found:
                matched.add(conversation)
        as_inbox = await store.read(
            lambda conn, f=saved["filters"]: search.list_conversations(
                conn, ConversationFilter(**f), 100, viewer=ann
            )
        )
        assert matched == {s["id"] for s in as_inbox[0]}, filters
        seen_sizes.add(len(matched))
    assert seen_sizes == {0, 1, 2, 3, 4}  # the cases tell conversations apart
    with pytest.raises(NotFound):
        await store.read(lambda conn: recipe_defs.saved_filter_matches(conn, "sf_gone", a))


def test_saved_filter_keys_are_the_inbox_filter_keys() -> None:
    assert recipe_defs.parse_filters(None) == {}
    assert {f.name for f in dataclasses.fields(ConversationFilter)} == set(FILTER_KEYS)
