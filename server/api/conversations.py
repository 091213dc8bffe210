"""Conversations for staff: /api/v1/conversations (inbox, search, history, changes, replies).

Reads go straight to the Store's read connections. Every change goes through the
conversation's actor (``System.post`` / ``System.update``): the group assigns the seq,
appends the events and broadcasts to the websockets, exactly as for a websocket ``send``.
Requests are validated completely before the actor is asked, so a refused request writes
nothing.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from typing import Any

from quart import Blueprint

from actors import history, records, search, search_indexer, slack_store
from actors.records import ConversationChanges, NewMessage, StoredMessage
from actors.slack_store import SlackConfig
from protocol.frames import MAX_BODY_BYTES, MAX_ID_CHARS, Participant
from server.api import MAX_LIST, known_fields, query_choice, query_text, unicode_text
from server.http import (
    app_state,
    bad_request,
    field,
    int_arg,
    json_body,
    not_found,
    principal,
    requires,
)

blueprint = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations")

#: Tags are short labels; the console shows them as chips.
MAX_TAG = 64
#: Property names and string values: language, country, category, sentiment and the like.
MAX_PROPERTY_NAME = 64
MAX_PROPERTY_VALUE = 1024
MAX_PROPERTIES = 50
#: A search is typed by a person; anything longer is refused rather than sent to FTS5.
MAX_QUERY = 512
SEND_KINDS = ("message", "note")


def _staff() -> Participant:
    who = principal()
    return Participant(kind="staff", id=who.id, name=who.name)


async def _require_conversation(conversation: str) -> None:
    if not await app_state().conversation_exists(conversation):
        raise not_found(f"conversation {conversation} does not exist")


def _tag(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a list of strings")
    tag = unicode_text(value.strip().lower(), name)
    if not 1 <= len(tag) <= MAX_TAG:
        raise bad_request(f"{name}: each tag must be 1 to {MAX_TAG} characters")
    return tag


def _tags(data: dict[str, Any], name: str) -> tuple[str, ...]:
    values = field(data, name, list, default=[])
    if len(values) > MAX_LIST:
        raise bad_request(f"{name} has more than {MAX_LIST} tags")
    return tuple(dict.fromkeys(_tag(v, name) for v in values))


# -- reads ------------------------------------------------------------------------------------


@blueprint.get("")
@requires("staff")
async def list_conversations() -> dict[str, Any]:
    assignee = query_text("assignee")
    if assignee == "me":
        assignee = principal().id
    elif assignee == search.TEAM_PREFIX:
        raise bad_request("query parameter assignee: team:<id> needs a team id")
    tag = query_text("tag", max_len=MAX_TAG)
    q = query_text("q", max_len=MAX_QUERY)
    filters = search.ConversationFilter(
        status=query_choice("status", records.STATUSES),
        assignee=assignee,
        context=query_text("context"),
        channel=query_text("channel"),
        tag=tag.strip().lower() if tag else None,
        q=q if q and q.strip() else None,
    )
    limit = int_arg("limit", 50, minimum=1, maximum=200)
    raw_cursor = query_text("before")
    try:
        before = None if raw_cursor is None else search.Cursor.decode(raw_cursor)
    except search.BadCursor as exc:
        raise bad_request(str(exc)) from None
    store = app_state().system.store
    if filters.q is not None:
        # New messages are indexed just after their commit; make sure this search sees
        # everything acknowledged before it (a no-op when the indexer is current).
        await search_indexer.catch_up(store)
    items, following = await store.read(
        functools.partial(
            search.list_conversations,
            filters=filters,
            limit=limit,
            before=before,
            viewer=principal().id,
        )
    )
    return {"items": items, "next": None if following is None else following.encode()}


@blueprint.get("/<conversation_id>")
@requires("staff")
async def get_conversation(conversation_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = await app_state().system.store.read(
        functools.partial(
            search.conversation_detail, conversation=conversation_id, viewer=principal().id
        )
    )
    return detail


@blueprint.get("/<conversation_id>/messages")
@requires("staff")
async def list_messages(conversation_id: str) -> dict[str, Any]:
    limit = int_arg("limit", 100, minimum=1, maximum=history.HISTORY_PAGE)
    after = int_arg("after_seq", -1, minimum=0)
    before = int_arg("before_seq", -1, minimum=1)
    if after >= 0 and before >= 0:
        raise bad_request("send after_seq or before_seq, not both")

    def page(conn: sqlite3.Connection) -> tuple[list[StoredMessage], bool]:
        last = history.last_seq(conn, conversation_id)
        if after >= 0:
            rows = history.messages_after(
                conn, conversation_id, after, last, include_notes=True, limit=limit + 1
            )
            return rows[:limit], len(rows) > limit
        rows = history.messages_before(
            conn,
            conversation_id,
            before if before >= 0 else None,
            include_notes=True,
            limit=limit + 1,
        )
        return rows[-limit:], len(rows) > limit

    messages, has_more = await app_state().system.store.read(page)
    return {"items": [m.to_json() for m in messages], "has_more": has_more}


# -- changes ----------------------------------------------------------------------------------


def _changes(data: dict[str, Any]) -> ConversationChanges:
    """Validate a PATCH body into ConversationChanges (raises a 400 naming the field)."""
    known_fields(data, ("status", "assignee", "priority", "tags_add", "tags_remove", "properties"))
    changes = ConversationChanges(
        status=field(data, "status", str, choices=records.STATUSES),
        priority=field(data, "priority", str, choices=records.PRIORITIES),
        tags_add=_tags(data, "tags_add"),
        tags_remove=_tags(data, "tags_remove"),
    )
    both = sorted(set(changes.tags_add) & set(changes.tags_remove))
    if both:
        raise bad_request(f"tags_add and tags_remove both name {both[0]}")
    if "assignee" in data:
        assignee = data["assignee"]
        changes.clear_assignee = True
        if assignee is not None:
            if not isinstance(assignee, dict) or not assignee:
                raise bad_request('assignee must be {"user": id}, {"team": id} or null')
            known_fields(
                {f"assignee.{k}": v for k, v in assignee.items()},
                ("assignee.user", "assignee.team"),
            )
            user = field(assignee, "user", str, max_len=MAX_ID_CHARS)
            team = field(assignee, "team", str, max_len=MAX_ID_CHARS)
            if not user and not team:
                raise bad_request('assignee must be {"user": id}, {"team": id} or null')
            changes.assignee_user = principal().id if user == "me" else user
            changes.assignee_team = team
    properties = field(data, "properties", dict, default={})
    if len(properties) > MAX_PROPERTIES:
        raise bad_request(f"properties has more than {MAX_PROPERTIES} keys")
    for key, value in properties.items():
        if not 1 <= len(key) <= MAX_PROPERTY_NAME:
            raise bad_request(f"properties: names must be 1 to {MAX_PROPERTY_NAME} characters")
        unicode_text(key, "properties")
        if isinstance(value, str):
            if len(value) > MAX_PROPERTY_VALUE:
                raise bad_request(f"properties.{key} is longer than {MAX_PROPERTY_VALUE}")
            unicode_text(value, f"properties.{key}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise bad_request(f"properties.{key} must be a finite number")
        elif value is not None and not isinstance(value, int | float | bool):
            raise bad_request(f"properties.{key} must be a string, number, true/false or null")
    changes.properties = properties
    if not (
        "assignee" in data
        or changes.status
        or changes.priority
        or changes.tags_add
        or changes.tags_remove
        or changes.properties
    ):
        raise bad_request(
            "nothing to change: send status, assignee, priority, tags_add, tags_remove "
            "or properties"
        )
    return changes


@blueprint.patch("/<conversation_id>")
@requires("staff")
async def update_conversation(conversation_id: str) -> dict[str, Any]:
    changes = _changes(await json_body())
    await _require_conversation(conversation_id)
    state = await app_state().system.update(conversation_id, changes, by=_staff())
    return state


@blueprint.post("/<conversation_id>/messages")
@requires("staff")
async def post_message(conversation_id: str) -> tuple[dict[str, Any], int]:
    """A staff reply or internal note; a repeated client_msg_id answers the stored one."""
    data = await json_body()
    known_fields(data, ("body", "kind", "client_msg_id", "in_reply_to"))
    body = unicode_text(field(data, "body", str, required=True), "body")
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise bad_request(f"body is over {MAX_BODY_BYTES} bytes of UTF-8", "body_too_large")
    kind = field(data, "kind", str, default="message", choices=SEND_KINDS)
    client_msg_id = field(data, "client_msg_id", str, max_len=MAX_ID_CHARS)
    if client_msg_id is not None and not client_msg_id:
        raise bad_request("client_msg_id must not be empty")
    in_reply_to = field(data, "in_reply_to", int)
    last = await app_state().system.store.read(
        functools.partial(history.last_seq, conversation=conversation_id)
    )
    if in_reply_to is not None and not 1 <= in_reply_to <= last:
        raise bad_request(f"in_reply_to must be the seq of a message (1 to {last})")
    sender = author = _staff()
    if kind == "message":
        # Who the reply appears from: the webinar's reply_as rule, exactly as for Slack
        # replies (a REST-saved reply_as wins over the environment's).
        defaults = SlackConfig(reply_as=app_state().settings.reply_as)
        writer = (author.id, author.name)
        found = await app_state().system.store.read(
            lambda conn: slack_store.reply_author(
                conn, conversation_id, writer, slack_store.load_config(conn, defaults).reply_as
            )
        )
        author = found or author
    stored = await app_state().system.post(
        NewMessage(
            conversation=conversation_id,
            author=author,
            sender=sender,
            kind=kind,
            body=body,
            client_msg_id=client_msg_id,
            in_reply_to=in_reply_to,
        )
    )
    return stored.to_json(), 200 if stored.duplicate else 201
