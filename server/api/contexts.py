"""Contexts and attendees: /api/v1/contexts and /api/v1/contexts/<id>/attendees.

A context is what conversations are about (a webinar session, an email, a note, an event,
a site). The host application creates it, then asks for an attendee token whenever one
of its users opens the chat: the answer carries the person's conversation in that context
(created on the first request) and a token scoped to that one conversation.

Each kind has its own ``data`` fields; unknown ones are refused rather than stored, so a
typo in the host application shows up at once instead of as a missing detail later.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint

from actors import contexts, directory
from server.api import (
    MAX_EXTERNAL_ID,
    MAX_LIST,
    email,
    id_list,
    known_fields,
    query_choice,
    required_text,
    text,
)
from server.http import app_state, bad_request, field, int_arg, json_body, requires

blueprint = Blueprint("contexts", __name__, url_prefix="/api/v1/contexts")

#: Body of an email/note/event context: room for a long email, far below the JSON limit.
MAX_CONTEXT_BODY = 65536
#: Attachments listed on one email/note/event context.
MAX_CONTEXT_ATTACHMENTS = 20
#: Webinar session types are short labels such as "live", "replay", "on-demand".
MAX_SESSION_TYPE = 64
#: Links to attachments and sites.
MAX_URL = 2048
#: Kinds whose title is a subject and whose data carries the message itself.
MESSAGE_KINDS = ("note", "email", "event")


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise bad_request(f"{name} must be an http(s) URL of at most {MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request(f"{name} must be an http(s) URL")
    return value


def normalise_time(value: Any, name: str) -> str:
    """An ISO 8601 date-time with a UTC offset, as UTC with whole seconds (``...Z``)."""
    if not isinstance(value, str):
        raise bad_request(f"{name} must be an ISO 8601 string such as 2025-03-01T15:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(
            f"{name} must be an ISO 8601 date-time such as 2025-03-01T15:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise bad_request(f"{name} must include a UTC offset, e.g. Z or +02:00")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prefixed(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Keys as the client wrote them (``data.body``), so error messages name the field."""
    return {f"{prefix}.{key}": value for key, value in data.items()}


def _attachments(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_CONTEXT_ATTACHMENTS:
        raise bad_request(
            f"data.attachments must be a list of at most {MAX_CONTEXT_ATTACHMENTS} objects"
        )
    result = []
    for index, item in enumerate(value):
        where = f"data.attachments[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object with name and url")
        got = _prefixed(item, where)
        known_fields(got, (f"{where}.{k}" for k in ("name", "url", "content_type", "size")))
        entry: dict[str, Any] = {
            "name": text(got, f"{where}.name", required=True),
            "url": _url(got.get(f"{where}.url"), f"{where}.url"),
        }
        content_type = text(got, f"{where}.content_type")
        if content_type is not None:
            entry["content_type"] = content_type
        size = field(got, f"{where}.size", int)
        if size is not None:
            if size < 0:
                raise bad_request(f"{where}.size must not be negative")
            entry["size"] = size
        result.append(entry)
    return result


def _context_data(kind: str, title: str | None, raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Validate ``data`` for ``kind``; return the title and the normalised data."""
    data = _prefixed(raw, "data")
    if kind == "webinar":
        known_fields(data, ("data.webinar", "data.session_type", "data.starts_at"))
        if title is None:
            raise bad_request("title is required (the webinar's name)", "missing_field")
        result: dict[str, Any] = {"webinar": text(data, "data.webinar") or title}
        session_type = text(data, "data.session_type", max_len=MAX_SESSION_TYPE)
        if session_type is not None:
            result["session_type"] = session_type
        if data.get("data.starts_at") is not None:
            result["starts_at"] = normalise_time(data["data.starts_at"], "data.starts_at")
        return title, result
    if kind in MESSAGE_KINDS:
        known_fields(data, ("data.subject", "data.body", "data.attachments"))
        subject = text(data, "data.subject") or title
        if subject is None:
            raise bad_request("title (or data.subject) is required", "missing_field")
        body = field(data, "data.body", str, default="", max_len=MAX_CONTEXT_BODY)
        result = {"subject": subject, "body": body}
        if data.get("data.attachments") is not None:
            result["attachments"] = _attachments(data["data.attachments"])
        return title or subject, result
    known_fields(data, ("data.url",))
    if title is None:
        raise bad_request("title is required", "missing_field")
    url = data.get("data.url")
    return title, {"url": _url(url, "data.url")} if url else {}


@blueprint.post("")
@requires("staff")
async def create_context() -> tuple[dict[str, Any], int]:
    body = await json_body()
    known_fields(body, ("kind", "title", "data", "moderators", "primary_moderator", "external_id"))
    kind = field(body, "kind", str, required=True, choices=contexts.CONTEXT_KINDS)
    title = text(body, "title")
    data = field(body, "data", dict, default={})
    title, data = _context_data(kind, title, data)
    moderators = id_list(body, "moderators", max_items=MAX_LIST) or []
    primary = field(body, "primary_moderator", str, max_len=MAX_EXTERNAL_ID)
    if (moderators or primary) and kind != "webinar":
        raise bad_request("moderators and primary_moderator are for webinar contexts only")
    external_id = text(body, "external_id", max_len=MAX_EXTERNAL_ID)
    context = await app_state().system.store.write(
        functools.partial(
            contexts.create_context,
            kind=kind,
            title=title,
            data=data,
            moderators=moderators,
            primary_moderator=primary,
            external_id=external_id,
        )
    )
    return context, 201


@blueprint.get("")
@requires("staff")
async def list_contexts() -> dict[str, Any]:
    kind = query_choice("kind", contexts.CONTEXT_KINDS)
    limit = int_arg("limit", 50, minimum=1, maximum=200)
    items = await app_state().system.store.read(
        functools.partial(contexts.list_contexts, limit=limit, kind=kind)
    )
    return {"items": items}


@blueprint.get("/<context_id>")
@requires("staff")
async def get_context(context_id: str) -> dict[str, Any]:
    context: dict[str, Any] = await app_state().system.store.read(
        functools.partial(contexts.get_context, context_id=context_id)
    )
    return context


@blueprint.post("/<context_id>/attendees")
@requires("staff")
async def create_attendee(context_id: str) -> tuple[dict[str, Any], int]:
    """Find or create the person's conversation in the context and issue a scoped token."""
    body = await json_body()
    known_fields(body, ("name", "email", "external_id", "channel"))
    name = required_text(body, "name")
    address = email(body)
    external_id = text(body, "external_id", max_len=MAX_EXTERNAL_ID)
    channel = field(body, "channel", str, default="widget", choices=contexts.CHANNELS)
    state = app_state()
    attendee = await state.system.store.write(
        functools.partial(
            contexts.create_attendee,
            context_id=context_id,
            name=name,
            email=address,
            external_id=external_id,
            channel=channel,
            token=directory.new_token("sba"),
            ttl_ms=int(state.settings.attendee_token_ttl * 1000),
        )
    )
    return attendee, 201
