"""The recipe model: parsing (every trigger and action, errors naming the JSON path),
round trips, and the evaluation of every condition field and operator, scope, all/any.

Pure: no event loop, no database (like tests/protocol)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import contexts, records
from actors.recipe_conditions import FIELD_OPERATORS, parse_condition
from actors.recipe_evaluation import check_condition
from actors.recipe_fields import CHANNELS, PRIORITIES, STATUSES
from actors.recipe_model import (
    ACTION_TYPES,
    NEW_ITEM_TRIGGERS,
    TIMER_TRIGGERS,
    TRIGGER_TYPES,
    UPDATE_TRIGGERS,
    WEBHOOK_FIELDS,
    Condition,
    Filter,
    RecipeError,
    Scope,
    Trigger,
    default_notify_text,
    evaluate,
    in_scope,
    parse_recipe,
)

ROOT = Path(__file__).resolve().parents[2]

FACTS: dict[str, Any] = {
    "conversation": {
        "id": "cv_1",
        "status": "open",
        "channel": "widget",
        "context": {"id": "ctx_1", "kind": "webinar", "title": "Launch"},
        "priority": "high",
        "tags": ["vip", "billing"],
        "properties": {"language": "fr", "country": "FR", "plan": "Pro", "seats": 3},
        "assignee": {"user": "us_1", "team": None},
        "contact": {"id": "ct_1", "name": "Ann Smith", "email": "Ann@Example.com"},
        "created_at": 1,
    },
    "message": {
        "seq": 3,
        "kind": "attendee_message",
        "author": {"kind": "contact", "id": "ct_1", "name": "Ann"},
        "body": "Hello, I need a REFUND please (order #12)",
    },
}


def recipe(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Test",
        "trigger": {"type": "new_message"},
        "actions": [{"type": "resolve"}],
    }
    base.update(overrides)
    return base


def refused(data: Any) -> RecipeError:
    with pytest.raises(RecipeError) as caught:
        parse_recipe(data)
    assert str(caught.value) == f"{caught.value.field}: {caught.value.message}"
    return caught.value


def test_vocabulary_agrees_with_the_database_modules() -> None:
    assert STATUSES == records.STATUSES
    assert PRIORITIES == records.PRIORITIES
    assert CHANNELS == contexts.CHANNELS


def test_the_model_is_pure() -> None:
    """No trio, no sqlite: the engine and REST share it, tests need no loop."""
    code = (
        "import sys, actors.recipe_model, actors.business_hours\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('trio', 'sqlite3', '_sqlite3', 'sqlite_utils', 'quart')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the example of the contract, and round trips ----------------------------------------------

EXAMPLE = {
    "name": "Resolve quiet conversations",
    "enabled": True,
    "trigger": {"type": "no_attendee_reply", "minutes": 30},
    "scope": {"contexts": [], "channels": []},
    "filter": {
        "type": "conditions",
        "match": "all",
        "conditions": [{"field": "status", "operator": "is", "value": "open"}],
    },
    "business_hours": {"schedule": "bh_1", "when": "outside"},
    "actions": [{"type": "resolve"}, {"type": "reply", "text": "Closing this.", "mode": "send"}],
}


def test_the_contract_example_parses_and_round_trips() -> None:
    definition = parse_recipe(EXAMPLE)
    assert definition.kind == "update"
    assert definition.trigger == Trigger("no_attendee_reply", minutes=30)
    assert definition.trigger.is_timer
    assert definition.filter.conditions == (Condition("status", "is", "open"),)
    assert definition.business_hours is not None
    assert definition.business_hours.when == "outside"
    assert [a.type for a in definition.actions] == ["resolve", "reply"]
    assert definition.to_json() == EXAMPLE
    assert parse_recipe(definition.to_json()) == definition


def test_defaults_are_filled() -> None:
    definition = parse_recipe(recipe())
    assert definition.enabled is True
    assert definition.scope == Scope()
    assert definition.filter == Filter()
    assert definition.business_hours is None
    assert definition.to_json()["filter"] == {"type": "all"}


def test_read_only_keys_of_a_rest_answer_are_ignored() -> None:
    answer = {**recipe(), "id": "rc_1", "kind": "new_item", "version": 3, "created_at": 5}
    assert parse_recipe(answer) == parse_recipe(recipe())


def everything() -> dict[str, Any]:
    """A new-message recipe with every action type, so round trips cover them all."""
    return recipe(
        name="  Everything  ",
        enabled=False,
        scope={"contexts": ["ctx_1", "ctx_1"], "channels": ["Widget", "custom:sms"]},
        filter={
            "type": "conditions",
            "match": "any",
            "conditions": [
                {"field": "tags", "operator": "includes", "value": "VIP"},
                {"field": "text", "operator": "matches_keywords", "value": "refund, cancel"},
                {"field": "property.plan", "operator": "is_set"},
                {"field": "priority", "operator": "gt", "value": "low"},
            ],
        },
        business_hours={"schedule": "bh_1", "when": "inside"},
        actions=[
            {"type": "notify", "users": ["us_1"]},
            {"type": "resolve"},
            {"type": "set_pending"},
            {"type": "assign", "team": "tm_1"},
            {"type": "smart_assign", "window": "3h", "fallback": {"user": "us_2"}},
            {"type": "set_properties", "properties": {"country": None, "priority": "urgent"}},
            {"type": "reply", "text": "Thanks!", "mode": "approval"},
            {"type": "add_tags", "tags": [" Urgent ", "urgent", "b"]},
            {"type": "remove_tags", "tags": ["later"]},
            {"type": "hide_message"},
            {"type": "block_contact"},
            {
                "type": "webhook",
                "name": "CRM",
                "url": "https://crm.example/hook",
                "method": "get",
                "authorization": "Bearer abc",
                "fields": ["status", "tags"],
            },
        ],
    )


def test_every_action_type_round_trips() -> None:
    definition = parse_recipe(everything())
    assert {a.type for a in definition.actions} == set(ACTION_TYPES)
    assert definition.name == "Everything"
    assert definition.scope == Scope(("ctx_1",), ("widget", "custom:sms"))
    again = parse_recipe(definition.to_json())
    assert again == definition
    assert again.to_json() == definition.to_json()


def test_actions_are_normalised() -> None:
    actions = {a.type: a.params for a in parse_recipe(everything()).actions}
    assert actions["notify"] == {
        "users": ("us_1",),
        "console": True,
        "email": False,
        "every": 1,
        "at_most_every_minutes": 0,
        "text": None,
    }
    assert actions["assign"] == {"user": None, "team": "tm_1"}
    assert actions["smart_assign"] == {"window": "3h", "fallback": {"user": "us_2"}}
    assert actions["set_properties"] == {"properties": {"country": None, "priority": "urgent"}}
    assert actions["reply"] == {"text": "Thanks!", "mode": "approval"}
    assert actions["add_tags"] == {"tags": ("urgent", "b")}
    assert actions["webhook"] == {
        "name": "CRM",
        "description": "",
        "method": "GET",
        "url": "https://crm.example/hook",
        "content_type": "application/json",
        "authorization": "Bearer abc",
        "fields": ("status", "tags"),
    }
    assert default_notify_text("Everything") == "Recipe “Everything” matched a conversation"


def test_webhook_fields_default_to_all_for_new_items_and_none_for_updates() -> None:
    hook = {"type": "webhook", "name": "n", "url": "http://h.example/"}
    new_item = parse_recipe(recipe(actions=[hook])).actions[0]
    assert new_item.params["fields"] == WEBHOOK_FIELDS
    assert new_item.params["method"] == "POST"
    update = parse_recipe(
        recipe(trigger={"type": "tag_added", "tag": "x"}, actions=[hook])
    ).actions[0]
    assert update.params["fields"] is None


# -- triggers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({"type": "new_conversation"}, Trigger("new_conversation")),
        ({"type": "new_message"}, Trigger("new_message")),
        ({"type": "status_changed", "status": "pending"}, Trigger("status_changed", "pending")),
        ({"type": "tag_added", "tag": " VIP "}, Trigger("tag_added", tag="vip")),
        ({"type": "no_attendee_reply", "minutes": 30}, Trigger("no_attendee_reply", minutes=30)),
        ({"type": "pending_for", "minutes": 1}, Trigger("pending_for", minutes=1)),
        ({"type": "unassigned_for", "minutes": 525600}, Trigger("unassigned_for", minutes=525600)),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else "",
)
def test_every_trigger_type(trigger: dict[str, Any], expected: Trigger) -> None:
    definition = parse_recipe(recipe(trigger=trigger))
    assert definition.trigger == expected
    assert definition.kind == ("new_item" if expected.type in NEW_ITEM_TRIGGERS else "update")
    assert expected.is_timer == (expected.type in TIMER_TRIGGERS)
    assert parse_recipe(definition.to_json()) == definition


def test_trigger_families_cover_every_type() -> None:
    assert set(TRIGGER_TYPES) == {*NEW_ITEM_TRIGGERS, *UPDATE_TRIGGERS}
    assert set(TIMER_TRIGGERS) < set(UPDATE_TRIGGERS)


@pytest.mark.parametrize(
    ("trigger", "field", "fragment"),
    [
        (None, "trigger", "is required"),
        ({"type": "soon"}, "trigger.type", "must be one of new_conversation"),
        ({"type": "status_changed"}, "trigger.status", "is required"),
        ({"type": "status_changed", "status": "closed"}, "trigger.status", "'closed'"),
        ({"type": "tag_added"}, "trigger.tag", "is required"),
        ({"type": "tag_added", "tag": "x" * 65}, "trigger.tag[0]", "64"),
        ({"type": "no_attendee_reply"}, "trigger.minutes", "is required"),
        ({"type": "pending_for", "minutes": 0}, "trigger.minutes", "from 1 to 525600, not 0"),
        ({"type": "pending_for", "minutes": 525601}, "trigger.minutes", "not 525601"),
        ({"type": "unassigned_for", "minutes": "30"}, "trigger.minutes", "whole number"),
        ({"type": "unassigned_for", "minutes": True}, "trigger.minutes", "whole number"),
        ({"type": "unassigned_for", "minutes": 2.5}, "trigger.minutes", "whole number"),
        ({"type": "new_message", "minutes": 5}, "trigger.minutes", "unknown field"),
        ({"type": "pending_for", "minutes": 5, "status": "open"}, "trigger.status", "unknown"),
    ],
)
def test_bad_triggers_name_the_field(trigger: Any, field: str, fragment: str) -> None:
    error = refused(recipe(trigger=trigger))
    assert error.field == field
    assert fragment in error.message


# -- the definition's other parts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"name": ""}, "name", "must not be empty"),
        ({"name": None}, "name", "is required"),
        ({"name": "x" * 201}, "name", "longer than 200"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"actions": []}, "actions", "1 to 20"),
        ({"actions": [{"type": "resolve"}] * 21}, "actions", "not 21"),
        ({"actions": ["resolve"]}, "actions[0]", "must be an object"),
        ({"scope": {"channels": ["fax"]}}, "scope.channels[0]", "unknown channel"),
        ({"scope": {"contexts": "ctx_1"}}, "scope.contexts", "list of strings"),
        ({"scope": {"webinars": []}}, "scope.webinars", "unknown field"),
        ({"filter": {"type": "some"}}, "filter.type", "must be one of all, saved, conditions"),
        ({"filter": {"type": "saved"}}, "filter.saved_filter", "is required"),
        ({"filter": {"type": "all", "match": "any"}}, "filter.match", "unknown field"),
        ({"filter": {"type": "conditions", "conditions": []}}, "filter.conditions", "1 to 20"),
        (
            {"filter": {"type": "conditions", "match": "most", "conditions": []}},
            "filter.match",
            "all, any",
        ),
        ({"business_hours": {"schedule": "bh_1"}}, "business_hours.when", "inside, outside"),
        ({"business_hours": {"when": "inside"}}, "business_hours.schedule", "is required"),
    ],
)
def test_bad_definitions_name_the_field(
    overrides: dict[str, Any], field: str, fragment: str
) -> None:
    error = refused(recipe(**overrides))
    assert error.field == field
    assert fragment in error.message


def test_not_an_object_at_all() -> None:
    assert refused([1, 2]).field == "definition"


@pytest.mark.parametrize(
    ("condition", "field", "fragment"),
    [
        ({"field": "mood", "operator": "is", "value": "x"}, ".field", "unknown field 'mood'"),
        ({"field": "property.", "operator": "is", "value": "x"}, ".field", "unknown field"),
        ({"field": "status", "operator": "gt", "value": "open"}, ".operator", "(got 'gt')"),
        ({"field": "status", "operator": "is", "value": "closed"}, ".value", "open, pending"),
        ({"field": "status", "operator": "is"}, ".value", "needs a value"),
        ({"field": "status", "operator": "in", "value": "open"}, ".value", "list of strings"),
        ({"field": "status", "operator": "in", "value": []}, ".value", "1 to 100"),
        ({"field": "status", "operator": "in", "value": ["open", "x"]}, ".value[1]", "'x'"),
        ({"field": "kind", "operator": "is", "value": "note"}, ".value", "attendee_message"),
        ({"field": "author_kind", "operator": "is", "value": "robot"}, ".value", "contact"),
        ({"field": "priority", "operator": "gt", "value": "huge"}, ".value", "none, low"),
        ({"field": "channel", "operator": "is", "value": "fax"}, ".value", "unknown channel"),
        ({"field": "assignee", "operator": "is", "value": "team:"}, ".value", "team id"),
        ({"field": "text", "operator": "is", "value": "x"}, ".operator", "contains"),
        ({"field": "text", "operator": "contains", "value": ""}, ".value", "non-empty"),
        ({"field": "text", "operator": "is_set", "value": "x"}, ".value", "takes no value"),
        ({"field": "text", "operator": "matches_keywords", "value": " , "}, ".value", "1 to"),
        ({"field": "tags", "operator": "is", "value": "x"}, ".operator", "includes, excludes"),
        ({"field": "tags", "operator": "includes", "value": ["x", 3]}, ".value[1]", "string"),
        ({"field": "language", "operator": "contains", "value": 3}, ".value", "string"),
        ({"field": "status", "operator": "is", "value": "open", "x": 1}, ".x", "unknown"),
    ],
)
def test_bad_conditions_name_the_field(
    condition: dict[str, Any], field: str, fragment: str
) -> None:
    data = recipe(
        filter={
            "type": "conditions",
            "conditions": [{"field": "status", "operator": "is", "value": "open"}, condition],
        }
    )
    error = refused(data)
    assert error.field == "filter.conditions[1]" + field
    assert fragment in error.message


# -- actions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "fragment"),
    [
        ({"type": "dance"}, ".type", "must be one of notify"),
        ({}, ".type", "is required"),
        ({"type": "notify"}, ".users", "list of strings"),
        ({"type": "notify", "users": []}, ".users", "1 to 50"),
        ({"type": "notify", "users": ["us_1"], "console": False}, ".console", "or both"),
        ({"type": "notify", "users": ["us_1"], "email": "yes"}, ".email", "true or false"),
        ({"type": "notify", "users": ["us_1"], "every": 0}, ".every", "from 1"),
        (
            {"type": "notify", "users": ["us_1"], "at_most_every_minutes": -1},
            ".at_most_every_minutes",
            "from 0",
        ),
        ({"type": "notify", "users": ["us_1"], "text": ""}, ".text", "must not be empty"),
        ({"type": "resolve", "text": "x"}, ".text", "unknown field"),
        ({"type": "set_pending", "minutes": 3}, ".minutes", "unknown field"),
        ({"type": "assign"}, ".user", "is required"),
        ({"type": "assign", "user": "us_1", "team": "tm_1"}, ".team", "not both"),
        ({"type": "assign", "user": 5}, ".user", "must be a string"),
        ({"type": "smart_assign"}, ".window", "3h, 24h, 2d, 3d, 7d"),
        ({"type": "smart_assign", "window": "1h"}, ".window", "(got '1h')"),
        ({"type": "smart_assign", "window": "2d", "fallback": {}}, ".fallback.user", "required"),
        (
            {"type": "smart_assign", "window": "2d", "fallback": {"agent": "x"}},
            ".fallback.agent",
            "unknown field",
        ),
        ({"type": "set_properties"}, ".properties", "must be an object"),
        ({"type": "set_properties", "properties": {}}, ".properties", "at least one"),
        ({"type": "set_properties", "properties": {"mood": "x"}}, ".properties.mood", "unknown"),
        (
            {"type": "set_properties", "properties": {"priority": "max"}},
            ".properties.priority",
            "none, low",
        ),
        (
            {"type": "set_properties", "properties": {"priority": None}},
            ".properties.priority",
            "is required",
        ),
        (
            {"type": "set_properties", "properties": {"language": 3}},
            ".properties.language",
            "string",
        ),
        ({"type": "reply"}, ".text", "is required"),
        ({"type": "reply", "text": "   "}, ".text", "is required"),
        ({"type": "reply", "text": "x" * 16001}, ".text", "16000"),
        ({"type": "reply", "text": "hi", "mode": "later"}, ".mode", "send, draft, approval"),
        ({"type": "add_tags"}, ".tags", "is required"),
        ({"type": "add_tags", "tags": []}, ".tags", "1 to 20"),
        ({"type": "remove_tags", "tags": ["x" * 65]}, ".tags[0]", "64"),
        ({"type": "remove_tags", "tags": [str(n) for n in range(21)]}, ".tags", "not 21"),
        ({"type": "block_contact", "reason": "spam"}, ".reason", "unknown field"),
        ({"type": "webhook", "url": "https://h.example/"}, ".name", "is required"),
        ({"type": "webhook", "name": "n"}, ".url", "is required"),
        ({"type": "webhook", "name": "n", "url": "ftp://h.example/"}, ".url", "http"),
        ({"type": "webhook", "name": "n", "url": "https:///x"}, ".url", "with a host"),
        ({"type": "webhook", "name": "n", "url": "http://h/", "method": "PUT"}, ".method", "GET"),
        (
            {"type": "webhook", "name": "n", "url": "http://h/", "content_type": "text/xml"},
            ".content_type",
            "application/json",
        ),
        (
            {"type": "webhook", "name": "n", "url": "http://h/", "authorization": "abc"},
            ".authorization",
            "<type> <credentials>",
        ),
        (
            {"type": "webhook", "name": "n", "url": "http://h/", "authorization": "Bearer\tx"},
            ".authorization",
            "<type> <credentials>",
        ),
        ({"type": "webhook", "name": "n", "url": "http://h/", "fields": []}, ".fields", "1 to"),
        (
            {"type": "webhook", "name": "n", "url": "http://h/", "fields": ["status", "secret"]},
            ".fields[1]",
            "unknown field 'secret'",
        ),
    ],
)
def test_bad_actions_name_the_field(action: dict[str, Any], field: str, fragment: str) -> None:
    error = refused(recipe(actions=[{"type": "resolve"}, action]))
    assert error.field == "actions[1]" + field
    assert fragment in error.message


def test_hide_message_needs_the_new_message_trigger() -> None:
    assert parse_recipe(recipe(actions=[{"type": "hide_message"}])).actions[0].type == (
        "hide_message"
    )
    error = refused(
        recipe(trigger={"type": "new_conversation"}, actions=[{"type": "hide_message"}])
    )
    assert error.field == "actions[0].type"
    assert "new_message" in error.message


def test_update_recipes_refuse_webhook_fields() -> None:
    hook = {"type": "webhook", "name": "n", "url": "http://h/", "fields": ["status"]}
    error = refused(recipe(trigger={"type": "pending_for", "minutes": 5}, actions=[hook]))
    assert error.field == "actions[0].fields"
    assert "new-item recipes only" in error.message


def test_the_same_action_may_appear_twice() -> None:
    twice = [{"type": "add_tags", "tags": ["a"]}, {"type": "add_tags", "tags": ["b"]}]
    assert len(parse_recipe(recipe(actions=twice)).actions) == 2


# -- evaluation --------------------------------------------------------------------------------

#: (field, operator, value, expected against FACTS)
CASES: list[tuple[str, str, Any, bool]] = [
    ("status", "is", "open", True),
    ("status", "is", "OPEN", True),
    ("status", "is", "resolved", False),
    ("status", "is_not", "open", False),
    ("status", "is_not", "pending", True),
    ("status", "in", ["pending", "open"], True),
    ("status", "in", ["resolved"], False),
    ("status", "not_in", ["resolved"], True),
    ("status", "not_in", ["open"], False),
    ("channel", "is", "widget", True),
    ("channel", "is", "link", False),
    ("channel", "is_not", "link", True),
    ("channel", "is_not", "widget", False),
    ("channel", "in", ["api", "widget"], True),
    ("channel", "in", ["custom:sms"], False),
    ("channel", "not_in", ["link"], True),
    ("channel", "not_in", ["widget"], False),
    ("context", "is", "ctx_1", True),
    ("context", "is", "ctx_2", False),
    ("context", "is_not", "ctx_2", True),
    ("context", "is_not", "ctx_1", False),
    ("context", "in", ["ctx_2", "ctx_1"], True),
    ("context", "in", ["ctx_2"], False),
    ("context", "not_in", ["ctx_2"], True),
    ("context", "not_in", ["ctx_1"], False),
    ("priority", "is", "high", True),
    ("priority", "is", "low", False),
    ("priority", "is_not", "low", True),
    ("priority", "is_not", "high", False),
    ("priority", "in", ["urgent", "high"], True),
    ("priority", "in", ["none"], False),
    ("priority", "not_in", ["none"], True),
    ("priority", "not_in", ["high"], False),
    ("priority", "gt", "medium", True),
    ("priority", "gt", "high", False),
    ("priority", "lt", "urgent", True),
    ("priority", "lt", "high", False),
    ("author", "is", "ct_1", True),
    ("author", "is", "CT_1", True),
    ("author", "is", "us_1", False),
    ("author", "is_not", "us_1", True),
    ("author", "is_not", "ct_1", False),
    ("author", "in", ["ct_1"], True),
    ("author", "in", ["ct_2"], False),
    ("author", "not_in", ["ct_2"], True),
    ("author", "not_in", ["ct_1"], False),
    ("author_kind", "is", "contact", True),
    ("author_kind", "is", "staff", False),
    ("author_kind", "is_not", "staff", True),
    ("author_kind", "is_not", "contact", False),
    ("author_kind", "in", ["bot", "contact"], True),
    ("author_kind", "in", ["bot"], False),
    ("author_kind", "not_in", ["bot"], True),
    ("author_kind", "not_in", ["contact"], False),
    ("kind", "is", "attendee_message", True),
    ("kind", "is", "staff_reply", False),
    ("kind", "is_not", "staff_reply", True),
    ("kind", "is_not", "attendee_message", False),
    ("kind", "in", ["attendee_message"], True),
    ("kind", "in", ["staff_reply"], False),
    ("kind", "not_in", ["staff_reply"], True),
    ("kind", "not_in", ["attendee_message"], False),
    ("assignee", "is", "us_1", True),
    ("assignee", "is", "us_2", False),
    ("assignee", "is", "unassigned", False),
    ("assignee", "is", "team:tm_1", False),
    ("assignee", "is_not", "us_2", True),
    ("assignee", "is_not", "us_1", False),
    ("assignee", "in", ["unassigned", "us_1"], True),
    ("assignee", "in", ["unassigned"], False),
    ("assignee", "not_in", ["unassigned"], True),
    ("assignee", "not_in", ["us_1"], False),
    ("tags", "includes", "VIP", True),
    ("tags", "includes", ["x", "billing"], True),
    ("tags", "includes", ["x"], False),
    ("tags", "excludes", "vip", False),
    ("tags", "excludes", ["x", "y"], True),
    ("language", "is", "FR", True),
    ("language", "is", "de", False),
    ("language", "is_not", "de", True),
    ("language", "is_not", "fr", False),
    ("language", "in", ["de", "fr"], True),
    ("language", "in", ["de"], False),
    ("language", "not_in", ["de"], True),
    ("language", "not_in", ["fr"], False),
    ("language", "contains", "F", True),
    ("language", "contains", "d", False),
    ("language", "not_contains", "d", True),
    ("language", "not_contains", "f", False),
    ("language", "is_set", None, True),
    ("language", "is_not_set", None, False),
    ("country", "is", "fr", True),
    ("country", "is_not", "fr", False),
    ("country", "in", ["fr"], True),
    ("country", "not_in", ["fr"], False),
    ("country", "contains", "r", True),
    ("country", "not_contains", "r", False),
    ("country", "is_set", None, True),
    ("country", "is_not_set", None, False),
    ("contact_email", "is", "ann@example.com", True),
    ("contact_email", "is", "a@b.c", False),
    ("contact_email", "contains", "EXAMPLE.COM", True),
    ("contact_email", "contains", "org", False),
    ("contact_email", "in", ["x@y.z", "ann@example.com"], True),
    ("contact_email", "not_in", ["ann@example.com"], False),
    ("contact_email", "is_not", "a@b.c", True),
    ("contact_email", "not_contains", "@", False),
    ("contact_email", "is_set", None, True),
    ("contact_email", "is_not_set", None, False),
    ("contact_name", "contains", "smith", True),
    ("contact_name", "not_contains", "smith", False),
    ("contact_name", "is", "ann smith", True),
    ("contact_name", "is_not", "ann smith", False),
    ("contact_name", "in", ["Bob"], False),
    ("contact_name", "not_in", ["Bob"], True),
    ("contact_name", "is_set", None, True),
    ("contact_name", "is_not_set", None, False),
    ("property.plan", "is", "pro", True),
    ("property.plan", "is", "free", False),
    ("property.plan", "is_not", "free", True),
    ("property.plan", "in", ["pro"], True),
    ("property.plan", "not_in", ["pro"], False),
    ("property.plan", "contains", "r", True),
    ("property.plan", "not_contains", "r", False),
    ("property.seats", "is", "3", True),
    ("property.plan", "is_set", None, True),
    ("property.plan", "is_not_set", None, False),
    ("property.missing", "is_set", None, False),
    ("property.missing", "is_not_set", None, True),
    ("property.missing", "is", "x", False),
    ("property.missing", "is_not", "x", True),
    ("property.missing", "in", ["x"], False),
    ("property.missing", "not_in", ["x"], True),
    ("property.missing", "contains", "x", False),
    ("property.missing", "not_contains", "x", True),
    ("country", "is", "de", False),
    ("country", "is_not", "de", True),
    ("country", "in", ["de"], False),
    ("country", "not_in", ["de"], True),
    ("country", "contains", "x", False),
    ("country", "not_contains", "x", True),
    ("contact_email", "is_not", "ann@example.com", False),
    ("contact_email", "in", ["x@y.z"], False),
    ("contact_email", "not_in", ["x@y.z"], True),
    ("contact_email", "not_contains", "org", True),
    ("contact_name", "is", "bob", False),
    ("contact_name", "is_not", "bob", True),
    ("contact_name", "in", ["bob", "Ann Smith"], True),
    ("contact_name", "not_in", ["ann smith"], False),
    ("contact_name", "contains", "jones", False),
    ("contact_name", "not_contains", "jones", True),
    ("property.plan", "is_not", "PRO", False),
    ("property.plan", "in", ["free"], False),
    ("property.plan", "not_in", ["free"], True),
    ("text", "contains", "refund", True),
    ("text", "contains", "invoice", False),
    ("text", "not_contains", "invoice", True),
    ("text", "not_contains", "Refund", False),
    ("text", "matches_keywords", "cancel, refund", True),
    ("text", "matches_keywords", ["fund"], False),
    ("text", "matches_keywords", ["#12"], True),
    ("text", "matches_keywords", ["need a refund"], True),
    ("text", "matches_keywords", ["order #1"], False),
    ("text", "is_set", None, True),
    ("text", "is_not_set", None, False),
]


#: A conversation with nothing set, and a message with an empty body.
BLANK: dict[str, Any] = {
    "conversation": {"properties": {"language": " "}, "contact": None},
    "message": {"body": ""},
}
BLANK_CASES: list[tuple[str, str, Any, bool]] = [
    (field, operator, None, operator == "is_not_set")
    for field in ("language", "country", "contact_email", "contact_name", "property.x", "text")
    for operator in ("is_set", "is_not_set")
]


def _condition(field: str, operator: str, value: Any) -> Condition:
    raw = {"field": field, "operator": operator}
    if value is not None:
        raw["value"] = value
    return parse_condition(raw, "c")


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_every_condition_field_and_operator(
    field: str, operator: str, value: Any, expected: bool
) -> None:
    check = check_condition(_condition(field, operator, value), FACTS)
    assert check.ok is expected
    assert (check.field, check.operator) == (field, operator)


@pytest.mark.parametrize(("field", "operator", "value", "expected"), BLANK_CASES)
def test_unset_fields(field: str, operator: str, value: Any, expected: bool) -> None:
    """Missing, null and blank values are not set."""
    assert check_condition(_condition(field, operator, value), BLANK).ok is expected


def test_cases_cover_every_field_and_operator_both_ways() -> None:
    seen = {
        (f if not f.startswith("property.") else "property", o, e)
        for f, o, _, e in CASES + BLANK_CASES
    }
    fields = {**FIELD_OPERATORS, "property": FIELD_OPERATORS["language"]}
    for field, operators in fields.items():
        for operator in operators:
            assert (field, operator, True) in seen, (field, operator)
            assert (field, operator, False) in seen, (field, operator)


def test_checks_say_what_the_conversation_had() -> None:
    assert check_condition(_condition("assignee", "is", "us_2"), FACTS).actual == "us_1"
    assert check_condition(_condition("context", "is", "x"), FACTS).actual == "ctx_1"
    assert check_condition(_condition("tags", "includes", "x"), FACTS).actual == ["vip", "billing"]
    long = {"message": {"body": "word " * 100}}
    shown = check_condition(_condition("text", "contains", "x"), long).actual
    assert len(shown) == 200
    assert shown.endswith("…")
    json = check_condition(_condition("status", "in", ["open"]), FACTS).to_json()
    assert json == {
        "field": "status",
        "operator": "in",
        "value": ["open"],
        "actual": "open",
        "ok": True,
    }


def test_assignee_teams_and_unassigned() -> None:
    team = {"conversation": {"assignee": {"user": None, "team": "tm_1"}}}
    nobody = {"conversation": {"assignee": {"user": None, "team": None}}}
    assert check_condition(_condition("assignee", "is", "team:tm_1"), team).ok
    assert check_condition(_condition("assignee", "is", "Team:tm_1"), team).ok
    assert check_condition(_condition("assignee", "is", "team:tm_1"), team).actual == "team:tm_1"
    assert not check_condition(_condition("assignee", "is", "team:tm_2"), team).ok
    assert not check_condition(_condition("assignee", "is", "unassigned"), team).ok
    assert check_condition(_condition("assignee", "is", "Unassigned"), nobody).ok
    assert check_condition(_condition("assignee", "not_in", ["team:tm_1"]), nobody).ok


def test_message_fields_without_a_message() -> None:
    """Update triggers have no message: its fields are unset, text is empty."""
    facts = {"conversation": FACTS["conversation"], "message": None}
    assert check_condition(_condition("text", "is_not_set", None), facts).ok
    assert not check_condition(_condition("text", "contains", "refund"), facts).ok
    assert check_condition(_condition("text", "not_contains", "refund"), facts).ok
    assert not check_condition(_condition("author", "is", "ct_1"), facts).ok
    assert not check_condition(_condition("kind", "in", ["attendee_message"]), facts).ok
    assert check_condition(_condition("kind", "is_not", "staff_reply"), facts).ok


def test_context_as_a_plain_id_and_missing_priority() -> None:
    facts = {"conversation": {"context": "ctx_9", "priority": None}}
    assert check_condition(_condition("context", "is", "ctx_9"), facts).ok
    assert check_condition(_condition("priority", "is", "none"), facts).ok
    assert check_condition(_condition("priority", "lt", "low"), facts).ok


def _filter(match: str, *conditions: tuple[str, str, Any]) -> Filter:
    data = recipe(
        filter={
            "type": "conditions",
            "match": match,
            "conditions": [{"field": f, "operator": o, "value": v} for f, o, v in conditions],
        }
    )
    return parse_recipe(data).filter


def test_all_needs_every_condition_and_any_one() -> None:
    yes, no = ("status", "is", "open"), ("status", "is", "pending")
    assert evaluate(_filter("all", yes, yes), FACTS).matched
    assert not evaluate(_filter("all", yes, no), FACTS).matched
    assert evaluate(_filter("any", no, yes), FACTS).matched
    assert not evaluate(_filter("any", no, no), FACTS).matched
    evaluation = evaluate(_filter("any", yes, no), FACTS)
    assert [c.ok for c in evaluation.checks] == [True, False]  # every one is shown
    assert evaluation.to_json()["matched"] is True


def test_filter_all_and_saved() -> None:
    assert evaluate(Filter(), {}).matched
    saved = Filter("saved", "sf_1")
    assert evaluate(saved, FACTS, saved_filter_matches=True).matched
    no = evaluate(saved, FACTS, saved_filter_matches=False)
    assert not no.matched
    assert no.checks[0].value == "sf_1"
    with pytest.raises(ValueError, match="saved_filter_matches"):
        evaluate(saved, FACTS)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope(), True),
        (Scope(contexts=("ctx_1",)), True),
        (Scope(contexts=("ctx_2",)), False),
        (Scope(channels=("widget", "link")), True),
        (Scope(channels=("link",)), False),
        (Scope(("ctx_1",), ("widget",)), True),
        (Scope(("ctx_1",), ("api",)), False),
        (Scope(("ctx_2",), ("widget",)), False),
    ],
)
def test_scope(scope: Scope, expected: bool) -> None:
    assert in_scope(scope, FACTS) is expected


def test_scope_of_a_conversation_without_context() -> None:
    facts = {"conversation": {"context": None, "channel": "api"}}
    assert in_scope(Scope(channels=("api",)), facts)
    assert not in_scope(Scope(contexts=("ctx_1",)), facts)


# -- properties --------------------------------------------------------------------------------

_VALUES = st.text("abcXYZ _-", min_size=1, max_size=8).filter(lambda s: s.strip())


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from([*FIELD_OPERATORS, "property.plan"]))
    operators = FIELD_OPERATORS.get(field, FIELD_OPERATORS["language"])
    operator = draw(st.sampled_from(operators))
    choices = {
        "status": STATUSES,
        "priority": PRIORITIES,
        "channel": CHANNELS,
        "kind": ("attendee_message", "staff_reply"),
        "author_kind": ("contact", "staff", "bot", "system"),
    }.get(field)
    one = st.sampled_from(choices) if choices else _VALUES
    out: dict[str, Any] = {"field": field, "operator": operator}
    if operator in ("is_set", "is_not_set"):
        return out
    if operator in ("in", "not_in", "includes", "excludes", "matches_keywords"):
        out["value"] = draw(st.lists(one, min_size=1, max_size=4))
    else:
        out["value"] = draw(one)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(conditions(), min_size=1, max_size=20), st.sampled_from(["all", "any"]))
def test_conditions_round_trip_and_evaluate(conds: list[dict[str, Any]], match: str) -> None:
    definition = parse_recipe(
        recipe(filter={"type": "conditions", "match": match, "conditions": conds})
    )
    assert parse_recipe(definition.to_json()) == definition
    evaluation = evaluate(definition.filter, FACTS)
    assert len(evaluation.checks) == len(conds)
    oks = [c.ok for c in evaluation.checks]
    assert evaluation.matched == (all(oks) if match == "all" else any(oks))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            key: _JSON
            for key in (
                "name",
                "enabled",
                "trigger",
                "scope",
                "filter",
                "business_hours",
                "actions",
            )
        },
    )
)
def test_arbitrary_json_parses_or_is_refused_cleanly(data: dict[str, Any]) -> None:
    """Nothing but a RecipeError, whatever is sent."""
    try:
        definition = parse_recipe(data)
    except RecipeError as exc:
        error: RecipeError | None = exc
    else:
        error = None
        assert parse_recipe(definition.to_json()) == definition
    if error is not None:
        assert error.field
        assert error.message
