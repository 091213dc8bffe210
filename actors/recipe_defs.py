"""Recipe definitions in the database: create, edit, enable, delete, versions (SQL).

Every save is validated completely first (actors/recipe_model.py ``parse_recipe``, then
:func:`check_references`: the users, teams, contexts, schedules and saved filters it names
must exist), so a refused save writes nothing. Every create, update, enable and disable
writes a ``recipe_versions`` row with the full definition: runs name the version they ran.

``after_event`` is the newest event id when a recipe is created or enabled again: the
scheduler gives it only later events, so replaying the log never runs a new recipe on
old conversations.

Credentials: a webhook action's ``authorization`` is stored in full and shown back masked
(``Bearer …1a2b``, :func:`recipe_json`); sending the masked string back on update keeps
the stored value. Business hours and saved filters live in actors/recipe_refs.py and are
re-exported here. Like actors/webhook_store.py, functions take a write ``Tx`` or a read
connection.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.directory import new_id
from actors.recipe_model import RecipeDefinition, RecipeError, parse_recipe
from actors.recipe_refs import (
    check_assignee,
    create_saved_filter,
    create_schedule,
    delete_saved_filter,
    delete_schedule,
    exists,
    get_saved_filter,
    get_schedule,
    list_saved_filters,
    list_schedules,
    load_schedule,
    parse_filters,
    saved_filter_matches,
    update_saved_filter,
    update_schedule,
)
from actors.recipe_webhooks import sync_recipe_endpoints
from actors.records import NotFound
from actors.store import Tx
from actors.webhook_store import mask_authorization

__all__ = [
    "Recipe",
    "active_recipes",
    "check_references",
    "create_recipe",
    "create_saved_filter",
    "create_schedule",
    "delete_recipe",
    "delete_saved_filter",
    "delete_schedule",
    "get_recipe",
    "get_saved_filter",
    "get_schedule",
    "get_version",
    "list_recipes",
    "list_saved_filters",
    "list_schedules",
    "list_versions",
    "load_schedule",
    "mask_authorization",
    "masked_definition",
    "parse_filters",
    "recipe_json",
    "saved_filter_matches",
    "set_enabled",
    "update_recipe",
    "update_saved_filter",
    "update_schedule",
]

log = logging.getLogger(__name__)

Conn = sqlite3.Connection | Tx
#: What a masked authorization shows instead of the credentials (webhook_store's rule).
ELLIPSIS = "…"


@dataclass(frozen=True)
class Recipe:
    """A saved recipe at its current version."""

    id: str
    name: str
    kind: str
    enabled: bool
    version: int
    definition: RecipeDefinition
    after_event: int
    created_at: int
    updated_at: int
    deleted_at: int | None = None
    #: ``{action_index: secret}`` of webhook endpoints created by the save that returned
    #: this (shown once); empty otherwise.
    webhook_secrets: Mapping[int, str] = field(default_factory=dict, compare=False)


_COLUMNS = (
    "id, name, kind, enabled, version, definition, after_event, created_at, updated_at, deleted_at"
)


def _recipe(row: Any) -> Recipe:
    definition = parse_recipe(json.loads(row[5]))
    return Recipe(
        id=row[0], name=row[1], kind=row[2], enabled=bool(row[3]), version=row[4],
        definition=dataclasses.replace(definition, enabled=bool(row[3])), after_event=row[6],
        created_at=row[7], updated_at=row[8], deleted_at=row[9],
    )  # fmt: skip


def get_recipe(conn: Conn, recipe_id: str, *, include_deleted: bool = False) -> Recipe:
    """Raises: NotFound (also for a deleted recipe, unless ``include_deleted``)."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM recipes WHERE id = ?", (recipe_id,)).fetchone()
    if row is None or (row[9] is not None and not include_deleted):
        raise NotFound(f"no recipe {recipe_id}")
    return _recipe(row)


def list_recipes(conn: Conn) -> list[Recipe]:
    """Every recipe not deleted, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM recipes WHERE deleted_at IS NULL ORDER BY created_at, rowid"
    ).fetchall()
    return [_recipe(r) for r in rows]


def active_recipes(conn: Conn) -> list[Recipe]:
    """The enabled recipes, oldest first. A stored definition that no longer parses (the
    rules got stricter since it was saved) is logged and left out, never run."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM recipes WHERE deleted_at IS NULL AND enabled = 1 "
        "ORDER BY created_at, rowid"
    ).fetchall()
    found = []
    for row in rows:
        try:
            found.append(_recipe(row))
        except RecipeError as exc:
            log.warning("recipe %s is not valid any more and does not run: %s", row[0], exc)
    return found


def _max_event(tx: Tx) -> int:
    return int(tx.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def _add_version(tx: Tx, recipe_id: str, version: int, stored: str, by: str | None) -> None:
    tx.execute(
        "INSERT INTO recipe_versions (recipe_id, version, definition, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (recipe_id, version, stored, by, tx.now_ms),
    )


def create_recipe(tx: Tx, data: Any, by: str | None) -> Recipe:
    """Validate and store a new recipe at version 1.

    Raises:
        RecipeError: a bad definition or a reference to something that does not exist.
    """
    definition = parse_recipe(_unmask(data, None))
    check_references(tx, definition)
    recipe_id = new_id("rc")
    stored = json.dumps(definition.to_json())
    tx.execute(
        f"INSERT INTO recipes ({_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, NULL)",
        (
            recipe_id, definition.name, definition.kind, definition.enabled, stored,
            _max_event(tx), tx.now_ms, tx.now_ms,
        ),
    )  # fmt: skip
    _add_version(tx, recipe_id, 1, stored, by)
    secrets = sync_recipe_endpoints(tx, recipe_id, definition)
    return dataclasses.replace(get_recipe(tx, recipe_id), webhook_secrets=secrets)


def update_recipe(tx: Tx, recipe_id: str, data: Any, by: str | None) -> Recipe:
    """Replace a recipe's definition (a new version, also when nothing changed).

    A webhook action's masked ``authorization`` (as :func:`recipe_json` shows it) keeps
    the stored value. Enabling it again moves ``after_event`` to now.

    Raises:
        NotFound: no such recipe (or deleted).
        RecipeError: a bad definition or reference.
    """
    current = get_recipe(tx, recipe_id)
    definition = parse_recipe(_unmask(data, current.definition))
    check_references(tx, definition)
    return _save(tx, current, definition, by)


def set_enabled(tx: Tx, recipe_id: str, enabled: bool, by: str | None) -> Recipe:
    """Enable or disable a recipe (a new version). Raises: NotFound."""
    current = get_recipe(tx, recipe_id)
    return _save(tx, current, dataclasses.replace(current.definition, enabled=enabled), by)


def _save(tx: Tx, current: Recipe, definition: RecipeDefinition, by: str | None) -> Recipe:
    version = current.version + 1
    stored = json.dumps(definition.to_json())
    after_event = (
        _max_event(tx) if definition.enabled and not current.enabled else current.after_event
    )
    tx.execute(
        "UPDATE recipes SET name = ?, kind = ?, enabled = ?, version = ?, definition = ?, "
        "after_event = ?, updated_at = ? WHERE id = ?",
        (
            definition.name, definition.kind, definition.enabled, version, stored, after_event,
            tx.now_ms, current.id,
        ),
    )  # fmt: skip
    _add_version(tx, current.id, version, stored, by)
    secrets = sync_recipe_endpoints(tx, current.id, definition)
    return dataclasses.replace(get_recipe(tx, current.id), webhook_secrets=secrets)


def delete_recipe(tx: Tx, recipe_id: str) -> None:
    """Soft delete: the recipe stops (no runs, its timers dropped); its runs, versions and
    webhook delivery log stay. Raises: NotFound."""
    get_recipe(tx, recipe_id)
    tx.execute(
        "UPDATE recipes SET deleted_at = ?, enabled = 0, updated_at = ? WHERE id = ?",
        (tx.now_ms, tx.now_ms, recipe_id),
    )
    tx.execute("DELETE FROM recipe_timers WHERE recipe_id = ?", (recipe_id,))


# -- versions ----------------------------------------------------------------------------------


def _version_json(row: Any) -> dict[str, Any]:
    definition = masked_definition(json.loads(row[1]))
    return {
        "version": row[0], "name": definition.get("name"), "enabled": definition.get("enabled"),
        "created_by": row[2], "created_at": row[3], "definition": definition,
    }  # fmt: skip


def list_versions(conn: Conn, recipe_id: str) -> list[dict[str, Any]]:
    """Every version, newest first, each with its (masked) definition. Raises: NotFound."""
    get_recipe(conn, recipe_id, include_deleted=True)
    rows = conn.execute(
        "SELECT version, definition, created_by, created_at FROM recipe_versions "
        "WHERE recipe_id = ? ORDER BY version DESC",
        (recipe_id,),
    ).fetchall()
    return [_version_json(r) for r in rows]


def get_version(conn: Conn, recipe_id: str, version: int) -> dict[str, Any]:
    """One version with its (masked) definition. Raises: NotFound."""
    row = conn.execute(
        "SELECT version, definition, created_by, created_at FROM recipe_versions "
        "WHERE recipe_id = ? AND version = ?",
        (recipe_id, version),
    ).fetchone()
    if row is None:
        raise NotFound(f"recipe {recipe_id} has no version {version}")
    return _version_json(row)


# -- what REST shows ---------------------------------------------------------------------------


def masked_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A definition's JSON with every webhook authorization masked."""
    out = dict(definition)
    out["actions"] = [
        {**a, "authorization": mask_authorization(a.get("authorization"))}
        if a.get("type") == "webhook"
        else a
        for a in definition.get("actions", [])
    ]
    return out


def recipe_json(recipe: Recipe) -> dict[str, Any]:
    """The recipe for REST: its definition (credentials masked) with id, kind, version and
    times; ``webhook_secrets`` (action index -> secret) right after a save created
    endpoints."""
    out: dict[str, Any] = {
        "id": recipe.id,
        "kind": recipe.kind,
        "version": recipe.version,
        **masked_definition(recipe.definition.to_json()),
        "after_event": recipe.after_event,
        "created_at": recipe.created_at,
        "updated_at": recipe.updated_at,
    }
    if recipe.webhook_secrets:
        out["webhook_secrets"] = {str(i): s for i, s in sorted(recipe.webhook_secrets.items())}
    return out


def _unmask(data: Any, stored: RecipeDefinition | None) -> Any:
    """``data`` with each masked webhook authorization replaced by the stored value it
    masks: the same action index first, else the one stored webhook action showing that
    mask. Anything else is left for parse_recipe to judge.

    Raises:
        RecipeError: a masked value that matches no stored credentials.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("actions"), list):
        return data
    known = [
        (index, action.params["authorization"])
        for index, action in enumerate(stored.actions if stored else ())
        if action.type == "webhook" and action.params["authorization"]
    ]
    actions = []
    for index, action in enumerate(data["actions"]):
        value = action.get("authorization") if isinstance(action, Mapping) else None
        if isinstance(value, str) and ELLIPSIS in value:
            matches = [(i, full) for i, full in known if mask_authorization(full) == value.strip()]
            same = [full for i, full in matches if i == index]
            if not same and len({full for _, full in matches}) != 1:
                raise RecipeError(
                    f"actions[{index}].authorization",
                    "is masked and matches no stored credentials: send the full value",
                )
            action = {**action, "authorization": same[0] if same else matches[0][1]}
        actions.append(action)
    return {**data, "actions": actions}


# -- references --------------------------------------------------------------------------------


def check_references(conn: Conn, definition: RecipeDefinition) -> None:
    """The users, teams, contexts, schedules and saved filters a definition names exist.

    Raises:
        RecipeError: naming the first field that refers to nothing.
    """
    for index, context in enumerate(definition.scope.contexts):
        if not exists(conn, "contexts", context):
            raise RecipeError(f"scope.contexts[{index}]", f"no context {context}")
    rule = definition.filter
    if rule.type == "saved" and rule.saved_filter is not None:
        if not exists(conn, "saved_filters", rule.saved_filter):
            raise RecipeError("filter.saved_filter", f"no saved filter {rule.saved_filter}")
    for index, condition in enumerate(rule.conditions):
        if condition.field not in ("context", "assignee"):
            continue
        path = f"filter.conditions[{index}].value"
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        for position, value in enumerate(values):
            where = f"{path}[{position}]" if isinstance(condition.value, tuple) else path
            if condition.field == "context" and not exists(conn, "contexts", value):
                raise RecipeError(where, f"no context {value}")
            if condition.field == "assignee" and value != "unassigned":
                check_assignee(conn, value, where)
    hours = definition.business_hours
    if hours is not None and not exists(conn, "business_hours", hours.schedule):
        raise RecipeError("business_hours.schedule", f"no business hours schedule {hours.schedule}")
    for index, action in enumerate(definition.actions):
        _check_action(conn, action.type, action.params, f"actions[{index}]")


def _check_action(conn: Conn, kind: str, params: Mapping[str, Any], path: str) -> None:
    if kind == "notify":
        for position, user in enumerate(params["users"]):
            if not exists(conn, "users", user):
                raise RecipeError(f"{path}.users[{position}]", f"no user {user}")
    elif kind == "assign":
        _check_user_or_team(conn, params, path)
    elif kind == "smart_assign" and params["fallback"] is not None:
        _check_user_or_team(conn, params["fallback"], f"{path}.fallback")


def _check_user_or_team(conn: Conn, params: Mapping[str, Any], path: str) -> None:
    if params.get("user") is not None and not exists(conn, "users", params["user"]):
        raise RecipeError(f"{path}.user", f"no user {params['user']}")
    if params.get("team") is not None and not exists(conn, "teams", params["team"]):
        raise RecipeError(f"{path}.team", f"no team {params['team']}")
