"""What recipes refer to and leave behind: business hours, saved filters, replies waiting
for staff, and notifications. /api/v1/business-hours, /saved-filters, /replies,
/notifications.

Business hours and saved filters are definitions recipes point at: every staff member
reads them, admins write them. A bad definition answers 400 ``invalid_field`` naming the
JSON path (as recipes do) and writes nothing; a taken name, or deleting one a recipe
still uses, answers 409. The read-only fields of an answer (``id``, times, ``open_now``...)
may be sent back in a ``PUT`` unchanged: they are ignored.

Replies and notifications belong to the staff: any staff member may send (approve, maybe
edited) or discard a reply a recipe drafted or queued for approval, and each one reads and
marks only their own notifications.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, request

from actors import business_hours, recipe_actions, recipe_defs, recipe_inbox
from actors.recipe_model import RecipeError
from protocol.frames import MAX_BODY_BYTES, Participant
from server.api import known_fields, query_choice, query_text, unicode_text
from server.api.recipes import invalid_field
from server.http import (
    app_state,
    bad_request,
    field,
    int_arg,
    json_body,
    principal,
    requires,
)

blueprint = Blueprint("automation", __name__, url_prefix="/api/v1")

#: Fields of the answers that a PUT may carry back (ignored).
SCHEDULE_READ_ONLY = ("id", "created_at", "updated_at", "open_now", "next_change")
SAVED_FILTER_READ_ONLY = ("id", "created_by", "created_at", "updated_at")
#: ``state`` of GET /replies: one state, or every reply.
REPLY_STATE_CHOICES = (*recipe_inbox.REPLY_STATES, "all")
#: Most notification ids one POST /notifications/read names.
MAX_READ_IDS = 1000


@blueprint.errorhandler(RecipeError)
async def refused_definition(exc: RecipeError) -> Response:
    return invalid_field(exc.field, exc.message)


def _writable(data: Mapping[str, Any], read_only: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in read_only}


async def optional_body() -> dict[str, Any]:
    """The JSON object of a request whose fields are all optional: no body is ``{}``."""
    if not await request.get_data():
        return {}
    return await json_body()


def _staff() -> Participant:
    who = principal()
    return Participant(kind="staff", id=who.id, name=who.name)


# -- business hours ------------------------------------------------------------------------------


def _schedule_view(item: dict[str, Any]) -> dict[str, Any]:
    """A stored schedule with whether it is open now and when that changes next."""
    schedule = business_hours.parse_schedule(
        {k: item[k] for k in ("name", "timezone", "weekly", "holidays")}
    )
    now = app_state().system.config.clock()
    return {
        **item,
        "open_now": business_hours.is_open(schedule, now),
        "next_change": business_hours.next_change(schedule, now),
    }


@blueprint.get("/business-hours")
@requires("staff")
async def list_business_hours() -> dict[str, Any]:
    items = await app_state().system.store.read(recipe_defs.list_schedules)
    return {"items": [_schedule_view(item) for item in items]}


@blueprint.post("/business-hours")
@requires("admin")
async def create_business_hours() -> tuple[dict[str, Any], int]:
    data = _writable(await json_body(), SCHEDULE_READ_ONLY)
    created = await app_state().system.store.write(
        functools.partial(recipe_defs.create_schedule, data=data)
    )
    return _schedule_view(created), 201


@blueprint.get("/business-hours/<schedule_id>")
@requires("staff")
async def get_business_hours(schedule_id: str) -> dict[str, Any]:
    found = await app_state().system.store.read(
        functools.partial(recipe_defs.get_schedule, schedule_id=schedule_id)
    )
    return _schedule_view(found)


@blueprint.put("/business-hours/<schedule_id>")
@requires("admin")
async def update_business_hours(schedule_id: str) -> dict[str, Any]:
    store = app_state().system.store
    await store.read(functools.partial(recipe_defs.get_schedule, schedule_id=schedule_id))
    data = _writable(await json_body(), SCHEDULE_READ_ONLY)
    updated = await store.write(
        functools.partial(recipe_defs.update_schedule, schedule_id=schedule_id, data=data)
    )
    return _schedule_view(updated)


@blueprint.delete("/business-hours/<schedule_id>")
@requires("admin")
async def delete_business_hours(schedule_id: str) -> dict[str, Any]:
    await app_state().system.store.write(
        functools.partial(recipe_defs.delete_schedule, schedule_id=schedule_id)
    )
    return {"deleted": schedule_id}


# -- saved filters -------------------------------------------------------------------------------


@blueprint.get("/saved-filters")
@requires("staff")
async def list_saved_filters() -> dict[str, Any]:
    items = await app_state().system.store.read(recipe_defs.list_saved_filters)
    return {"items": items}


@blueprint.post("/saved-filters")
@requires("admin")
async def create_saved_filter() -> tuple[dict[str, Any], int]:
    data = _writable(await json_body(), SAVED_FILTER_READ_ONLY)
    created: dict[str, Any] = await app_state().system.store.write(
        functools.partial(recipe_defs.create_saved_filter, data=data, by=principal().id)
    )
    return created, 201


@blueprint.get("/saved-filters/<filter_id>")
@requires("staff")
async def get_saved_filter(filter_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await app_state().system.store.read(
        functools.partial(recipe_defs.get_saved_filter, filter_id=filter_id)
    )
    return found


@blueprint.put("/saved-filters/<filter_id>")
@requires("admin")
async def update_saved_filter(filter_id: str) -> dict[str, Any]:
    store = app_state().system.store
    await store.read(functools.partial(recipe_defs.get_saved_filter, filter_id=filter_id))
    data = _writable(await json_body(), SAVED_FILTER_READ_ONLY)
    updated: dict[str, Any] = await store.write(
        functools.partial(recipe_defs.update_saved_filter, filter_id=filter_id, data=data)
    )
    return updated


@blueprint.delete("/saved-filters/<filter_id>")
@requires("admin")
async def delete_saved_filter(filter_id: str) -> dict[str, Any]:
    await app_state().system.store.write(
        functools.partial(recipe_defs.delete_saved_filter, filter_id=filter_id)
    )
    return {"deleted": filter_id}


# -- replies (drafts and approvals) --------------------------------------------------------------


@blueprint.get("/replies")
@requires("staff")
async def list_replies() -> dict[str, Any]:
    state = query_choice("state", REPLY_STATE_CHOICES) or "waiting"
    mode = query_choice("mode", recipe_inbox.REPLY_MODES)
    conversation = query_text("conversation")
    limit = int_arg("limit", recipe_inbox.MAX_LIMIT, minimum=1, maximum=recipe_inbox.MAX_LIMIT)
    items = await app_state().system.store.read(
        functools.partial(
            recipe_inbox.list_replies,
            state=None if state == "all" else state,
            mode=mode,
            conversation_id=conversation,
            limit=limit,
        )
    )
    return {"items": items}


def _reply_body(data: dict[str, Any]) -> str | None:
    known_fields(data, ("body",))
    body: str | None = field(data, "body", str)
    if body is None:
        return None
    body = unicode_text(body, "body")
    if not body.strip():
        raise bad_request("body must not be empty (leave it out to send the text as it is)")
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise bad_request(f"body is over {MAX_BODY_BYTES} bytes of UTF-8", "body_too_large")
    return body


@blueprint.post("/replies/<reply_id>/approve")
@requires("staff")
async def approve_reply(reply_id: str) -> dict[str, Any]:
    body = _reply_body(await optional_body())
    system = app_state().system
    await system.store.read(functools.partial(recipe_inbox.get_reply, reply_id=reply_id))
    sent: dict[str, Any] = await recipe_actions.approve_reply(system, reply_id, _staff(), body)
    return sent


@blueprint.post("/replies/<reply_id>/discard")
@requires("staff")
async def discard_reply(reply_id: str) -> dict[str, Any]:
    discarded: dict[str, Any] = await recipe_actions.discard_reply(
        app_state().system, reply_id, _staff()
    )
    return discarded


# -- notifications -------------------------------------------------------------------------------


@blueprint.get("/notifications")
@requires("staff")
async def list_notifications() -> dict[str, Any]:
    unread_only = query_choice("unread", ("0", "1")) == "1"
    limit = int_arg("limit", 50, minimum=1, maximum=recipe_inbox.MAX_LIMIT)
    user = principal().id

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        return {
            "items": recipe_inbox.list_notifications(
                conn, user, unread_only=unread_only, limit=limit
            ),
            "unread": recipe_inbox.unread_count(conn, user),
        }

    found: dict[str, Any] = await app_state().system.store.read(read)
    return found


def _notification_ids(data: dict[str, Any]) -> list[int] | None:
    known_fields(data, ("ids",))
    ids = field(data, "ids", list)
    if ids is None:
        return None
    if len(ids) > MAX_READ_IDS:
        raise bad_request(f"ids has more than {MAX_READ_IDS} items")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise bad_request("ids must be a list of notification ids (integers)")
    return list(dict.fromkeys(ids))


@blueprint.post("/notifications/read")
@requires("staff")
async def mark_notifications_read() -> dict[str, Any]:
    ids = _notification_ids(await optional_body())
    user = principal().id

    store = app_state().system.store
    marked = await store.write(
        functools.partial(recipe_inbox.mark_notifications_read, user_id=user, ids=ids)
    )
    unread = await store.read(functools.partial(recipe_inbox.unread_count, user_id=user))
    return {"marked": marked, "unread": unread}
