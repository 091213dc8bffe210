"""What recipes refer to by id: business hours schedules and saved inbox filters (SQL).

Both are named, admin-managed definitions a recipe points at (``business_hours.schedule``,
``filter.saved_filter``); saved filters are also the console inbox's "Save filter". Like
actors/webhook_store.py, the functions take a write ``Tx`` or a read connection.

A saved filter holds the inbox's filter keys (``status``, ``assignee``, ``context``,
``channel``, ``tag``, ``q``) and means exactly what the inbox means by them
(:func:`saved_filter_matches` runs actors/search.py's query for one conversation).

Error handling: bad definitions raise RecipeError (HoursError for schedules) naming the
field; a taken name or deleting something a recipe still uses raises Conflict; an
unknown id raises NotFound.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from actors.business_hours import Schedule, parse_schedule
from actors.directory import Conflict, new_id
from actors.recipe_fields import (
    STATUSES,
    RecipeError,
    channel_value,
    child,
    choice_value,
    expect_object,
    tag_list,
    text_value,
)
from actors.records import NotFound
from actors.search import TEAM_PREFIX, UNASSIGNED, ConversationFilter, conversation_matches
from actors.store import Tx

Conn = sqlite3.Connection | Tx

#: The console inbox's filter keys (server/api/conversations.py), in its order.
FILTER_KEYS = ("status", "assignee", "context", "channel", "tag", "q")
MAX_NAME = 200
MAX_ID = 200
#: As the inbox's search box (server/api/conversations.py MAX_QUERY).
MAX_QUERY = 512


def exists(conn: Conn, table: str, row_id: str) -> bool:
    """Whether ``table`` (one of ours, never user input) has a row with that id."""
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone() is not None


def _used_by(conn: Conn, path: str, row_id: str) -> str | None:
    """The name of a live recipe whose definition has ``row_id`` at JSON ``path``."""
    row = conn.execute(
        "SELECT name FROM recipes WHERE deleted_at IS NULL AND json_extract(definition, ?) = ? "
        "ORDER BY created_at LIMIT 1",
        (path, row_id),
    ).fetchone()
    return None if row is None else str(row[0])


def _name_taken(conn: Conn, table: str, name: str, row_id: str | None) -> bool:
    # The name columns are COLLATE NOCASE: "Paris" and "paris" are one name.
    row = conn.execute(
        f"SELECT 1 FROM {table} WHERE name = ? AND id IS NOT ?", (name, row_id)
    ).fetchone()
    return row is not None


# -- business hours ----------------------------------------------------------------------------


def _schedule_json(row: Any) -> dict[str, Any]:
    return {"id": row[0], **json.loads(row[1]), "created_at": row[2], "updated_at": row[3]}


def get_schedule(conn: Conn, schedule_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    row = conn.execute(
        "SELECT id, definition, created_at, updated_at FROM business_hours WHERE id = ?",
        (schedule_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no business hours schedule {schedule_id}")
    return _schedule_json(row)


def load_schedule(conn: Conn, schedule_id: str) -> Schedule:
    """The parsed schedule (for is_open / next_change). Raises: NotFound."""
    found = get_schedule(conn, schedule_id)
    return parse_schedule({k: found[k] for k in ("name", "timezone", "weekly", "holidays")})


def list_schedules(conn: Conn) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, definition, created_at, updated_at FROM business_hours ORDER BY name"
    ).fetchall()
    return [_schedule_json(r) for r in rows]


def create_schedule(tx: Tx, data: Any) -> dict[str, Any]:
    """Raises: HoursError (bad definition), Conflict (the name is taken)."""
    schedule = parse_schedule(data)
    if _name_taken(tx, "business_hours", schedule.name, None):
        raise Conflict(f"a business hours schedule named {schedule.name} exists already")
    schedule_id = new_id("bh")
    tx.execute(
        "INSERT INTO business_hours (id, name, definition, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (schedule_id, schedule.name, json.dumps(schedule.to_json()), tx.now_ms, tx.now_ms),
    )
    return get_schedule(tx, schedule_id)


def update_schedule(tx: Tx, schedule_id: str, data: Any) -> dict[str, Any]:
    """Replace a schedule's definition. Raises: NotFound, HoursError, Conflict."""
    get_schedule(tx, schedule_id)
    schedule = parse_schedule(data)
    if _name_taken(tx, "business_hours", schedule.name, schedule_id):
        raise Conflict(f"a business hours schedule named {schedule.name} exists already")
    tx.execute(
        "UPDATE business_hours SET name = ?, definition = ?, updated_at = ? WHERE id = ?",
        (schedule.name, json.dumps(schedule.to_json()), tx.now_ms, schedule_id),
    )
    return get_schedule(tx, schedule_id)


def delete_schedule(tx: Tx, schedule_id: str) -> None:
    """Raises: NotFound; Conflict while a recipe uses it."""
    get_schedule(tx, schedule_id)
    user = _used_by(tx, "$.business_hours.schedule", schedule_id)
    if user is not None:
        raise Conflict(f"the recipe {user} uses these business hours: change it first")
    tx.execute("DELETE FROM business_hours WHERE id = ?", (schedule_id,))


# -- saved filters -----------------------------------------------------------------------------


def parse_filters(data: Any, path: str = "filters") -> dict[str, str]:
    """The inbox filter keys, validated and normalised as the inbox does; keys without a
    value are left out (``{}`` lists every conversation)."""
    obj = expect_object({} if data is None else data, path, FILTER_KEYS)
    out: dict[str, str] = {}
    if obj.get("status") is not None:
        out["status"] = choice_value(obj, "status", path, STATUSES, None)
    assignee = text_value(obj, "assignee", path, max_chars=MAX_ID, required=False)
    if assignee is not None:
        if assignee.lower() == "me":
            raise RecipeError(
                child(path, "assignee"),
                'use a user id: a saved filter is shared, so "me" would mean whoever uses it',
            )
        if assignee.lower() == TEAM_PREFIX:
            raise RecipeError(child(path, "assignee"), "team:<id> needs a team id")
        out["assignee"] = UNASSIGNED if assignee.lower() == UNASSIGNED else assignee
    context = text_value(obj, "context", path, max_chars=MAX_ID, required=False)
    if context is not None:
        out["context"] = context
    channel = text_value(obj, "channel", path, max_chars=MAX_ID, required=False)
    if channel is not None:
        out["channel"] = channel_value(channel, child(path, "channel"))
    if obj.get("tag") is not None:
        out["tag"] = tag_list(obj["tag"], child(path, "tag"), high=1)[0]
    q = obj.get("q")
    if q is not None and not (isinstance(q, str) and not q.strip()):
        found = text_value(obj, "q", path, max_chars=MAX_QUERY)
        assert found is not None
        out["q"] = found
    return out


def check_filter_references(conn: Conn, filters: Mapping[str, str], path: str) -> None:
    """Raises: RecipeError when the context, user or team a filter names does not exist."""
    context = filters.get("context")
    if context is not None and not exists(conn, "contexts", context):
        raise RecipeError(child(path, "context"), f"no context {context}")
    assignee = filters.get("assignee")
    if assignee is not None and assignee != UNASSIGNED:
        check_assignee(conn, assignee, child(path, "assignee"))


def check_assignee(conn: Conn, assignee: str, path: str) -> None:
    """A user id or ``team:<id>`` that exists. Raises: RecipeError."""
    if assignee.startswith(TEAM_PREFIX):
        team = assignee[len(TEAM_PREFIX) :]
        if not exists(conn, "teams", team):
            raise RecipeError(path, f"no team {team}")
    elif not exists(conn, "users", assignee):
        raise RecipeError(path, f"no user {assignee}")


def _saved_json(row: Any) -> dict[str, Any]:
    return {
        "id": row[0], "name": row[1], "filters": json.loads(row[2]), "created_by": row[3],
        "created_at": row[4], "updated_at": row[5],
    }  # fmt: skip


_SAVED_COLUMNS = "id, name, filters, created_by, created_at, updated_at"


def get_saved_filter(conn: Conn, filter_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    row = conn.execute(
        f"SELECT {_SAVED_COLUMNS} FROM saved_filters WHERE id = ?", (filter_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no saved filter {filter_id}")
    return _saved_json(row)


def list_saved_filters(conn: Conn) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {_SAVED_COLUMNS} FROM saved_filters ORDER BY name").fetchall()
    return [_saved_json(r) for r in rows]


def _saved_body(tx: Tx, data: Any, filter_id: str | None) -> tuple[str, dict[str, str]]:
    obj = expect_object(data, "", ("name", "filters"))
    name = text_value(obj, "name", "", max_chars=MAX_NAME)
    assert name is not None
    filters = parse_filters(obj.get("filters"))
    check_filter_references(tx, filters, "filters")
    if _name_taken(tx, "saved_filters", name, filter_id):
        raise Conflict(f"a saved filter named {name} exists already")
    return name, filters


def create_saved_filter(tx: Tx, data: Any, by: str | None) -> dict[str, Any]:
    """Save ``{"name", "filters"}``. Raises: RecipeError, Conflict (name taken)."""
    name, filters = _saved_body(tx, data, None)
    filter_id = new_id("sf")
    creator = by if by is not None and exists(tx, "users", by) else None
    tx.execute(
        f"INSERT INTO saved_filters ({_SAVED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (filter_id, name, json.dumps(filters), creator, tx.now_ms, tx.now_ms),
    )
    return get_saved_filter(tx, filter_id)


def update_saved_filter(tx: Tx, filter_id: str, data: Any) -> dict[str, Any]:
    """Replace name and filters. Raises: NotFound, RecipeError, Conflict."""
    get_saved_filter(tx, filter_id)
    name, filters = _saved_body(tx, data, filter_id)
    tx.execute(
        "UPDATE saved_filters SET name = ?, filters = ?, updated_at = ? WHERE id = ?",
        (name, json.dumps(filters), tx.now_ms, filter_id),
    )
    return get_saved_filter(tx, filter_id)


def delete_saved_filter(tx: Tx, filter_id: str) -> None:
    """Raises: NotFound; Conflict while a recipe uses it."""
    get_saved_filter(tx, filter_id)
    user = _used_by(tx, "$.filter.saved_filter", filter_id)
    if user is not None:
        raise Conflict(f"the recipe {user} uses this saved filter: change it first")
    tx.execute("DELETE FROM saved_filters WHERE id = ?", (filter_id,))


def conversation_filter(conn: Conn, filter_id: str) -> ConversationFilter:
    """The saved filter as the inbox query's filter. Raises: NotFound."""
    return ConversationFilter(**get_saved_filter(conn, filter_id)["filters"])


def saved_filter_matches(conn: sqlite3.Connection, filter_id: str, conversation_id: str) -> bool:
    """Whether the inbox, filtered by the saved filter, lists the conversation.

    A ``q`` search sees the full-text index as it is: call ``search_indexer.catch_up``
    first so that messages committed just now are found. Raises: NotFound.
    """
    return conversation_matches(conn, conversation_filter(conn, filter_id), conversation_id)
