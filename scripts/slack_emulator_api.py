"""Web API methods of the Slack emulator (part of scripts/slack_emulator.py).

Each ``/api/<method>`` Slack method the bridge uses is a handler registered in
:data:`API_METHODS`, with Slack's argument checks and error codes; :func:`parse_params`
reads a request's parameters the way Slack does.
"""

from __future__ import annotations

import base64
import email.policy
import json
from collections.abc import Callable
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from slack_emulator_events import EventsState
from slack_emulator_models import (
    DEFAULT_PAGE_SIZE,
    EMOJI_RE,
    MAX_PAGE_SIZE,
    MAX_TEXT_CHARS,
    TS_RE,
    Channel,
    Json,
    Message,
    SlackError,
)


class _Params:
    """Typed access to a call's parameters, which arrive as form strings or JSON."""

    def __init__(self, raw: Json) -> None:
        self.raw = raw

    def get(self, name: str) -> str | None:
        value = self.raw.get(name)
        return None if value is None or value == "" else str(value)

    def need(self, name: str, error: str) -> str:
        value = self.get(name)
        if value is None:
            raise SlackError(error)
        return value

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is True or str(value).lower() in ("1", "true")

    def integer(self, name: str, default: int) -> int:
        try:
            return int(self.raw.get(name) or default)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def json_list(self, name: str, error: str) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str) and value:
            try:
                value = json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        if value is not None and not isinstance(value, list):
            raise SlackError(error)
        return value

    def content(self) -> tuple[str, Any, Any]:
        """(text, blocks, attachments) with Slack's no_text / msg_too_long checks."""
        text = self.get("text") or ""
        blocks = self.json_list("blocks", "invalid_blocks")
        attachments = self.json_list("attachments", "invalid_attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if len(text) > MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        return text, blocks, attachments


def _paginate(items: list[Any], p: _Params) -> tuple[list[Any], str]:
    """Slice ``items`` by Slack's ``cursor`` / ``limit``; returns (page, next_cursor)."""
    limit = max(1, min(p.integer("limit", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE))
    start = 0
    if cursor := p.get("cursor"):
        try:
            start = int(base64.b64decode(cursor, validate=True).decode().removeprefix("next:"))
        except ValueError:
            raise SlackError("invalid_cursor") from None
    end = start + limit
    more = end < len(items)
    return items[start:end], base64.b64encode(f"next:{end}".encode()).decode() if more else ""


# --------------------------------------------------------------------- Web API

ApiHandler = Callable[[EventsState, _Params], Json]
API_METHODS: dict[str, ApiHandler] = {}


def _api(name: str) -> Callable[[ApiHandler], ApiHandler]:
    def register(fn: ApiHandler) -> ApiHandler:
        API_METHODS[name] = fn
        return fn

    return register


@_api("api.test")
def _api_test(s: EventsState, p: _Params) -> Json:
    return {"args": {k: v for k, v in p.raw.items() if k != "token"}}


@_api("auth.test")
def _auth_test(s: EventsState, p: _Params) -> Json:
    return {
        "url": f"https://{s.domain}.slack.com/",
        "team": s.team_name,
        "user": s.bot_name,
        "team_id": s.team_id,
        "user_id": s.bot_user_id,
        "bot_id": s.bot_id,
        "is_enterprise_install": False,
    }


def _writable(s: EventsState, p: _Params) -> Channel:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    if ch.is_archived:
        raise SlackError("is_archived")
    public_ok = s.config.chat_write_public and not ch.is_private
    if s.bot_user_id not in ch.members and not public_ok:
        raise SlackError("not_in_channel")
    return ch


@_api("chat.postMessage")
def _chat_post_message(s: EventsState, p: _Params) -> Json:
    ch = _writable(s, p)
    text, blocks, attachments = p.content()
    thread_ts = p.raw.get("thread_ts")
    parent = None if thread_ts in (None, "") else s.thread_parent(ch, thread_ts)
    m = Message(
        ch.id, s.next_ts(), text, s.bot_user_id, s.bot_id, parent, None, blocks, attachments
    )
    m.metadata, m.username = p.raw.get("metadata"), p.get("username")
    if parent and p.flag("reply_broadcast"):
        m.subtype = "thread_broadcast"
    s.store_message(ch, m)
    message = s.api_message(m)
    s.emit(ch, {**message, "channel": ch.id, "event_ts": m.ts}, by_bot=True)
    return {"channel": ch.id, "ts": m.ts, "message": message}


def _own_message(s: EventsState, p: _Params, error: str) -> Message:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    m = s.messages.get((ch.id, p.need("ts", "message_not_found")))
    if m is None or m.subtype == "tombstone":
        raise SlackError("message_not_found")
    if m.bot_id != s.bot_id:
        raise SlackError(error)
    return m


@_api("chat.update")
def _chat_update(s: EventsState, p: _Params) -> Json:
    m = _own_message(s, p, "cant_update_message")
    if s.channels[m.channel].is_archived:
        raise SlackError("is_archived")
    text, blocks, attachments = p.content()
    s.apply_edit(m, s.bot_user_id, text, blocks, attachments)
    return {"channel": m.channel, "ts": m.ts, "text": m.text, "message": s.api_message(m)}


@_api("chat.delete")
def _chat_delete(s: EventsState, p: _Params) -> Json:
    m = _own_message(s, p, "cant_delete_message")
    s.apply_delete(m, by_bot=True)
    return {"channel": m.channel, "ts": m.ts}


@_api("chat.getPermalink")
def _chat_get_permalink(s: EventsState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    m = s.message(ch.id, p.need("message_ts", "message_not_found"))
    link = f"https://{s.domain}.slack.com/archives/{ch.id}/p{m.ts.replace('.', '')}"
    if m.thread_ts and m.thread_ts != m.ts:
        link += f"?thread_ts={m.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


def _reaction_target(s: EventsState, p: _Params) -> tuple[Message, str]:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    ts = p.need("timestamp", "no_item_specified")
    if not TS_RE.match(ts):
        raise SlackError("bad_timestamp")
    name = p.need("name", "invalid_name").strip(":")
    if not EMOJI_RE.match(name):
        raise SlackError("invalid_name")
    if ch.is_archived:
        raise SlackError("is_archived")
    return s.message(ch.id, ts), name


@_api("reactions.add")
def _reactions_add(s: EventsState, p: _Params) -> Json:
    m, name = _reaction_target(s, p)
    users = m.reactions.setdefault(name, [])
    if s.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(s.bot_user_id)
    return {}


@_api("reactions.remove")
def _reactions_remove(s: EventsState, p: _Params) -> Json:
    m, name = _reaction_target(s, p)
    users = m.reactions.get(name, [])
    if s.bot_user_id not in users:
        raise SlackError("no_reaction")
    users.remove(s.bot_user_id)
    if not users:
        del m.reactions[name]
    return {}


@_api("conversations.create")
def _conversations_create(s: EventsState, p: _Params) -> Json:
    name = p.get("name") or ""
    ch = s.add_channel(name, is_private=p.flag("is_private"), creator=s.bot_user_id)
    return {"channel": s.api_channel(ch)}


@_api("conversations.info")
def _conversations_info(s: EventsState, p: _Params) -> Json:
    return {"channel": s.api_channel(s.visible_channel(p.need("channel", "channel_not_found")))}


@_api("conversations.list")
def _conversations_list(s: EventsState, p: _Params) -> Json:
    types = set((p.get("types") or "public_channel").split(","))
    if not types <= {"public_channel", "private_channel", "mpim", "im"}:
        raise SlackError("invalid_types")
    found = [
        ch
        for ch in s.channels.values()
        if ("private_channel" if ch.is_private else "public_channel") in types
        and (not ch.is_private or s.bot_user_id in ch.members)
        and not (ch.is_archived and p.flag("exclude_archived"))
    ]
    page, cursor = _paginate(found, p)
    return {
        "channels": [s.api_channel(c) for c in page],
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.join")
def _conversations_join(s: EventsState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    if ch.is_archived:
        raise SlackError("is_archived")
    if s.bot_user_id in ch.members:
        warn = "already_in_channel"
        return {
            "channel": s.api_channel(ch),
            "warning": warn,
            "response_metadata": {"warnings": [warn]},
        }
    if ch.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    ch.members.append(s.bot_user_id)
    return {"channel": s.api_channel(ch)}


@_api("conversations.invite")
def _conversations_invite(s: EventsState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    ids = [u.strip() for u in p.need("users", "no_user").split(",") if u.strip()]
    if not ids:
        raise SlackError("no_user")
    if ch.is_archived:
        raise SlackError("is_archived")
    if s.bot_user_id not in ch.members:
        raise SlackError("not_in_channel")
    for uid in ids:
        if uid == s.bot_user_id:
            raise SlackError("cant_invite_self")
        if uid not in s.users or s.users[uid].deleted:
            raise SlackError(
                "user_not_found", errors=[{"user": uid, "ok": False, "error": "user_not_found"}]
            )
        if uid in ch.members:
            err = {"user": uid, "ok": False, "error": "already_in_channel"}
            raise SlackError("already_in_channel", errors=[err])
    ch.members.extend(ids)
    return {"channel": s.api_channel(ch)}


@_api("conversations.members")
def _conversations_members(s: EventsState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    page, cursor = _paginate(ch.members, p)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _readable(s: EventsState, p: _Params) -> Channel:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    if s.bot_user_id not in ch.members:
        raise SlackError("not_in_channel")
    return ch


@_api("conversations.history")
def _conversations_history(s: EventsState, p: _Params) -> Json:
    messages = list(reversed(s.history(_readable(s, p).id)))
    page, cursor = _paginate(messages, p)
    return {
        "messages": [s.api_message(m) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.replies")
def _conversations_replies(s: EventsState, p: _Params) -> Json:
    ch = _readable(s, p)
    m = s.messages.get((ch.id, p.need("ts", "thread_not_found")))
    if m is None:
        raise SlackError("thread_not_found")
    thread = s.history(ch.id, m.ts) if m.replies else [m]
    page, cursor = _paginate(thread, p)
    return {
        "messages": [s.api_message(x) for x in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.archive")
def _conversations_archive(s: EventsState, p: _Params) -> Json:
    ch = _readable(s, p)
    if ch.is_archived:
        raise SlackError("already_archived")
    ch.is_archived = True
    return {}


@_api("conversations.setTopic")
def _conversations_set_topic(s: EventsState, p: _Params) -> Json:
    ch = _readable(s, p)
    ch.topic = p.get("topic") or ""
    return {"channel": s.api_channel(ch)}


@_api("conversations.setPurpose")
def _conversations_set_purpose(s: EventsState, p: _Params) -> Json:
    ch = _readable(s, p)
    ch.purpose = p.get("purpose") or ""
    return {"channel": s.api_channel(ch), "purpose": ch.purpose}


@_api("users.info")
def _users_info(s: EventsState, p: _Params) -> Json:
    user = s.users.get(p.need("user", "user_not_found"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": s.api_user(user)}


@_api("users.lookupByEmail")
def _users_lookup_by_email(s: EventsState, p: _Params) -> Json:
    email = p.need("email", "invalid_email").lower()
    for user in s.users.values():
        if (user.email or "").lower() == email and not user.deleted:
            return {"user": s.api_user(user)}
    raise SlackError("users_not_found")


@_api("team.info")
def _team_info(s: EventsState, p: _Params) -> Json:
    team = {"id": s.team_id, "name": s.team_name, "domain": s.domain, "email_domain": ""}
    return {"team": team}


@_api("bots.info")
def _bots_info(s: EventsState, p: _Params) -> Json:
    if p.get("bot") not in (None, s.bot_id):
        raise SlackError("bot_not_found")
    bot = {"id": s.bot_id, "app_id": s.app_id, "user_id": s.bot_user_id, "name": s.bot_name}
    return {"bot": {**bot, "deleted": False}}


@_api("users.list")
def _users_list(s: EventsState, p: _Params) -> Json:
    page, cursor = _paginate(list(s.users.values()), p)
    return {"members": [s.api_user(u) for u in page], "response_metadata": {"next_cursor": cursor}}


# ----------------------------------------------------------- request parameters


def parse_params(headers: dict[str, str], query: bytes, body: bytes) -> Json:
    """Merge query string and body (form, JSON or multipart) the way Slack reads them."""
    params: Json = dict(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True))
    full_type = headers.get("content-type", "")
    ctype = full_type.split(";")[0].strip().lower()
    if not body:
        return params
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("invalid_json")
        params.update(data)
    elif ctype in ("application/x-www-form-urlencoded", "text/plain", ""):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif ctype == "multipart/form-data":
        head = f"Content-Type: {full_type}\r\n\r\n".encode()
        parsed = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                params[str(name)] = part.get_content()
    else:
        raise SlackError("invalid_post_type")
    return params
