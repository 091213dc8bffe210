"""Recipe filter evaluation: whether a conversation's facts pass a recipe's scope and filter.

Pure (no trio, no sqlite), like the parsing in actors/recipe_conditions.py that it was
split from: that module turns JSON into :class:`~actors.recipe_conditions.Scope`,
:class:`~actors.recipe_conditions.Filter` and
:class:`~actors.recipe_conditions.Condition`; this one compares them with the *facts* of a
run (a plain dict, see :mod:`actors.recipe_model`). Every condition yields a
:class:`Check` saying what was compared, so a run's history entry and the editor's test
run can show why a recipe matched or not.

Comparisons of strings are case-insensitive (``casefold``). ``matches_keywords`` is true
when any keyword appears as a whole word of the text (not inside a longer word).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.recipe_conditions import (
    PROPERTY_PREFIX,
    TEAM_PREFIX,
    UNASSIGNED,
    Condition,
    Filter,
    Scope,
)
from actors.recipe_fields import PRIORITIES

#: Characters of a message body kept in a Check (history entries stay small).
ACTUAL_TEXT_CHARS = 200


def in_scope(scope: Scope, facts: Mapping[str, Any]) -> bool:
    """Whether the conversation of ``facts`` is of a chosen context and channel."""
    conversation = facts.get("conversation") or {}
    if scope.contexts and _context_id(conversation) not in scope.contexts:
        return False
    channel = str(conversation.get("channel") or "").lower()
    return not scope.channels or channel in scope.channels


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
