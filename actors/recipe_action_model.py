"""Recipe actions: what each action type takes, validated and normalised.

Pure (no trio, no sqlite); part of the recipe model (actors/recipe_model.py re-exports
what the engine needs). :func:`parse_action` returns an :class:`Action` whose ``params``
hold every parameter of its type with the defaults filled, or raises RecipeError naming
the JSON path of the bad field (``actions[2].window``). Whether the users and teams it
names exist is checked by actors/recipe_defs.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from actors.recipe_fields import (
    PRIORITIES,
    RecipeError,
    bool_value,
    child,
    choice_value,
    expect_object,
    int_value,
    string_list,
    tag_list,
    text_value,
)

ACTION_TYPES = (
    "notify", "resolve", "set_pending", "assign", "smart_assign", "set_properties", "reply",
    "add_tags", "remove_tags", "hide_message", "block_contact", "webhook",
)  # fmt: skip
#: The longest quiet period of a notify action: a year, in minutes.
MAX_QUIET_MINUTES = 525_600
#: smart_assign: how far back a contact's earlier conversations count, in milliseconds.
SMART_ASSIGN_WINDOWS = {
    "3h": 3 * 3_600_000,
    "24h": 24 * 3_600_000,
    "2d": 2 * 86_400_000,
    "3d": 3 * 86_400_000,
    "7d": 7 * 86_400_000,
}
#: set_properties: what a recipe may set (strings or null), plus ``priority``.
SETTABLE_PROPERTIES = ("country", "language", "sentiment", "category")
REPLY_MODES = ("send", "draft", "approval")
MAX_REPLY_CHARS = 16_000
MAX_TAGS = 20
MAX_NOTIFY_USERS = 50
MAX_NOTIFY_EVERY = 100_000
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_NOTIFY_TEXT = 2000
MAX_ID = 200

WEBHOOK_METHODS = ("POST", "GET")
WEBHOOK_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
WEBHOOK_FIELDS = (
    "conversation_id", "status", "channel", "context", "tags", "priority", "properties",
    "assignee", "contact_name", "contact_email", "message_seq", "message_body",
    "message_author", "message_kind", "created_at", "console_url",
)  # fmt: skip
MAX_URL = 2048
#: Longest Authorization header stored (JWTs run to a few hundred characters).
MAX_AUTHORIZATION = 2048
#: "<type> <credentials>": an RFC 9110 token, one space, then visible ASCII (the same rule
#: as the subscribed endpoints of server/api/webhooks.py).
AUTHORIZATION = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+ [\x21-\x7e][\x20-\x7e]*$")


@dataclass(frozen=True)
class Action:
    """One step of a recipe; ``params`` are normalised (every parameter present, defaults
    filled), so the engine reads them without ``get``."""

    type: str
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **_plain(self.params)}


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively: JSON of normalised params."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def default_notify_text(recipe_name: str) -> str:
    """A notify action's text when it has none (``params["text"]`` is None)."""
    return f"Recipe “{recipe_name}” matched a conversation"


def _notify(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    users = string_list(
        obj.get("users"), child(path, "users"), low=1, high=MAX_NOTIFY_USERS, max_chars=MAX_ID
    )
    console = bool_value(obj, "console", path, True)
    email = bool_value(obj, "email", path, False)
    if not (console or email):
        raise RecipeError(child(path, "console"), "console or email (or both) must be true")
    return {
        "users": users,
        "console": console,
        "email": email,
        "every": int_value(obj, "every", path, 1, MAX_NOTIFY_EVERY, 1),
        "at_most_every_minutes": int_value(
            obj, "at_most_every_minutes", path, 0, MAX_QUIET_MINUTES, 0
        ),
        "text": text_value(obj, "text", path, max_chars=MAX_NOTIFY_TEXT, required=False),
    }


def _assignee(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Exactly one of ``user`` or ``team``."""
    user = text_value(obj, "user", path, max_chars=MAX_ID, required=False)
    team = text_value(obj, "team", path, max_chars=MAX_ID, required=False)
    if user is None and team is None:
        raise RecipeError(child(path, "user"), 'is required: a "user" id or a "team" id')
    if user is not None and team is not None:
        raise RecipeError(child(path, "team"), 'give a "user" or a "team", not both')
    return {"user": user, "team": team}


def _smart_assign(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    window = choice_value(obj, "window", path, tuple(SMART_ASSIGN_WINDOWS), None)
    fallback = obj.get("fallback")
    if fallback is not None:
        where = child(path, "fallback")
        picked = _assignee(expect_object(fallback, where, ("user", "team")), where)
        fallback = {k: v for k, v in picked.items() if v is not None}
    return {"window": window, "fallback": fallback}


def _set_properties(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    where = child(path, "properties")
    raw = expect_object(obj.get("properties"), where, (*SETTABLE_PROPERTIES, "priority"))
    if not raw:
        raise RecipeError(where, "must set at least one property")
    properties: dict[str, Any] = {}
    for name in raw:
        if name == "priority":
            properties[name] = choice_value(raw, name, where, PRIORITIES, None)
        else:
            properties[name] = text_value(raw, name, where, required=False)
    return {"properties": properties}


def _reply(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RecipeError(child(path, "text"), "is required: the text to reply with")
    if len(text) > MAX_REPLY_CHARS:
        raise RecipeError(child(path, "text"), f"is longer than {MAX_REPLY_CHARS} characters")
    return {"text": text, "mode": choice_value(obj, "mode", path, REPLY_MODES, "send")}


def _tags(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    if obj.get("tags") is None:
        raise RecipeError(child(path, "tags"), "is required: a list of tags")
    return {"tags": tag_list(obj["tags"], child(path, "tags"), high=MAX_TAGS)}


def _webhook(obj: Mapping[str, Any], path: str, recipe_kind: str) -> dict[str, Any]:
    url = text_value(obj, "url", path, max_chars=MAX_URL)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RecipeError(child(path, "url"), "must be an http:// or https:// URL with a host")
    method = obj.get("method")
    if isinstance(method, str):
        method = method.upper()
    authorization = text_value(
        obj, "authorization", path, max_chars=MAX_AUTHORIZATION, required=False
    )
    if authorization is not None and not AUTHORIZATION.match(authorization):
        raise RecipeError(
            child(path, "authorization"),
            'must be "<type> <credentials>", such as "Bearer abc123" (printable ASCII, one '
            "space after the type)",
        )
    description = obj.get("description")
    return {
        "name": text_value(obj, "name", path, max_chars=MAX_NAME),
        "description": ""
        if description in (None, "")
        else text_value(obj, "description", path, max_chars=MAX_DESCRIPTION),
        "method": choice_value({"method": method}, "method", path, WEBHOOK_METHODS, "POST"),
        "url": url,
        "content_type": choice_value(
            obj, "content_type", path, WEBHOOK_CONTENT_TYPES, "application/json"
        ),
        "authorization": authorization,
        "fields": _webhook_fields(obj.get("fields"), child(path, "fields"), recipe_kind),
    }


def _webhook_fields(raw: Any, path: str, recipe_kind: str) -> tuple[str, ...] | None:
    if recipe_kind == "update":
        if raw is not None:
            raise RecipeError(
                path,
                "update recipes always send the whole conversation and message; "
                "fields is for new-item recipes only",
            )
        return None
    if raw is None:
        return WEBHOOK_FIELDS
    chosen = string_list(raw, path, low=1, high=len(WEBHOOK_FIELDS))
    for index, name in enumerate(chosen):
        if name not in WEBHOOK_FIELDS:
            raise RecipeError(
                child(path, index), f"unknown field {name!r}; use {', '.join(WEBHOOK_FIELDS)}"
            )
    return tuple(f for f in WEBHOOK_FIELDS if f in chosen)


#: Per action type: its parameters (besides ``type``).
ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "notify": ("users", "console", "email", "every", "at_most_every_minutes", "text"),
    "resolve": (),
    "set_pending": (),
    "assign": ("user", "team"),
    "smart_assign": ("window", "fallback"),
    "set_properties": ("properties",),
    "reply": ("text", "mode"),
    "add_tags": ("tags",),
    "remove_tags": ("tags",),
    "hide_message": (),
    "block_contact": (),
    "webhook": ("name", "description", "method", "url", "content_type", "authorization", "fields"),
}


def parse_action(data: Any, path: str, *, trigger_type: str, recipe_kind: str) -> Action:
    """One action of a recipe.

    Args:
        data: The action's JSON.
        path: Its JSON path (``actions[2]``).
        trigger_type: The recipe's trigger (hide_message needs ``new_message``).
        recipe_kind: ``new_item`` or ``update`` (webhook ``fields`` are for new items).
    """
    if not isinstance(data, Mapping):
        raise RecipeError(path, "must be an object with a type")
    kind = choice_value(data, "type", path, ACTION_TYPES, None)
    obj = expect_object(data, path, ("type", *ACTION_PARAMS[kind]))
    params: dict[str, Any]
    if kind == "notify":
        params = _notify(obj, path)
    elif kind == "assign":
        params = _assignee(obj, path)
    elif kind == "smart_assign":
        params = _smart_assign(obj, path)
    elif kind == "set_properties":
        params = _set_properties(obj, path)
    elif kind == "reply":
        params = _reply(obj, path)
    elif kind in ("add_tags", "remove_tags"):
        params = _tags(obj, path)
    elif kind == "webhook":
        params = _webhook(obj, path, recipe_kind)
    else:
        params = {}
    if kind == "hide_message" and trigger_type != "new_message":
        raise RecipeError(
            child(path, "type"), "hide_message hides the new message: use the trigger new_message"
        )
    return Action(kind, params)
