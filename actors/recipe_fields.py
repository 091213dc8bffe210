"""Validation helpers of recipe definitions: RecipeError and typed field readers.

Pure (no trio, no sqlite). Every reader takes the JSON path of what it reads, so a
refusal names the exact field (``actions[1].minutes: must be from 1 to 525600, not 0``):
REST answers it as a 400 ``invalid_field`` and the console highlights that field. Used by
actors/recipe_model.py, actors/recipe_conditions.py, actors/recipe_evaluation.py (the
vocabularies) and actors/recipe_action_model.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: The same vocabulary as actors/records.py and actors/contexts.py, repeated because these
#: modules are pure (records imports the store); a test checks they agree.
STATUSES = ("open", "pending", "resolved")
PRIORITIES = ("none", "low", "medium", "high", "urgent")
CHANNELS = ("widget", "link", "api")
#: Characters of one string value, and of one tag (as the conversations API allows).
MAX_VALUE_CHARS = 1024
MAX_TAG = 64
_CUSTOM_CHANNEL = re.compile(r"^custom:[a-z0-9][a-z0-9_.-]{0,63}$")


class RecipeError(ValueError):
    """A recipe definition (or a part of one) that cannot be accepted.

    Attributes:
        field: The JSON path of the bad field, e.g. ``actions[1].minutes``.
        message: What is wrong with it, in plain words.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def child(path: str, key: str | int) -> str:
    """The JSON path of ``key`` under ``path`` (``a.b``, ``a[2]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def expect_object(data: Any, path: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    """``data`` as a JSON object whose keys are all in ``allowed``."""
    if not isinstance(data, Mapping):
        raise RecipeError(path, "must be an object")
    known = tuple(allowed)
    for key in data:
        if key not in known:
            raise RecipeError(child(path, str(key)), f"unknown field; use {', '.join(known)}")
    return data


def text_value(
    data: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_chars: int = MAX_VALUE_CHARS,
    required: bool = True,
    default: str | None = None,
) -> str | None:
    """A trimmed, non-empty string of at most ``max_chars`` (None/absent -> ``default``)."""
    where = child(path, key)
    value = data.get(key)
    if value is None:
        if required:
            raise RecipeError(where, "is required")
        return default
    if not isinstance(value, str):
        raise RecipeError(where, "must be a string")
    value = value.strip()
    if not value:
        raise RecipeError(where, "must not be empty")
    if len(value) > max_chars:
        raise RecipeError(where, f"is longer than {max_chars} characters")
    return value


def choice_value(
    data: Mapping[str, Any], key: str, path: str, choices: Iterable[str], default: str | None
) -> str:
    """One of ``choices`` (absent or null -> ``default``; no default -> required)."""
    options = tuple(choices)
    where = child(path, key)
    value = data.get(key)
    if value is None:
        if default is None:
            raise RecipeError(where, f"is required: one of {', '.join(options)}")
        return default
    if not isinstance(value, str) or value not in options:
        raise RecipeError(where, f"must be one of {', '.join(options)} (got {value!r})")
    return value


def int_value(
    data: Mapping[str, Any], key: str, path: str, low: int, high: int, default: int | None
) -> int:
    """An integer in ``low..high`` (absent or null -> ``default``; no default -> required)."""
    where = child(path, key)
    value = data.get(key)
    if value is None:
        if default is None:
            raise RecipeError(where, f"is required: a whole number from {low} to {high}")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecipeError(where, f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise RecipeError(where, f"must be from {low} to {high}, not {value}")
    return value


def bool_value(data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RecipeError(child(path, key), "must be true or false")
    return value


def string_list(
    value: Any, path: str, *, low: int, high: int, max_chars: int = MAX_VALUE_CHARS
) -> tuple[str, ...]:
    """A list of ``low..high`` trimmed non-empty strings, duplicates dropped."""
    if not isinstance(value, list):
        raise RecipeError(path, "must be a list of strings")
    if not low <= len(value) <= high:
        raise RecipeError(path, f"must list {low} to {high} entries, not {len(value)}")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise RecipeError(child(path, index), "must be a non-empty string")
        if len(item.strip()) > max_chars:
            raise RecipeError(child(path, index), f"is longer than {max_chars} characters")
        items.append(item.strip())
    return tuple(dict.fromkeys(items))


def tag_list(value: Any, path: str, *, high: int) -> tuple[str, ...]:
    """Tags as the conversations store them: trimmed, lower case, 1..64 characters; a
    single string counts as a list of one."""
    raw = [value] if isinstance(value, str) else value
    items = string_list(raw, path, low=1, high=high, max_chars=MAX_TAG)
    return tuple(dict.fromkeys(t.lower() for t in items))


def channel_value(value: str, path: str) -> str:
    """``widget``, ``link``, ``api`` or ``custom:<name>``, lower case."""
    name = value.strip().lower()
    if name in CHANNELS or _CUSTOM_CHANNEL.match(name):
        return name
    raise RecipeError(
        path, f"unknown channel {value!r}; use {', '.join(CHANNELS)} or custom:<name>"
    )
