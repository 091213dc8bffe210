"""Recipe filters: conditions and scope, parsed from the JSON an admin saves.

Pure (no trio, no sqlite), like ``protocol/``. Every refusal is a RecipeError naming the
JSON path of the bad field (``filter.conditions[2].value``). How a parsed filter is
evaluated against a conversation's facts is in actors/recipe_evaluation.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.recipe_fields import (
    MAX_VALUE_CHARS,
    PRIORITIES,
    STATUSES,
    RecipeError,
    channel_value,
    child,
    choice_value,
    expect_object,
    string_list,
    tag_list,
    text_value,
)

AUTHOR_KINDS = ("contact", "staff", "bot", "system")
MESSAGE_KINDS = ("attendee_message", "staff_reply")
UNASSIGNED = "unassigned"
TEAM_PREFIX = "team:"
PROPERTY_PREFIX = "property."

#: Operators by family of field.
CHOICE_OPERATORS = ("is", "is_not", "in", "not_in")
TEXT_OPERATORS = (*CHOICE_OPERATORS, "contains", "not_contains", "is_set", "is_not_set")
BODY_OPERATORS = ("contains", "not_contains", "matches_keywords", "is_set", "is_not_set")
TAG_OPERATORS = ("includes", "excludes")
#: Field -> the operators it takes (``property.<name>`` takes TEXT_OPERATORS).
FIELD_OPERATORS: dict[str, tuple[str, ...]] = {
    "status": CHOICE_OPERATORS,
    "channel": CHOICE_OPERATORS,
    "context": CHOICE_OPERATORS,
    "priority": (*CHOICE_OPERATORS, "gt", "lt"),
    "author": CHOICE_OPERATORS,
    "author_kind": CHOICE_OPERATORS,
    "kind": CHOICE_OPERATORS,
    "assignee": CHOICE_OPERATORS,
    "tags": TAG_OPERATORS,
    "language": TEXT_OPERATORS,
    "country": TEXT_OPERATORS,
    "contact_email": TEXT_OPERATORS,
    "contact_name": TEXT_OPERATORS,
    "text": BODY_OPERATORS,
}
#: Fields whose values must be one of a fixed list.
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "priority": PRIORITIES,
    "author_kind": AUTHOR_KINDS,
    "kind": MESSAGE_KINDS,
}
FILTER_TYPES = ("all", "saved", "conditions")
MATCH_MODES = ("all", "any")
MAX_CONDITIONS = 20
#: Entries of one ``in``/``not_in``/keywords/tags value, and characters of one string in
#: it: a condition is typed by a person.
MAX_VALUES = 100
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# -- scope -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which sources a recipe applies to; an empty tuple means all of them."""

    contexts: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"contexts": list(self.contexts), "channels": list(self.channels)}


def parse_scope(data: Any, path: str = "scope") -> Scope:
    if data is None:
        return Scope()
    obj = expect_object(data, path, ("contexts", "channels"))
    contexts = string_list(obj.get("contexts", []), child(path, "contexts"), low=0, high=500)
    raw = string_list(obj.get("channels", []), child(path, "channels"), low=0, high=50)
    channels = tuple(
        dict.fromkeys(
            channel_value(c, child(child(path, "channels"), i)) for i, c in enumerate(raw)
        )
    )
    return Scope(contexts, channels)


# -- conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """``field operator value``; list values are tuples, ``is_set``/``is_not_set`` None."""

    field: str
    operator: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "operator": self.operator}
        if self.value is not None:
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return out


def operators_of(field: str) -> tuple[str, ...] | None:
    """The operators ``field`` takes, or None for an unknown field."""
    if field.startswith(PROPERTY_PREFIX):
        return TEXT_OPERATORS if _PROPERTY_NAME.match(field[len(PROPERTY_PREFIX) :]) else None
    return FIELD_OPERATORS.get(field)


def parse_condition(data: Any, path: str) -> Condition:
    obj = expect_object(data, path, ("field", "operator", "value"))
    field = obj.get("field")
    if not isinstance(field, str) or operators_of(field) is None:
        raise RecipeError(
            child(path, "field"),
            f"unknown field {field!r}; use {', '.join(FIELD_OPERATORS)} or property.<name>",
        )
    allowed = operators_of(field)
    assert allowed is not None
    operator = choice_value(obj, "operator", path, allowed, None)
    value = _condition_value(field, operator, obj.get("value"), child(path, "value"))
    return Condition(field, operator, value)


def _condition_value(field: str, operator: str, raw: Any, path: str) -> Any:
    if operator in ("is_set", "is_not_set"):
        if raw is not None:
            raise RecipeError(path, f"{operator} takes no value")
        return None
    if operator in TAG_OPERATORS:
        return tag_list(raw, path, high=MAX_VALUES)
    if operator == "matches_keywords":
        if isinstance(raw, str):
            raw = [k for k in raw.split(",") if k.strip()]
        return string_list(raw, path, low=1, high=MAX_VALUES)
    if raw is None:
        raise RecipeError(path, f"{operator} needs a value")
    if operator in ("in", "not_in"):
        items = string_list(raw, path, low=1, high=MAX_VALUES)
        return tuple(dict.fromkeys(_scalar(field, v, child(path, i)) for i, v in enumerate(items)))
    if not isinstance(raw, str) or not raw.strip():
        raise RecipeError(path, "must be a non-empty string")
    if len(raw.strip()) > MAX_VALUE_CHARS:
        raise RecipeError(path, f"is longer than {MAX_VALUE_CHARS} characters")
    if operator in ("contains", "not_contains"):
        return raw.strip()
    return _scalar(field, raw, path)


def _scalar(field: str, value: str, path: str) -> str:
    """One value of an ``is``/``in`` comparison, checked against the field's vocabulary."""
    value = value.strip()
    choices = FIELD_CHOICES.get(field)
    if choices is not None:
        if value.lower() not in choices:
            raise RecipeError(path, f"must be one of {', '.join(choices)} (got {value!r})")
        return value.lower()
    if field == "channel":
        return channel_value(value, path)
    if field == "assignee":
        if value.lower() == UNASSIGNED:
            return UNASSIGNED
        if value.lower().startswith(TEAM_PREFIX):
            team = value[len(TEAM_PREFIX) :].strip()
            if not team:
                raise RecipeError(path, "team:<id> needs a team id")
            return TEAM_PREFIX + team
    return value


@dataclass(frozen=True)
class Filter:
    """What a recipe's conversations must be: everything, a saved inbox filter, or
    conditions joined by ``all``/``any``."""

    type: str = "all"
    saved_filter: str | None = None
    match: str = "all"
    conditions: tuple[Condition, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.type == "saved":
            return {"type": "saved", "saved_filter": self.saved_filter}
        if self.type == "conditions":
            return {
                "type": "conditions",
                "match": self.match,
                "conditions": [c.to_json() for c in self.conditions],
            }
        return {"type": "all"}


def parse_filter(data: Any, path: str = "filter") -> Filter:
    if data is None:
        return Filter()
    if not isinstance(data, Mapping):
        raise RecipeError(path, "must be an object")
    kind = choice_value(data, "type", path, FILTER_TYPES, None)
    if kind == "all":
        expect_object(data, path, ("type",))
        return Filter()
    if kind == "saved":
        expect_object(data, path, ("type", "saved_filter"))
        saved = text_value(data, "saved_filter", path, max_chars=200)
        return Filter("saved", saved)
    expect_object(data, path, ("type", "match", "conditions"))
    match = choice_value(data, "match", path, MATCH_MODES, "all")
    raw = data.get("conditions")
    where = child(path, "conditions")
    if not isinstance(raw, list):
        raise RecipeError(where, "must be a list of conditions")
    if not 1 <= len(raw) <= MAX_CONDITIONS:
        raise RecipeError(where, f"must list 1 to {MAX_CONDITIONS} conditions, not {len(raw)}")
    conditions = tuple(parse_condition(c, child(where, i)) for i, c in enumerate(raw))
    return Filter("conditions", None, match, conditions)
