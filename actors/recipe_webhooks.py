"""The webhook endpoints owned by recipes' webhook actions, and what a run sends to them.

Each webhook action of a recipe has one row in ``webhook_endpoints`` (``recipe_id``,
``action_index``), so deliveries, signing, retries and the delivery log are the
outgoing-webhook machinery's (actors/webhook_store.py, actors/webhook_dispatcher.py).
Such an endpoint subscribes to no event type (``event_types`` ``[]``): the dispatcher's
event-log path never picks it; a recipe run stores its deliveries.

:func:`sync_recipe_endpoints` runs in the transaction that saves a recipe: it creates an
endpoint (and signing secret) for a new webhook action, updates the row of an action that
changed, and disables the rows of actions that are gone. The endpoint of an action index
keeps its id and secret across edits, so the receiver's secret stays valid.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actors.directory import new_id
from actors.recipe_model import Action, RecipeDefinition
from actors.store import Tx
from actors.webhook_store import new_secret

if TYPE_CHECKING:
    from actors.recipe_defs import Recipe

#: Why the endpoint of a webhook action that a later version dropped is disabled.
REMOVED = "removed from the recipe"


def sync_recipe_endpoints(tx: Tx, recipe_id: str, definition: RecipeDefinition) -> dict[int, str]:
    """Make the recipe's endpoints match its webhook actions.

    Returns:
        ``{action_index: secret}`` of the endpoints created now (the REST answer shows
        each secret this once).
    """
    existing = {
        int(row[0]): (str(row[1]), row[2], row[3], str(row[4]))
        for row in tx.execute(
            "SELECT action_index, id, enabled, disabled_reason, url FROM webhook_endpoints "
            "WHERE recipe_id = ?",
            (recipe_id,),
        ).fetchall()
    }
    created: dict[int, str] = {}
    wanted = {i: a for i, a in enumerate(definition.actions) if a.type == "webhook"}
    for index, action in wanted.items():
        params = action.params
        fields = None if params["fields"] is None else json.dumps(list(params["fields"]))
        description = params["description"] or params["name"]
        if index not in existing:
            secret = new_secret()
            tx.execute(
                "INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, "
                "method, content_type, auth_header, secret, after_event, created_at, "
                "updated_at, recipe_id, action_index, fields) VALUES (?, ?, ?, '[]', 1, ?, ?, "
                "?, ?, (SELECT COALESCE(MAX(id), 0) FROM events), ?, ?, ?, ?, ?)",
                (
                    new_id("wh"), params["url"], description, params["method"],
                    params["content_type"], params["authorization"], secret, tx.now_ms,
                    tx.now_ms, recipe_id, index, fields,
                ),
            )  # fmt: skip
            created[index] = secret
            continue
        endpoint_id, enabled, reason, url = existing[index]
        # Back in the recipe, or pointed elsewhere (a 410 of the old URL says nothing of
        # the new one): enabled again.
        revive = not enabled and (reason == REMOVED or url != params["url"])
        tx.execute(
            "UPDATE webhook_endpoints SET url = ?, description = ?, method = ?, "
            "content_type = ?, auth_header = ?, fields = ?, updated_at = ?"
            + (", enabled = 1, disabled_reason = NULL" if revive else "")
            + " WHERE id = ?",
            (
                params["url"], description, params["method"], params["content_type"],
                params["authorization"], fields, tx.now_ms, endpoint_id,
            ),
        )  # fmt: skip
    for index, (endpoint_id, enabled, _, _) in existing.items():
        if index not in wanted and enabled:
            tx.execute(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?, updated_at = ? "
                "WHERE id = ?",
                (REMOVED, tx.now_ms, endpoint_id),
            )
    return created


def endpoint_id_for(conn: sqlite3.Connection | Tx, recipe_id: str, action_index: int) -> str | None:
    """The endpoint of the recipe's webhook action at ``action_index``, if it has one."""
    row = conn.execute(
        "SELECT id FROM webhook_endpoints WHERE recipe_id = ? AND action_index = ?",
        (recipe_id, action_index),
    ).fetchone()
    return None if row is None else str(row[0])


def webhook_payload(
    recipe: Recipe, action: Action, facts: Mapping[str, Any], trigger: str
) -> dict[str, Any]:
    """The JSON a webhook action sends for one run.

    New-item recipes send the fields the action chose (``fields``); update recipes the
    whole conversation and message objects of the facts. ``console_url`` is read from
    the facts' conversation (the engine knows the server's address).
    """
    head = {
        "recipe": {"id": recipe.id, "name": recipe.name, "version": recipe.version},
        "trigger": trigger,
    }
    conversation: Mapping[str, Any] = facts.get("conversation") or {}
    message: Mapping[str, Any] | None = facts.get("message")
    chosen = action.params.get("fields")
    if recipe.kind == "update" or chosen is None:
        return {**head, "conversation": dict(conversation), "message": _opt(message)}
    values = field_values(conversation, message)
    return {**head, "fields": {name: values[name] for name in chosen}}


def field_values(
    conversation: Mapping[str, Any], message: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Every WEBHOOK_FIELDS value of a conversation and (maybe) message."""
    contact: Mapping[str, Any] = conversation.get("contact") or {}
    msg: Mapping[str, Any] = message or {}
    return {
        "conversation_id": conversation.get("id"),
        "status": conversation.get("status"),
        "channel": conversation.get("channel"),
        "context": conversation.get("context"),
        "tags": list(conversation.get("tags") or ()),
        "priority": conversation.get("priority"),
        "properties": dict(conversation.get("properties") or {}),
        "assignee": conversation.get("assignee"),
        "contact_name": contact.get("name"),
        "contact_email": contact.get("email"),
        "message_seq": msg.get("seq"),
        "message_body": msg.get("body"),
        "message_author": msg.get("author"),
        "message_kind": msg.get("kind"),
        "created_at": conversation.get("created_at"),
        "console_url": conversation.get("console_url"),
    }


def _opt(message: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if message is None else dict(message)
