"""Outgoing webhook endpoints for admins: /api/v1/webhooks/...

An admin subscribes a URL to event types of the event log; the WebhookDispatcher
(actors/webhook_dispatcher.py) delivers each matching event, signed with the endpoint's
secret. The secret (``whsec_...``) is shown once, in the answer that creates the
endpoint; a stored Authorization header is shown back masked (``Bearer …1a2b``). A URL is
refused with a 400 naming ``url`` when it is not http(s) or its host resolves to a
private, loopback or link-local address (unless ``webhook_allow_private_targets``); the
dispatcher checks again at every delivery. Every body is validated completely before
anything is written.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from quart import Blueprint, current_app

from actors import ssrf, webhook_store
from actors.webhook_dispatcher import WebhookDispatcher
from actors.webhook_store import Endpoint
from server.api import known_fields, query_choice, unicode_text
from server.http import app_state, bad_request, field, int_arg, json_body, requires

blueprint = Blueprint("webhooks", __name__, url_prefix="/api/v1")

#: Where serve() puts the running dispatcher in the Quart app's config.
CONFIG_KEY = "SWITCHBOARD_WEBHOOKS"
MAX_DESCRIPTION = 1000
#: Longest Authorization header stored (JWTs run to a few hundred characters).
MAX_AUTHORIZATION = 2048
#: "<type> <credentials>": an RFC 9110 token, one space, then visible characters.
_AUTHORIZATION = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+ [\x21-\x7e][\x20-\x7e]*$")
FIELDS = ("url", "description", "event_types", "enabled", "method", "content_type", "authorization")


def _dispatcher() -> WebhookDispatcher | None:
    found: WebhookDispatcher | None = current_app.config.get(CONFIG_KEY)
    return found


def _wake() -> None:
    dispatcher = _dispatcher()
    if dispatcher is not None:
        dispatcher.wake()


async def _view(endpoint: Endpoint) -> dict[str, Any]:
    counts = await app_state().system.store.read(
        functools.partial(webhook_store.delivery_counts, endpoint_id=endpoint.id)
    )
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "method": endpoint.method,
        "content_type": endpoint.content_type,
        "authorization": webhook_store.mask_authorization(endpoint.auth_header),
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "deliveries": counts,
    }


# -- validation ----------------------------------------------------------------------------------


async def _url(data: dict[str, Any]) -> str:
    url = field(data, "url", str, required=True)
    url = unicode_text(url.strip(), "url")
    try:
        await ssrf.check_url(url, allow_private=app_state().settings.webhook_allow_private_targets)
    except ssrf.TargetRefused as exc:
        raise bad_request(f"url {exc}") from None
    return str(url)


def _event_types(data: dict[str, Any]) -> list[str]:
    values = field(data, "event_types", list, required=True)
    if not values:
        raise bad_request('event_types must list at least one event type (or "*" for all)')
    known = sorted(webhook_store.KNOWN_EVENTS)
    for value in values:
        if not isinstance(value, str):
            raise bad_request("event_types must be a list of strings")
        if value != webhook_store.ALL_EVENTS and value not in webhook_store.KNOWN_EVENTS:
            raise bad_request(
                f'event_types: unknown event type {value!r}; use "*" or any of {", ".join(known)}'
            )
    return list(dict.fromkeys(values))


def _authorization(data: dict[str, Any]) -> str | None:
    value = field(data, "authorization", str, max_len=MAX_AUTHORIZATION)
    if value is None:
        return None
    if not _AUTHORIZATION.match(value):
        raise bad_request(
            'authorization must be "<type> <credentials>", such as "Bearer abc123" '
            "(printable ASCII, one space after the type)"
        )
    return str(value)


def _fixed_choices(data: dict[str, Any]) -> None:
    field(data, "method", str, choices=webhook_store.METHODS)
    field(data, "content_type", str, choices=webhook_store.CONTENT_TYPES)


async def _changes(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate a POST or PATCH body into column values (nothing is written here)."""
    known_fields(data, FIELDS)
    if not creating and not data:
        raise bad_request(f"nothing to change: send any of {', '.join(FIELDS)}")
    _fixed_choices(data)
    changes: dict[str, Any] = {}
    if creating or "url" in data:
        changes["url"] = await _url(data)
    if creating or "event_types" in data:
        changes["event_types"] = _event_types(data)
    if "description" in data:
        description = field(data, "description", str, max_len=MAX_DESCRIPTION)
        changes["description"] = unicode_text((description or "").strip(), "description")
    if "enabled" in data:
        enabled = field(data, "enabled", bool)
        if enabled is None:
            raise bad_request("enabled must be true or false")
        changes["enabled"] = enabled
    if "authorization" in data:
        changes["auth_header"] = _authorization(data)
    return changes


# -- routes --------------------------------------------------------------------------------------


@blueprint.post("/webhooks")
@requires("admin")
async def create_webhook() -> tuple[dict[str, Any], int]:
    changes = await _changes(await json_body(), creating=True)
    endpoint: Endpoint = await app_state().system.store.write(
        functools.partial(
            webhook_store.create_endpoint,
            url=changes["url"],
            description=changes.get("description", ""),
            event_types=changes["event_types"],
            enabled=changes.get("enabled", True),
            auth_header=changes.get("auth_header"),
        )
    )
    view = await _view(endpoint)
    view["secret"] = endpoint.secret  # shown this once
    return view, 201


@blueprint.get("/webhooks")
@requires("admin")
async def list_webhooks() -> dict[str, Any]:
    endpoints = await app_state().system.store.read(webhook_store.list_endpoints)
    return {"items": [await _view(e) for e in endpoints]}


async def _require(webhook_id: str) -> Endpoint:
    """The admin endpoint, or 404 (a recipe's endpoint is managed through its recipe)."""
    return await app_state().system.store.read(
        functools.partial(webhook_store.require_admin_endpoint, endpoint_id=webhook_id)
    )


@blueprint.get("/webhooks/<webhook_id>")
@requires("admin")
async def get_webhook(webhook_id: str) -> dict[str, Any]:
    return await _view(await _require(webhook_id))


@blueprint.patch("/webhooks/<webhook_id>")
@requires("admin")
async def update_webhook(webhook_id: str) -> dict[str, Any]:
    store = app_state().system.store
    await _require(webhook_id)
    changes = await _changes(await json_body(), creating=False)
    endpoint = await store.write(
        functools.partial(webhook_store.update_endpoint, endpoint_id=webhook_id, changes=changes)
    )
    _wake()  # enabling it again resumes its pending deliveries
    return await _view(endpoint)


@blueprint.delete("/webhooks/<webhook_id>")
@requires("admin")
async def delete_webhook(webhook_id: str) -> dict[str, Any]:
    store = app_state().system.store
    await _require(webhook_id)
    await store.write(functools.partial(webhook_store.delete_endpoint, endpoint_id=webhook_id))
    return {"deleted": webhook_id}


@blueprint.get("/webhooks/<webhook_id>/deliveries")
@requires("admin")
async def list_deliveries(webhook_id: str) -> dict[str, Any]:
    await _require(webhook_id)
    return await deliveries_page(endpoint_id=webhook_id)


async def deliveries_page(
    *, endpoint_id: str | None = None, recipe_id: str | None = None
) -> dict[str, Any]:
    """One page of a delivery log (``endpoint_id=`` or ``recipe_id=``), newest first, with
    the request's ``state``, ``limit`` and ``before`` (a delivery ``seq``)."""
    state = query_choice("state", webhook_store.STATES)
    limit = int_arg("limit", 50, minimum=1, maximum=200)
    before = int_arg("before", 0, minimum=1) or None
    items = await app_state().system.store.read(
        functools.partial(
            webhook_store.list_deliveries,
            endpoint_id=endpoint_id,
            recipe_id=recipe_id,
            state=state,
            limit=limit + 1,
            before=before,
        )
    )
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next": items[-1]["seq"] if more else None}


@blueprint.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
@requires("admin")
async def redeliver(webhook_id: str, delivery_id: str) -> tuple[dict[str, Any], int]:
    store = app_state().system.store
    await _require(webhook_id)
    delivery = await store.write(
        functools.partial(webhook_store.redeliver, endpoint_id=webhook_id, delivery_id=delivery_id)
    )
    _wake()
    return {"id": delivery.id, "state": delivery.state, "attempts": delivery.attempts}, 202
