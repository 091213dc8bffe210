"""REST API blueprints under /api/v1 (see docs/api.md), and the validators they share.

The validators complement :func:`server.http.field`: every refusal is a 400 whose message
names the field, raised before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from quart import Quart, request

from server.http import bad_request, field

#: Longest display name (users, contacts, teams, context titles): matches the protocol's
#: participant names, so whatever the API accepts the websocket can carry.
MAX_NAME = 256
#: Longest email address (RFC 5321 path limit).
MAX_EMAIL = 320
#: Longest external id or token name a host application may give us.
MAX_EXTERNAL_ID = 256
#: Most ids in one list field (team members, moderators, tags): a bound on one request's work.
MAX_LIST = 200
#: Good enough to catch typos; the real check is whether mail arrives.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def register_blueprints(app: Quart) -> None:
    from server.api import attachments, auth_routes, contexts, conversations, health, users

    for module in (health, auth_routes, users, contexts, conversations, attachments):
        app.register_blueprint(module.blueprint)
    # Slack bridge and mail (issue 4): settings and logs, host-app interactions, Slack events.
    from server import slack_events
    from server.api import integrations, interactions

    for module in (integrations, interactions, slack_events):
        app.register_blueprint(module.blueprint)
    # Outgoing webhooks (issue 5).
    from server.api import webhooks

    app.register_blueprint(webhooks.blueprint)
    # Automation recipes (issue 5): recipes, their runs and deliveries, business hours,
    # saved filters, replies waiting for staff, notifications.
    from server.api import automation, recipe_runs, recipes

    for module in (recipes, recipe_runs, automation):
        app.register_blueprint(module.blueprint)


def known_fields(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse fields the endpoint does not know (a typo must not be silently ignored)."""
    names = set(allowed)
    unknown = sorted(k for k in data if k not in names)
    if unknown:
        raise bad_request(
            f"unknown field {unknown[0]}; allowed: {', '.join(sorted(names))}", "bad_field"
        )


def text(
    data: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    max_len: int = MAX_NAME,
) -> str | None:
    """A non-empty string field, stripped; None when absent and not required."""
    value: str | None = field(data, name, str, required=required, max_len=max_len)
    if value is None:
        return None
    value = unicode_text(value.strip(), name)
    if not value:
        raise bad_request(f"{name} must not be empty")
    return value


def unicode_text(value: str, name: str) -> str:
    """Refuse lone surrogates (JSON can carry them, UTF-8 and SQLite cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"{name} must be valid Unicode text (no lone surrogates)") from None
    return value


def required_text(data: Mapping[str, Any], name: str, *, max_len: int = MAX_NAME) -> str:
    """Like :func:`text`, for fields that must be present."""
    value = text(data, name, required=True, max_len=max_len)
    if value is None:  # text() raised already; this narrows the type
        raise bad_request(f"{name} is required", "missing_field")
    return value


def email(data: Mapping[str, Any], name: str = "email") -> str | None:
    """An optional email address field."""
    value = text(data, name, max_len=MAX_EMAIL)
    return None if value is None else _check_email(value, name)


def required_email(data: Mapping[str, Any], name: str = "email") -> str:
    return _check_email(required_text(data, name, max_len=MAX_EMAIL), name)


def _check_email(value: str, name: str) -> str:
    if not _EMAIL.match(value):
        raise bad_request(f"{name} must be an email address such as ann@example.com")
    return value


def id_list(data: Mapping[str, Any], name: str, *, max_items: int = MAX_LIST) -> list[str] | None:
    """A list of id strings (duplicates dropped, order kept); None when absent."""
    values = field(data, name, list)
    if values is None:
        return None
    if len(values) > max_items:
        raise bad_request(f"{name} has more than {max_items} items")
    for value in values:
        if not isinstance(value, str) or not value:
            raise bad_request(f"{name} must be a list of ids (non-empty strings)")
    return list(dict.fromkeys(values))


def query_text(name: str, *, max_len: int = MAX_EXTERNAL_ID) -> str | None:
    """A query parameter as a string; None when absent or empty."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_len:
        raise bad_request(f"query parameter {name} is longer than {max_len}")
    return value


def query_choice(name: str, choices: tuple[str, ...]) -> str | None:
    value = query_text(name)
    if value is not None and value not in choices:
        raise bad_request(f"query parameter {name} must be one of {', '.join(choices)}")
    return value
