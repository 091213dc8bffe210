"""The reads behind a recipe run: its facts, and whether the recipe applies to them.

A run's *facts* (the dict actors/recipe_model.py describes) are the conversation's state
now (``actors.history.conversation_states``: status, assignee, tags, properties, contact, ...)
plus the message of the trigger, if any. :func:`assess` answers the three questions
asked before anything is done: is the conversation in the recipe's scope, do the business
hours allow a run now, does the filter match; one read, so the answers agree.

Read functions take a read-only connection and run in a worker thread; nothing here
writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from actors import business_hours, history, recipe_defs
from actors.recipe_events import message_facts
from actors.recipe_model import Evaluation, Filter, HoursRule, RecipeDefinition, evaluate, in_scope
from actors.records import NotFound
from actors.store import StoredEvent

#: Messages looked at (newest first) for a test run's "latest message".
LATEST_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Hours:
    """A recipe's business-hours rule checked at one moment; ``ok``: a run may happen."""

    schedule: str | None
    name: str | None
    when: str | None
    open: bool | None
    ok: bool
    #: Why not, when not ``ok``: the skip reason of the run.
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "name": self.name,
            "when": self.when,
            "open": self.open,
            "ok": self.ok,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    """Scope, business hours and filter of one recipe against one conversation."""

    facts: dict[str, Any]
    in_scope: bool
    hours: Hours
    evaluation: Evaluation

    @property
    def matched(self) -> bool:
        """In scope and the filter matches (business hours aside: a match outside them is
        recorded as a skipped run)."""
        return self.in_scope and self.evaluation.matched

    @property
    def checks(self) -> list[dict[str, Any]]:
        return [check.to_json() for check in self.evaluation.checks]


def conversation_facts(
    conn: sqlite3.Connection, conversation_id: str, message: dict[str, Any] | None
) -> dict[str, Any]:
    """The facts of a run on ``conversation_id`` for ``message`` (None: no message).

    Raises:
        NotFound: the conversation does not exist (any more).
    """
    states = history.conversation_states(conn, [conversation_id])
    if not states:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return {"conversation": states[0], "message": message}


def latest_message(conn: sqlite3.Connection, conversation_id: str) -> dict[str, Any] | None:
    """The newest public message of the conversation as facts (None when it has none)."""
    recent = history.messages_before(
        conn, conversation_id, None, include_notes=False, limit=LATEST_WINDOW
    )
    for stored in reversed(recent):
        if stored.kind == "message":
            return message_facts(stored.to_json())
    return None


def read_event(conn: sqlite3.Connection, event_id: int) -> StoredEvent | None:
    row = conn.execute(
        "SELECT id, type, conversation_id, payload, ts FROM events WHERE id = ?", (event_id,)
    ).fetchone()
    return None if row is None else StoredEvent(row[0], row[1], row[2], row[3], row[4])


def check_hours(conn: sqlite3.Connection, rule: HoursRule | None, now_ms: int) -> Hours:
    """Whether a recipe with this rule may run at ``now_ms``."""
    if rule is None:
        return Hours(None, None, None, None, True)
    try:
        schedule = recipe_defs.load_schedule(conn, rule.schedule)
    except NotFound:
        gone = f"business hours {rule.schedule} no longer exist"
        return Hours(rule.schedule, None, rule.when, None, False, gone)
    is_open = business_hours.is_open(schedule, now_ms)
    ok = is_open if rule.when == "inside" else not is_open
    reason: str | None = None
    if not ok:
        where = "outside" if rule.when == "inside" else "inside"
        reason = f"{where} business hours ({schedule.name})"
    return Hours(rule.schedule, schedule.name, rule.when, is_open, ok, reason)


def check_filter(
    conn: sqlite3.Connection, filter: Filter, facts: dict[str, Any], conversation_id: str
) -> Evaluation:
    saved: bool | None = None
    if filter.type == "saved":
        assert filter.saved_filter is not None
        try:
            saved = recipe_defs.saved_filter_matches(conn, filter.saved_filter, conversation_id)
        except NotFound:
            saved = False  # the saved filter was deleted: it matches nothing
    return evaluate(filter, facts, saved_filter_matches=saved)


def assess(
    conn: sqlite3.Connection,
    definition: RecipeDefinition,
    conversation_id: str,
    message: dict[str, Any] | None,
    now_ms: int,
) -> Assessment:
    """Facts, scope, business hours and filter at once (see module docstring).

    Raises:
        NotFound: the conversation does not exist (any more).
    """
    facts = conversation_facts(conn, conversation_id, message)
    scoped = in_scope(definition.scope, facts)
    hours = check_hours(conn, definition.business_hours, now_ms)
    evaluation = check_filter(conn, definition.filter, facts, conversation_id)
    return Assessment(facts, scoped, hours, evaluation)


def version_definition(conn: sqlite3.Connection, recipe_id: str, version: int) -> dict[str, Any]:
    """The stored definition of one version of a recipe (what a resumed run ran).

    Raises:
        NotFound: no such version.
    """
    row = conn.execute(
        "SELECT definition FROM recipe_versions WHERE recipe_id = ? AND version = ?",
        (recipe_id, version),
    ).fetchone()
    if row is None:
        raise NotFound(f"version {version} of recipe {recipe_id} does not exist")
    found: dict[str, Any] = json.loads(row[0])
    return found
