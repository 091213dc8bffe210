"""Recipe definitions: the JSON an admin saves, validated into frozen dataclasses.

Pure (no trio, no sqlite). :func:`parse_recipe` checks a whole definition and either
returns a :class:`RecipeDefinition` or raises :class:`RecipeError` naming the JSON path of
the first bad field (``actions[1].minutes``), so REST can answer a 400 that points at it.
Parsing normalises (defaults filled, tags lower case, lists deduplicated):
``parse_recipe(d.to_json()) == d`` for every definition ``d``. Whether referenced users,
teams, contexts, schedules and saved filters exist is checked by actors/recipe_defs.py,
which has the database.

The parts live in their own modules and are re-exported here, so the engine imports one
module: field validators and RecipeError (actors/recipe_fields.py), filters, conditions
and scope (actors/recipe_conditions.py), their evaluation (actors/recipe_evaluation.py),
actions (actors/recipe_action_model.py).

The *facts* of a run (built by the engine) are a plain dict::

    {"conversation": {"id", "status", "channel", "context", "priority", "tags",
                      "properties", "assignee": {"user", "team"},
                      "contact": {"id", "name", "email"} | None, "created_at", ...},
     "message": {"seq", "kind", "author": {"kind", "id", "name"}, "body"} | None}

``context`` may be the context id or its ``{"id", ...}`` summary. A webhook action's
``console_url`` field is read from ``conversation["console_url"]`` when the engine sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.recipe_action_model import (
    ACTION_TYPES,
    SMART_ASSIGN_WINDOWS,
    WEBHOOK_FIELDS,
    Action,
    default_notify_text,
    parse_action,
)
from actors.recipe_conditions import Condition, Filter, Scope, parse_filter, parse_scope
from actors.recipe_evaluation import Check, Evaluation, check_condition, evaluate, in_scope
from actors.recipe_fields import (
    STATUSES,
    RecipeError,
    bool_value,
    child,
    choice_value,
    expect_object,
    int_value,
    tag_list,
    text_value,
)

__all__ = [
    "ACTION_TYPES",
    "NEW_ITEM_TRIGGERS",
    "SMART_ASSIGN_WINDOWS",
    "TIMER_TRIGGERS",
    "TRIGGER_TYPES",
    "UPDATE_TRIGGERS",
    "WEBHOOK_FIELDS",
    "Action",
    "Check",
    "Condition",
    "Evaluation",
    "Facts",
    "Filter",
    "HoursRule",
    "RecipeDefinition",
    "RecipeError",
    "Scope",
    "Trigger",
    "check_condition",
    "default_notify_text",
    "evaluate",
    "in_scope",
    "parse_recipe",
]

#: The facts of one run (see the module docstring).
Facts = Mapping[str, Any]

NEW_ITEM_TRIGGERS = ("new_conversation", "new_message")
TIMER_TRIGGERS = ("no_attendee_reply", "pending_for", "unassigned_for")
UPDATE_TRIGGERS = ("status_changed", "tag_added", *TIMER_TRIGGERS)
TRIGGER_TYPES = (*NEW_ITEM_TRIGGERS, *UPDATE_TRIGGERS)
#: A timer waits at most a year (minutes).
MAX_TIMER_MINUTES = 525_600
MAX_ACTIONS = 20
MAX_NAME = 200
MAX_ID = 200
HOURS_WHEN = ("inside", "outside")
#: Keys REST answers carry that a client may send back unchanged on update; ignored.
READ_ONLY_KEYS = (
    "id", "kind", "version", "created_at", "updated_at", "after_event", "deleted_at",
    "webhook_secrets",
)  # fmt: skip
DEFINITION_KEYS = ("name", "enabled", "trigger", "scope", "filter", "business_hours", "actions")


# -- triggers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """What starts a run: ``status`` for status_changed, ``tag`` for tag_added, ``minutes``
    for the timers; the others are None."""

    type: str
    status: str | None = None
    tag: str | None = None
    minutes: int | None = None

    @property
    def is_timer(self) -> bool:
        return self.type in TIMER_TRIGGERS

    @property
    def kind(self) -> str:
        """``new_item`` (new conversation or message) or ``update``."""
        return "new_item" if self.type in NEW_ITEM_TRIGGERS else "update"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for key in ("status", "tag", "minutes"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def parse_trigger(data: Any, path: str = "trigger") -> Trigger:
    if not isinstance(data, Mapping):
        raise RecipeError(path, "is required: an object with a type")
    kind = choice_value(data, "type", path, TRIGGER_TYPES, None)
    if kind == "status_changed":
        expect_object(data, path, ("type", "status"))
        return Trigger(kind, status=choice_value(data, "status", path, STATUSES, None))
    if kind == "tag_added":
        expect_object(data, path, ("type", "tag"))
        if data.get("tag") is None:
            raise RecipeError(child(path, "tag"), "is required")
        return Trigger(kind, tag=tag_list(data["tag"], child(path, "tag"), high=1)[0])
    if kind in TIMER_TRIGGERS:
        expect_object(data, path, ("type", "minutes"))
        return Trigger(kind, minutes=int_value(data, "minutes", path, 1, MAX_TIMER_MINUTES, None))
    expect_object(data, path, ("type",))
    return Trigger(kind)


# -- business hours ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HoursRule:
    """Run only ``inside`` or only ``outside`` the hours of a business_hours schedule."""

    schedule: str
    when: str

    def to_json(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "when": self.when}


def parse_hours_rule(data: Any, path: str = "business_hours") -> HoursRule | None:
    if data is None:
        return None
    obj = expect_object(data, path, ("schedule", "when"))
    schedule = text_value(obj, "schedule", path, max_chars=MAX_ID)
    assert schedule is not None
    return HoursRule(schedule, choice_value(obj, "when", path, HOURS_WHEN, None))


# -- the definition ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeDefinition:
    name: str
    enabled: bool
    trigger: Trigger
    scope: Scope
    filter: Filter
    business_hours: HoursRule | None
    actions: tuple[Action, ...]

    @property
    def kind(self) -> str:
        return self.trigger.kind

    def to_json(self) -> dict[str, Any]:
        """The normalised definition; ``parse_recipe(self.to_json()) == self``."""
        return {
            "name": self.name,
            "enabled": self.enabled,
            "trigger": self.trigger.to_json(),
            "scope": self.scope.to_json(),
            "filter": self.filter.to_json(),
            "business_hours": None
            if self.business_hours is None
            else self.business_hours.to_json(),
            "actions": [a.to_json() for a in self.actions],
        }


def parse_recipe(data: Any) -> RecipeDefinition:
    """Validate a whole recipe definition.

    Raises:
        RecipeError: the first bad field, by JSON path; ``definition`` when ``data`` is not
            an object at all.
    """
    if not isinstance(data, Mapping):
        raise RecipeError("definition", "must be a JSON object")
    obj = {k: v for k, v in data.items() if k not in READ_ONLY_KEYS}
    expect_object(obj, "", DEFINITION_KEYS)
    name = text_value(obj, "name", "", max_chars=MAX_NAME)
    assert name is not None
    trigger = parse_trigger(obj.get("trigger"))
    raw_actions = obj.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        raise RecipeError("actions", f"must list 1 to {MAX_ACTIONS} actions")
    if len(raw_actions) > MAX_ACTIONS:
        raise RecipeError(
            "actions", f"must list 1 to {MAX_ACTIONS} actions, not {len(raw_actions)}"
        )
    return RecipeDefinition(
        name=name,
        enabled=bool_value(obj, "enabled", "", True),
        trigger=trigger,
        scope=parse_scope(obj.get("scope")),
        filter=parse_filter(obj.get("filter")),
        business_hours=parse_hours_rule(obj.get("business_hours")),
        actions=tuple(
            parse_action(
                a, child("actions", i), trigger_type=trigger.type, recipe_kind=trigger.kind
            )
            for i, a in enumerate(raw_actions)
        ),
    )
