"""Recipe filters: conditions, scope, and their evaluation against a conversation's facts.

Pure (no trio, no sqlite), like ``protocol/``: the engine builds the *facts* of a run (a
plain dict, see :mod:`actors.recipe_model`) and asks :func:`evaluate` whether a recipe's
filter matches; every condition yields a :class:`Check` saying what was compared, so a
run's history entry and the editor's test run can show why a recipe matched or not.

Every refusal is a RecipeError naming the JSON path of the bad field
(``filter.conditions[2].value``).

Comparisons of strings are case-insensitive (``casefold``). ``matches_keywords`` is true
when any keyword appears as a whole word of the text (not inside a longer word).
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
#: Characters of a message body kept in a Check (history entries stay small).
ACTUAL_TEXT_CHARS = 200
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


def in_scope(scope: Scope, facts: Mapping[str, Any]) -> bool:
    """Whether the conversation of ``facts`` is of a chosen context and channel."""
    conversation = facts.get("conversation") or {}
    if scope.contexts and _context_id(conversation) not in scope.contexts:
        return False
    channel = str(conversation.get("channel") or "").lower()
    return not scope.channels or channel in scope.channels


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


# -- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One compared condition: what it asked, what the conversation had, the answer."""

    field: str
    operator: str
    value: Any
    actual: Any
    ok: bool

    def to_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {
            "field": self.field,
            "operator": self.operator,
            "value": value,
            "actual": self.actual,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class Evaluation:
    matched: bool
    checks: tuple[Check, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"matched": self.matched, "checks": [c.to_json() for c in self.checks]}


def evaluate(
    filter: Filter, facts: Mapping[str, Any], *, saved_filter_matches: bool | None = None
) -> Evaluation:
    """Whether ``facts`` pass ``filter``, with one Check per condition (all of them are
    evaluated, also after the answer is known, so a test run shows each one).

    Args:
        filter: The recipe's filter.
        facts: The run's facts (see actors/recipe_model.py).
        saved_filter_matches: For a ``saved`` filter: whether the conversation is in it
            (the caller asks the database, see ``recipe_defs.saved_filter_matches``).

    Raises:
        ValueError: a saved filter without ``saved_filter_matches``.
    """
    if filter.type == "all":
        return Evaluation(True)
    if filter.type == "saved":
        if saved_filter_matches is None:
            raise ValueError("a saved filter is evaluated with saved_filter_matches")
        check = Check(
            "saved_filter", "matches", filter.saved_filter, saved_filter_matches,
            saved_filter_matches,
        )  # fmt: skip
        return Evaluation(saved_filter_matches, (check,))
    checks = tuple(check_condition(c, facts) for c in filter.conditions)
    oks = [c.ok for c in checks]
    return Evaluation(all(oks) if filter.match == "all" else any(oks), checks)


def check_condition(condition: Condition, facts: Mapping[str, Any]) -> Check:
    """Compare one condition with the facts."""
    field, operator, value = condition.field, condition.operator, condition.value
    conversation: Mapping[str, Any] = facts.get("conversation") or {}
    if field == "assignee":
        assignee = conversation.get("assignee") or {}
        user, team = assignee.get("user"), assignee.get("team")
        actual = user or (f"{TEAM_PREFIX}{team}" if team else UNASSIGNED)
        hits = [_assignee_is(user, team, v) for v in _values(value)]
        ok = any(hits) if operator in ("is", "in") else not any(hits)
        return Check(field, operator, value, actual, ok)
    if field == "tags":
        tags = [str(t).casefold() for t in conversation.get("tags") or ()]
        hit = any(str(v).casefold() in tags for v in value)
        return Check(field, operator, value, list(tags), hit if operator == "includes" else not hit)
    actual = fact_of(field, facts)
    return Check(field, operator, value, _shown(field, actual), compare(operator, actual, value))


def fact_of(field: str, facts: Mapping[str, Any]) -> Any:
    """The conversation's or message's value of a condition field (None when absent)."""
    conversation: Mapping[str, Any] = facts.get("conversation") or {}
    message: Mapping[str, Any] = facts.get("message") or {}
    author: Mapping[str, Any] = message.get("author") or {}
    contact: Mapping[str, Any] = conversation.get("contact") or {}
    properties: Mapping[str, Any] = conversation.get("properties") or {}
    if field.startswith(PROPERTY_PREFIX):
        return properties.get(field[len(PROPERTY_PREFIX) :])
    simple: dict[str, Any] = {
        "status": conversation.get("status"),
        "channel": conversation.get("channel"),
        "context": _context_id(conversation),
        "priority": conversation.get("priority") or "none",
        "author": author.get("id"),
        "author_kind": author.get("kind"),
        "kind": message.get("kind"),
        "language": properties.get("language"),
        "country": properties.get("country"),
        "contact_email": contact.get("email"),
        "contact_name": contact.get("name"),
        "text": message.get("body") or "",
    }
    return simple.get(field)


def compare(operator: str, actual: Any, value: Any) -> bool:
    """``actual operator value`` for the scalar operators (case-insensitive strings)."""
    have = _norm(actual)
    if operator == "is_set":
        return bool(have and have.strip())
    if operator == "is_not_set":
        return not (have and have.strip())
    if operator in ("is", "is_not"):
        return (have == _norm(value)) == (operator == "is")
    if operator in ("in", "not_in"):
        return (have in {_norm(v) for v in value}) == (operator == "in")
    if operator in ("contains", "not_contains"):
        found = have is not None and str(_norm(value)) in have
        return found == (operator == "contains")
    if operator == "matches_keywords":
        return have is not None and any(_whole_word(k, have) for k in value)
    if operator in ("gt", "lt"):
        rank = PRIORITIES.index(have) if have in PRIORITIES else 0
        other = PRIORITIES.index(str(value))
        return rank > other if operator == "gt" else rank < other
    raise ValueError(f"unknown operator {operator!r}")


def _whole_word(keyword: str, text: str) -> bool:
    """``keyword`` in ``text`` not as a part of a longer word (both already casefolded)."""
    pattern = r"(?<!\w)" + re.escape(keyword.casefold()) + r"(?!\w)"
    return re.search(pattern, text) is not None


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).casefold()


def _values(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _assignee_is(user: Any, team: Any, wanted: str) -> bool:
    """The inbox's assignee filter semantics (actors/search.py): ``unassigned``,
    ``team:<id>`` (the team, whoever the user) or a user id."""
    if wanted == UNASSIGNED:
        return user is None and team is None
    if wanted.startswith(TEAM_PREFIX):
        return team is not None and str(team) == wanted[len(TEAM_PREFIX) :]
    return user is not None and str(user) == wanted


def _context_id(conversation: Mapping[str, Any]) -> str | None:
    """The context id whether the facts carry an id or a ``{"id", ...}`` summary."""
    context = conversation.get("context")
    if isinstance(context, Mapping):
        found = context.get("id")
        return None if found is None else str(found)
    return None if context is None else str(context)


def _shown(field: str, actual: Any) -> Any:
    if field == "text" and isinstance(actual, str) and len(actual) > ACTUAL_TEXT_CHARS:
        return actual[: ACTUAL_TEXT_CHARS - 1] + "…"
    return actual
