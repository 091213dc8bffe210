#!/usr/bin/env python3
"""A stateful local Slack for tests and the demo.

The emulator keeps a workspace in memory (users with emails, channels with members,
messages with threads and reactions) and serves the Web API methods the Switchboard
Slack bridge uses, at ``http://127.0.0.1:PORT/api/<method>``, exactly as
``slack_sdk.WebClient(base_url=...)`` calls them. It answers with Slack's shapes and
error codes, injects faults (429 + Retry-After, 5xx, hangs, chosen errors), and sends
signed Events API callbacks (with Slack's retries) when a "human" posts, edits or
deletes through the control API under ``/_emulator/``. See docs/slack-emulator.md.

Run it standalone::

    python scripts/slack_emulator.py --port 0 --events-url http://127.0.0.1:8080/slack/events

or inside a test's nursery::

    state = SlackState()
    base_url = await nursery.start(slack_emulator.serve, state)

Only loopback addresses are served and only loopback URLs receive events: this is a
test tool and must never become an open relay.
"""

from __future__ import annotations

import argparse
import base64
import email.policy
import hashlib
import hmac
import json
import logging
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from email.parser import BytesParser
from functools import partial
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

logger = logging.getLogger(__name__)

Json = dict[str, Any]

#: Slack refuses message text above this many characters (``msg_too_long``).
MAX_TEXT_CHARS = 40_000
#: Slack's limit on channel names (``invalid_name_maxlength``).
MAX_CHANNEL_NAME = 80
#: Slack counts an event delivery as failed when the receiver has not answered by then.
EVENT_ACK_TIMEOUT = 3.0
#: Slack retries a failed delivery three times: at once, after a minute, after five.
EVENT_RETRY_DELAYS = (0.0, 60.0, 300.0)
#: Default and largest page for cursor-paginated methods (Slack: 100 and 1000).
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Request bodies above this are refused; a bound keeps a runaway client from growing memory.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Pending event deliveries; bounded so a test that never serves cannot grow memory forever.
EVENT_QUEUE_SIZE = 10_000
#: Hosts the emulator binds to and delivers events to; anything else is refused.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: Fault kinds accepted by :meth:`SlackState.add_fault` and ``POST /_emulator/faults``.
FAULT_KINDS = ("rate_limited", "http_error", "hang", "error")
#: Slack message timestamps: seconds, a dot, six digits.
TS_RE = re.compile(r"^\d{1,12}\.\d{6}$")
#: Channel names Slack accepts: lowercase letters, digits, hyphens and underscores.
CHANNEL_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
#: Emoji names accepted by reactions.add.
EMOJI_RE = re.compile(r"^[a-z0-9_+'-]+(::skin-tone-[2-6])?$")


class SlackError(Exception):
    """A Slack ``ok: false`` answer; ``code`` is Slack's error string."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class User:
    """A workspace member; humans have an email, the bot user does not."""

    id: str
    name: str
    real_name: str
    email: str | None = None
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Channel:
    """A public or private channel; ``members`` holds user ids in join order."""

    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""


@dataclass
class Message:
    """One message; a thread parent lists its replies' ts in ``replies``."""

    channel: str
    ts: str
    text: str
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    metadata: Any = None
    username: str | None = None
    client_msg_id: str | None = None
    edited: dict[str, str] | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)


@dataclass
class CallRecord:
    """One Web API request as received, with how it was answered."""

    method: str
    params: Json
    token: str | None
    status: int = 200
    ok: bool | None = None
    error: str | None = None
    fault: str | None = None


@dataclass
class Fault:
    """An injected failure for the next ``count`` calls (to ``method``, or to any)."""

    kind: str
    count: int = 1
    method: str | None = None
    retry_after: int = 1
    status: int = 500
    seconds: float = 10.0
    error: str = "internal_error"
    process: bool = False


@dataclass
class Attempt:
    """One HTTP attempt to deliver an event; ``failure`` is None when acknowledged."""

    retry_num: int
    status: int | None
    failure: str | None


@dataclass
class Delivery:
    """An Events API callback and every attempt made to deliver it."""

    event_id: str
    envelope: Json
    attempts: list[Attempt] = field(default_factory=list)
    done: bool = False
    acknowledged: bool = False


@dataclass(frozen=True)
class Emitted:
    """What a control action produced; ``event_id`` is None when no event was sent."""

    channel: str
    ts: str
    event_id: str | None


@dataclass
class EmulatorConfig:
    """Events API and policy settings, changeable at run time."""

    request_url: str | None = None
    signing_secret: str = "emulator-signing-secret"
    verification_token: str = "emulator-verification-token"
    #: Like Slack, the bot's own posts, edits and deletes also produce message events.
    bot_message_events: bool = True
    ack_timeout: float = EVENT_ACK_TIMEOUT
    retry_delays: tuple[float, ...] = EVENT_RETRY_DELAYS
    #: With Slack's chat:write.public scope a bot may post to public channels it is not in.
    chat_write_public: bool = False


@dataclass(frozen=True)
class _Job:
    event_id: str
    retry_num: int
    reason: str | None
    chain: bool


def sign_request(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's ``X-Slack-Signature`` for a request body sent at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def require_loopback_url(url: str) -> str:
    """Return ``url`` if it is http(s) on a loopback host, else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"only loopback http(s) URLs are allowed, got {url!r}")
    return url


class SlackState:
    """The emulated workspace: data, Web API rules, fault queue and event outbox.

    Everything is synchronous except event delivery, which :func:`serve` runs (or a
    test runs with :meth:`run_deliveries`). Mutations wake :meth:`wait_until`.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        team_id: str = "T0EMULATOR",
        team_name: str = "Switchboard Emulator",
        domain: str = "emulator",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0EMULATOR",
        bot_name: str = "switchboard",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team_name = team_name
        self.domain = domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.clock = clock
        self.config = EmulatorConfig()
        self._jobs_in, self._jobs_out = trio.open_memory_channel[_Job](EVENT_QUEUE_SIZE)
        self._changed = trio.Event()
        self._release = trio.Event()
        self.reset()

    # ----------------------------------------------------------------- basics

    def reset(self) -> None:
        """Forget users, channels, messages, calls, faults and deliveries; keep config."""
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.calls: list[CallRecord] = []
        self.faults: list[Fault] = []
        self.deliveries: dict[str, Delivery] = {}
        self._seq = 0
        self._last_micros = 0
        self.users[self.bot_user_id] = User(
            self.bot_user_id, self.bot_name, self.bot_name, None, True
        )
        self.notify()

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change :class:`EmulatorConfig` fields; ``request_url`` must be loopback."""
        for name, value in changes.items():
            if name not in EmulatorConfig.__dataclass_fields__:
                raise ValueError(f"unknown config field {name!r}")
            if name == "request_url" and value is not None:
                require_loopback_url(value)
            if name == "retry_delays":
                value = tuple(float(v) for v in value)
            setattr(self.config, name, value)
        self.notify()
        return self.config

    def notify(self) -> None:
        """Wake every :meth:`wait_until` so it re-checks its condition."""
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true; it is re-checked after every change."""
        while not predicate():
            await self._changed.wait()

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:08d}"

    def next_ts(self) -> str:
        """Return a fresh message ts, unique and increasing even within a microsecond."""
        micros = max(int(self.clock() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # ------------------------------------------------------- workspace set-up

    def add_user(
        self,
        name: str,
        email: str | None,
        *,
        real_name: str | None = None,
        user_id: str | None = None,
    ) -> User:
        """Create a human user; emails are unique, case-insensitively."""
        if email and any((u.email or "").lower() == email.lower() for u in self.users.values()):
            raise SlackError("email_taken")
        user = User(user_id or self._next_id("U"), name, real_name or name, email)
        self.users[user.id] = user
        self.notify()
        return user

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_member: bool = True,
        channel_id: str | None = None,
        creator: str | None = None,
    ) -> Channel:
        """Create a channel as an admin would; names follow conversations.create rules."""
        _check_channel_name(name, self.channels.values())
        member_ids = [self.find_user(m).id for m in members]
        if bot_member and self.bot_user_id not in member_ids:
            member_ids.insert(0, self.bot_user_id)
        channel = Channel(
            channel_id or self._next_id("C"),
            name,
            int(self.clock()),
            creator or (member_ids[0] if member_ids else self.bot_user_id),
            is_private,
            members=member_ids,
        )
        self.channels[channel.id] = channel
        self.notify()
        return channel

    def add_members(self, channel: str, users: Iterable[str]) -> Channel:
        """Add users (ids, emails or names) to a channel, as if they joined themselves."""
        ch = self.find_channel(channel)
        for ref in users:
            uid = self.find_user(ref).id
            if uid not in ch.members:
                ch.members.append(uid)
        self.notify()
        return ch

    def archive_channel(self, channel: str) -> Channel:
        """Archive a channel as an admin would."""
        ch = self.find_channel(channel)
        ch.is_archived = True
        self.notify()
        return ch

    def seed_demo(self) -> None:
        """Create two staff users and a #switchboard-demo channel the bot is in."""
        mia = self.add_user("mia", "mia@example.com", real_name="Mia Moderator")
        sam = self.add_user("sam", "sam@example.com", real_name="Sam Support")
        self.add_channel("switchboard-demo", members=[mia.id, sam.id])
        self.add_channel("general", members=[mia.id, sam.id], bot_member=False)

    def find_user(self, ref: str) -> User:
        """Find a user by id, email or name; raise ``SlackError('user_not_found')``."""
        if ref in self.users:
            return self.users[ref]
        for user in self.users.values():
            if ref.lower() in ((user.email or "").lower(), user.name.lower()):
                return user
        raise SlackError("user_not_found")

    def find_channel(self, ref: str) -> Channel:
        """Find a channel by id or name (``#`` optional), ignoring bot visibility."""
        if ref in self.channels:
            return self.channels[ref]
        for ch in self.channels.values():
            if ch.name == ref.removeprefix("#"):
                return ch
        raise SlackError("channel_not_found")

    def visible_channel(self, ref: str) -> Channel:
        """Like :meth:`find_channel`, but private channels exist only for their members."""
        ch = self.find_channel(ref)
        if ch.is_private and self.bot_user_id not in ch.members:
            raise SlackError("channel_not_found")
        return ch

    def message(self, channel: str, ts: str) -> Message:
        """Return a stored message or raise ``SlackError('message_not_found')``."""
        try:
            return self.messages[(self.find_channel(channel).id, ts)]
        except KeyError:
            raise SlackError("message_not_found") from None

    def history(self, channel: str, thread_ts: str | None = None) -> list[Message]:
        """Top-level messages of a channel, or one thread (parent first), oldest first."""
        ch = self.find_channel(channel)
        if thread_ts is not None:
            parent = self.message(ch.id, thread_ts)
            return [parent, *(self.messages[(ch.id, ts)] for ts in parent.replies)]
        found = [m for (cid, _), m in self.messages.items() if cid == ch.id]
        top = [m for m in found if m.thread_ts in (None, m.ts) or m.subtype == "thread_broadcast"]
        return sorted(top, key=lambda m: _ts_key(m.ts))

    def calls_to(self, method: str) -> list[CallRecord]:
        """Every recorded call to one Web API method, oldest first."""
        return [c for c in self.calls if c.method == method]

    # ------------------------------------------------------------------ faults

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        method: str | None = None,
        retry_after: int = 1,
        status: int = 500,
        seconds: float = 10.0,
        error: str = "internal_error",
        process: bool = False,
    ) -> Fault:
        """Queue a failure for the next ``count`` calls; see docs/slack-emulator.md."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {kind!r}")
        if count < 1 or (kind == "http_error" and not 500 <= status <= 599):
            raise ValueError("count must be >= 1 and http_error status 5xx")
        fault = Fault(kind, count, method, retry_after, status, seconds, error, process)
        self.faults.append(fault)
        self.notify()
        return fault

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self.faults.clear()
        self.notify()

    def release_hangs(self) -> None:
        """End every ``hang`` fault now; the hung calls then proceed normally."""
        self._release.set()
        self._release = trio.Event()

    def take_fault(self, method: str) -> Fault | None:
        """Consume one use of the first fault that applies to ``method``."""
        for fault in self.faults:
            if fault.method in (None, method):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def hang(self, seconds: float) -> None:
        """Wait ``seconds`` or until :meth:`release_hangs`, whichever is first."""
        with trio.move_on_after(seconds):
            await self._release.wait()

    # ---------------------------------------------------------------- Web API

    def call_api(self, method: str, params: Json, token: str | None) -> tuple[int, Json]:
        """Answer one Web API call (no faults); returns (HTTP status, JSON body).

        Error handling: rule violations become ``{"ok": false, "error": code}`` with
        HTTP 200 like Slack; an unknown method is a 404 ``unknown_method``.
        """
        handler = API_METHODS.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            if method != "api.test":
                if not token:
                    raise SlackError("not_authed")
                if not hmac.compare_digest(token, self.token):
                    raise SlackError("invalid_auth")
            body = {"ok": True, **handler(self, _Params(params))}
        except SlackError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        self.notify()
        return 200, body

    def api_user(self, user: User) -> Json:
        """A user object shaped like users.info."""
        profile: Json = {
            "real_name": user.real_name,
            "display_name": user.name,
            "real_name_normalized": user.real_name,
            "display_name_normalized": user.name,
            "team": self.team_id,
        }
        if user.email:
            profile["email"] = user.email
        if user.is_bot:
            profile["bot_id"] = self.bot_id
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": "Europe/Berlin",
            "tz_offset": 3600,
            "is_admin": False,
            "is_owner": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "profile": profile,
        }

    def api_channel(self, ch: Channel) -> Json:
        """A channel object shaped like conversations.info, seen by the bot."""
        return {
            "id": ch.id,
            "name": ch.name,
            "name_normalized": ch.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": ch.is_private,
            "created": ch.created,
            "creator": ch.creator,
            "is_archived": ch.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.bot_user_id in ch.members,
            "num_members": len(ch.members),
            "topic": {"value": ch.topic, "creator": "", "last_set": 0},
            "purpose": {"value": ch.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
            "context_team_id": self.team_id,
        }

    def api_message(self, m: Message) -> Json:
        """A message object shaped like conversations.history / replies."""
        out: Json = {
            "type": "message",
            "ts": m.ts,
            "text": m.text,
            "user": m.user,
            "team": self.team_id,
        }
        if m.subtype:
            out["subtype"] = m.subtype
        if m.bot_id:
            out.update(bot_id=m.bot_id, app_id=self.app_id, bot_profile=self._bot_profile())
        for key in ("blocks", "attachments", "metadata", "username", "client_msg_id", "edited"):
            if getattr(m, key) is not None:
                out[key] = getattr(m, key)
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
            parent = self.messages.get((m.channel, m.thread_ts))
            if m.thread_ts != m.ts and parent is not None:
                out["parent_user_id"] = parent.user
        if m.replies:
            users = list(dict.fromkeys(self.messages[(m.channel, r)].user for r in m.replies))
            out.update(
                reply_count=len(m.replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=m.replies[-1],
            )
        if m.reactions:
            out["reactions"] = [
                {"name": n, "users": list(u), "count": len(u)} for n, u in m.reactions.items()
            ]
        return out

    def _bot_profile(self) -> Json:
        return {"id": self.bot_id, "app_id": self.app_id, "name": self.bot_name, "deleted": False}

    def store_message(self, ch: Channel, m: Message) -> Message:
        """Store a new message and link it into its thread."""
        self.messages[(ch.id, m.ts)] = m
        if m.thread_ts and m.thread_ts != m.ts:
            parent = self.messages[(ch.id, m.thread_ts)]
            parent.replies.append(m.ts)
            parent.thread_ts = parent.ts
        return m

    def thread_parent(self, ch: Channel, thread_ts: Any) -> str:
        """Validate a ``thread_ts`` and return the parent's ts (replies thread flat)."""
        if not isinstance(thread_ts, str) or not TS_RE.match(thread_ts):
            raise SlackError("invalid_thread_ts")
        parent = self.messages.get((ch.id, thread_ts))
        if parent is None:
            raise SlackError("thread_not_found")
        return parent.thread_ts or parent.ts

    def remove_message(self, m: Message) -> None:
        """Delete a message; a parent with replies stays as a tombstone, like Slack."""
        key = (m.channel, m.ts)
        if m.replies:
            m.subtype, m.text, m.blocks, m.attachments = (
                "tombstone",
                "This message was deleted.",
                None,
                None,
            )
            return
        del self.messages[key]
        if m.thread_ts and m.thread_ts != m.ts:
            parent = self.messages[(m.channel, m.thread_ts)]
            parent.replies.remove(m.ts)
            if parent.subtype == "tombstone" and not parent.replies:
                del self.messages[(parent.channel, parent.ts)]

    # ------------------------------------------------------- human actions

    def post_as_user(
        self, user: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> Emitted:
        """Post as a human member; sends a ``message`` event if the bot is in the channel."""
        author = self.find_user(user)
        ch = self.find_channel(channel)
        if ch.is_archived:
            raise SlackError("is_archived")
        if author.id not in ch.members:
            raise SlackError("not_in_channel")
        if not text:
            raise SlackError("no_text")
        parent = self.thread_parent(ch, thread_ts) if thread_ts is not None else None
        m = Message(ch.id, self.next_ts(), text, author.id, thread_ts=parent)
        m.client_msg_id = str(uuid.uuid4())
        m.blocks = [_rich_text_block(text)]
        self.store_message(ch, m)
        event = {**self.api_message(m), "channel": ch.id, "event_ts": m.ts}
        return Emitted(ch.id, m.ts, self.emit(ch, event))

    def edit_as_user(self, channel: str, ts: str, text: str, *, user: str | None = None) -> Emitted:
        """Edit a human's message; sends ``message`` / ``message_changed``."""
        m = self.message(channel, ts)
        if m.bot_id or m.subtype == "tombstone" or (user and self.find_user(user).id != m.user):
            raise SlackError("cant_update_message")
        return self.apply_edit(m, m.user, text, [_rich_text_block(text)], m.attachments)

    def delete_as_user(self, channel: str, ts: str) -> Emitted:
        """Delete any message as its author or an admin; sends ``message_deleted``."""
        m = self.message(channel, ts)
        if m.subtype == "tombstone":
            raise SlackError("message_not_found")
        return self.apply_delete(m)

    def apply_edit(
        self, m: Message, editor: str, text: str, blocks: Any, attachments: Any
    ) -> Emitted:
        """Change a message and emit Slack's ``message_changed`` event."""
        previous = self.api_message(m)
        event_ts = self.next_ts()
        m.text, m.blocks, m.attachments = text, blocks, attachments
        m.edited = {"user": editor, "ts": event_ts}
        event = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "message": self.api_message(m),
            "previous_message": previous,
            "channel": m.channel,
            "ts": event_ts,
            "event_ts": event_ts,
        }
        ch = self.channels[m.channel]
        return Emitted(ch.id, m.ts, self.emit(ch, event, by_bot=m.bot_id is not None))

    def apply_delete(self, m: Message, *, by_bot: bool = False) -> Emitted:
        """Delete a message and emit Slack's ``message_deleted`` event."""
        previous = self.api_message(m)
        event_ts = self.next_ts()
        self.remove_message(m)
        event: Json = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": m.ts,
            "previous_message": previous,
            "channel": m.channel,
            "ts": event_ts,
            "event_ts": event_ts,
        }
        if m.thread_ts and m.thread_ts != m.ts:
            event["thread_ts"] = m.thread_ts
        ch = self.channels[m.channel]
        return Emitted(ch.id, m.ts, self.emit(ch, event, by_bot=by_bot))

    # --------------------------------------------------------------- events

    def emit(self, ch: Channel, event: Json, *, by_bot: bool = False) -> str | None:
        """Wrap ``event`` in an ``event_callback`` envelope and queue its delivery.

        Like Slack, only channels the bot is a member of produce events; the bot's own
        actions do so only while ``config.bot_message_events`` is on.
        """
        if self.bot_user_id not in ch.members or (by_bot and not self.config.bot_message_events):
            return None
        event["channel_type"] = "group" if ch.is_private else "channel"
        self._seq += 1
        event_id = f"Ev{self._seq:08X}"
        envelope = {
            "token": self.config.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + base64.urlsafe_b64encode(event_id.encode()).decode(),
        }
        delivery = Delivery(event_id, envelope)
        self.deliveries[event_id] = delivery
        if self.config.request_url is None:
            delivery.done = True
        else:
            self._jobs_in.send_nowait(_Job(event_id, 0, None, chain=True))
        self.notify()
        return event_id

    def replay_event(self, event_id: str, *, as_retry: bool = True) -> None:
        """Send an already-emitted event once more, with the same event_id.

        With ``as_retry`` it carries ``X-Slack-Retry-Num`` (attempts so far) and
        ``X-Slack-Retry-Reason: http_timeout``, as a Slack retry would.
        """
        delivery = self.deliveries[event_id]
        if self.config.request_url is None:
            raise ValueError("no events request URL configured")
        num = len(delivery.attempts) if as_retry else 0
        self._jobs_in.send_nowait(_Job(event_id, num, "http_timeout" if as_retry else None, False))

    async def wait_for_delivery(self, event_id: str, *, attempts: int = 0) -> Delivery:
        """Wait until the delivery is finished (acked or given up) with >= ``attempts``."""
        d = self.deliveries[event_id]
        await self.wait_until(lambda: d.done and len(d.attempts) >= attempts)
        return d

    async def run_deliveries(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver queued events forever: first attempts in order, retries in background."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for job in self._jobs_out:
                delivery = self.deliveries.get(job.event_id)
                if delivery is None:  # reset() while it was queued
                    continue
                failure, no_retry = await self._attempt(delivery, job.retry_num, job.reason)
                if not job.chain:
                    continue
                if failure is None or no_retry or not self.config.retry_delays:
                    self._finish(delivery, failure is None)
                else:
                    nursery.start_soon(self._retry_chain, delivery, failure)

    async def _retry_chain(self, delivery: Delivery, failure: str) -> None:
        reason: str | None = failure
        for num, delay in enumerate(self.config.retry_delays, start=1):
            await trio.sleep(delay)
            reason, no_retry = await self._attempt(delivery, num, reason)
            if reason is None or no_retry:
                break
        self._finish(delivery, reason is None)

    def _finish(self, delivery: Delivery, acknowledged: bool) -> None:
        delivery.done, delivery.acknowledged = True, acknowledged
        if not acknowledged:
            logger.warning("event %s not acknowledged; Slack would give up", delivery.event_id)
        self.notify()

    async def _attempt(
        self, delivery: Delivery, retry_num: int, reason: str | None
    ) -> tuple[str | None, bool]:
        """POST once; returns (failure reason or None, receiver asked for no retry)."""
        headers = {}
        if retry_num:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason or ""}
        status, _, response_headers, failure = await self.post_signed(delivery.envelope, headers)
        delivery.attempts.append(Attempt(retry_num, status, failure))
        logger.info("event %s attempt %d -> %s", delivery.event_id, retry_num, failure or status)
        self.notify()
        return failure, response_headers.get("x-slack-no-retry") == "1"

    async def post_signed(
        self, payload: Json, extra_headers: dict[str, str] | None = None
    ) -> tuple[int | None, bytes, httpx.Headers, str | None]:
        """POST a signed JSON body to the request URL within ``ack_timeout``.

        Returns (status, body, headers, failure) where failure is one of Slack's retry
        reasons (``http_timeout``, ``http_error``, ``connection_failed``) or None.
        """
        url = self.config.request_url
        if url is None:
            raise ValueError("no events request URL configured")
        require_loopback_url(url)
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time()))  # real wall time: receivers check freshness
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign_request(self.config.signing_secret, timestamp, body),
            **(extra_headers or {}),
        }
        async with httpx.AsyncClient(trust_env=False, timeout=None) as client:
            with trio.move_on_after(self.config.ack_timeout) as scope:
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.TransportError:
                    return None, b"", httpx.Headers(), "connection_failed"
            if scope.cancelled_caught:
                return None, b"", httpx.Headers(), "http_timeout"
        ok = 200 <= response.status_code < 300
        return (
            response.status_code,
            response.content,
            response.headers,
            None if ok else "http_error",
        )

    async def send_url_verification(self, challenge: str | None = None) -> Json:
        """Send Slack's ``url_verification`` request; report whether it was echoed."""
        challenge = challenge or uuid.uuid4().hex
        payload = {
            "token": self.config.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        status, body, _, failure = await self.post_signed(payload)
        echoed = body.decode(errors="replace").strip() == challenge
        if not echoed:
            try:
                echoed = json.loads(body).get("challenge") == challenge
            except (ValueError, AttributeError):
                echoed = False
        return {"challenge": challenge, "status": status, "failure": failure, "echoed": echoed}

    # ---------------------------------------------------------------- snapshot

    def snapshot(self) -> Json:
        """Everything, JSON-ready: what ``GET /_emulator/state`` returns."""
        channels = []
        for ch in self.channels.values():
            top = [
                {
                    **self.api_message(m),
                    "replies": [self.api_message(r) for r in self.history(ch.id, m.ts)[1:]],
                }
                for m in self.history(ch.id)
            ]
            channels.append({**self.api_channel(ch), "members": list(ch.members), "messages": top})
        return {
            "team": {"id": self.team_id, "name": self.team_name, "domain": self.domain},
            "bot": {"user_id": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id},
            "config": asdict(self.config),
            "users": [self.api_user(u) for u in self.users.values()],
            "channels": channels,
            "calls": [asdict(c) for c in self.calls],
            "faults": [asdict(f) for f in self.faults],
            "deliveries": [asdict(d) for d in self.deliveries.values()],
        }


# ---------------------------------------------------------------------- helpers


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _rich_text_block(text: str) -> Json:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {"type": "rich_text", "block_id": uuid.uuid4().hex[:5], "elements": [section]}


def _check_channel_name(name: str, existing: Iterable[Channel]) -> None:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME_RE.match(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    if any(ch.name == name for ch in existing):
        raise SlackError("name_taken")


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

ApiHandler = Callable[[SlackState, _Params], Json]
API_METHODS: dict[str, ApiHandler] = {}


def _api(name: str) -> Callable[[ApiHandler], ApiHandler]:
    def register(fn: ApiHandler) -> ApiHandler:
        API_METHODS[name] = fn
        return fn

    return register


@_api("api.test")
def _api_test(s: SlackState, p: _Params) -> Json:
    return {"args": {k: v for k, v in p.raw.items() if k != "token"}}


@_api("auth.test")
def _auth_test(s: SlackState, p: _Params) -> Json:
    return {
        "url": f"https://{s.domain}.slack.com/",
        "team": s.team_name,
        "user": s.bot_name,
        "team_id": s.team_id,
        "user_id": s.bot_user_id,
        "bot_id": s.bot_id,
        "is_enterprise_install": False,
    }


def _writable(s: SlackState, p: _Params) -> Channel:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    if ch.is_archived:
        raise SlackError("is_archived")
    public_ok = s.config.chat_write_public and not ch.is_private
    if s.bot_user_id not in ch.members and not public_ok:
        raise SlackError("not_in_channel")
    return ch


@_api("chat.postMessage")
def _chat_post_message(s: SlackState, p: _Params) -> Json:
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


def _own_message(s: SlackState, p: _Params, error: str) -> Message:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    m = s.messages.get((ch.id, p.need("ts", "message_not_found")))
    if m is None or m.subtype == "tombstone":
        raise SlackError("message_not_found")
    if m.bot_id != s.bot_id:
        raise SlackError(error)
    return m


@_api("chat.update")
def _chat_update(s: SlackState, p: _Params) -> Json:
    m = _own_message(s, p, "cant_update_message")
    if s.channels[m.channel].is_archived:
        raise SlackError("is_archived")
    text, blocks, attachments = p.content()
    s.apply_edit(m, s.bot_user_id, text, blocks, attachments)
    return {"channel": m.channel, "ts": m.ts, "text": m.text, "message": s.api_message(m)}


@_api("chat.delete")
def _chat_delete(s: SlackState, p: _Params) -> Json:
    m = _own_message(s, p, "cant_delete_message")
    s.apply_delete(m, by_bot=True)
    return {"channel": m.channel, "ts": m.ts}


@_api("chat.getPermalink")
def _chat_get_permalink(s: SlackState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    m = s.message(ch.id, p.need("message_ts", "message_not_found"))
    link = f"https://{s.domain}.slack.com/archives/{ch.id}/p{m.ts.replace('.', '')}"
    if m.thread_ts and m.thread_ts != m.ts:
        link += f"?thread_ts={m.thread_ts}&cid={ch.id}"
    return {"channel": ch.id, "permalink": link}


def _reaction_target(s: SlackState, p: _Params) -> tuple[Message, str]:
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
def _reactions_add(s: SlackState, p: _Params) -> Json:
    m, name = _reaction_target(s, p)
    users = m.reactions.setdefault(name, [])
    if s.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(s.bot_user_id)
    return {}


@_api("reactions.remove")
def _reactions_remove(s: SlackState, p: _Params) -> Json:
    m, name = _reaction_target(s, p)
    users = m.reactions.get(name, [])
    if s.bot_user_id not in users:
        raise SlackError("no_reaction")
    users.remove(s.bot_user_id)
    if not users:
        del m.reactions[name]
    return {}


@_api("conversations.create")
def _conversations_create(s: SlackState, p: _Params) -> Json:
    name = p.get("name") or ""
    ch = s.add_channel(name, is_private=p.flag("is_private"), creator=s.bot_user_id)
    return {"channel": s.api_channel(ch)}


@_api("conversations.info")
def _conversations_info(s: SlackState, p: _Params) -> Json:
    return {"channel": s.api_channel(s.visible_channel(p.need("channel", "channel_not_found")))}


@_api("conversations.list")
def _conversations_list(s: SlackState, p: _Params) -> Json:
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
def _conversations_join(s: SlackState, p: _Params) -> Json:
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
def _conversations_invite(s: SlackState, p: _Params) -> Json:
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
def _conversations_members(s: SlackState, p: _Params) -> Json:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    page, cursor = _paginate(ch.members, p)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


def _readable(s: SlackState, p: _Params) -> Channel:
    ch = s.visible_channel(p.need("channel", "channel_not_found"))
    if s.bot_user_id not in ch.members:
        raise SlackError("not_in_channel")
    return ch


@_api("conversations.history")
def _conversations_history(s: SlackState, p: _Params) -> Json:
    messages = list(reversed(s.history(_readable(s, p).id)))
    page, cursor = _paginate(messages, p)
    return {
        "messages": [s.api_message(m) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


@_api("conversations.replies")
def _conversations_replies(s: SlackState, p: _Params) -> Json:
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
def _conversations_archive(s: SlackState, p: _Params) -> Json:
    ch = _readable(s, p)
    if ch.is_archived:
        raise SlackError("already_archived")
    ch.is_archived = True
    return {}


@_api("conversations.setTopic")
def _conversations_set_topic(s: SlackState, p: _Params) -> Json:
    ch = _readable(s, p)
    ch.topic = p.get("topic") or ""
    return {"channel": s.api_channel(ch)}


@_api("conversations.setPurpose")
def _conversations_set_purpose(s: SlackState, p: _Params) -> Json:
    ch = _readable(s, p)
    ch.purpose = p.get("purpose") or ""
    return {"channel": s.api_channel(ch), "purpose": ch.purpose}


@_api("users.info")
def _users_info(s: SlackState, p: _Params) -> Json:
    user = s.users.get(p.need("user", "user_not_found"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": s.api_user(user)}


@_api("users.lookupByEmail")
def _users_lookup_by_email(s: SlackState, p: _Params) -> Json:
    email = p.need("email", "invalid_email").lower()
    for user in s.users.values():
        if (user.email or "").lower() == email and not user.deleted:
            return {"user": s.api_user(user)}
    raise SlackError("users_not_found")


@_api("team.info")
def _team_info(s: SlackState, p: _Params) -> Json:
    team = {"id": s.team_id, "name": s.team_name, "domain": s.domain, "email_domain": ""}
    return {"team": team}


@_api("bots.info")
def _bots_info(s: SlackState, p: _Params) -> Json:
    if p.get("bot") not in (None, s.bot_id):
        raise SlackError("bot_not_found")
    bot = {"id": s.bot_id, "app_id": s.app_id, "user_id": s.bot_user_id, "name": s.bot_name}
    return {"bot": {**bot, "deleted": False}}


@_api("users.list")
def _users_list(s: SlackState, p: _Params) -> Json:
    page, cursor = _paginate(list(s.users.values()), p)
    return {"members": [s.api_user(u) for u in page], "response_metadata": {"next_cursor": cursor}}


# ------------------------------------------------------------------- HTTP app

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Response = tuple[int, Json, dict[str, str]]


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


class EmulatorApp:
    """The raw ASGI app: ``/api/<method>`` for Slack, ``/_emulator/...`` for control."""

    def __init__(self, state: SlackState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _respond(send, (413, {"ok": False, "error": "request_too_large"}, {}))
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        if path.startswith("/api/"):
            response = await self._web_api(path[5:], headers, scope["query_string"], body)
        elif path.startswith("/_emulator/"):
            response = await _control(self.state, scope["method"], path[11:], body)
        else:
            response = (404, {"ok": False, "error": "not_found"}, {})
        await _respond(send, response)

    async def _web_api(
        self, method: str, headers: dict[str, str], query: bytes, body: bytes
    ) -> Response:
        state = self.state
        record = CallRecord(method, {}, None)
        state.calls.append(record)
        try:
            params = parse_params(headers, query, body)
        except SlackError as exc:
            record.ok, record.error = False, exc.code
            return 200, {"ok": False, "error": exc.code}, {}
        auth = headers.get("authorization", "")
        body_token = params.pop("token", None)
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else body_token
        record.params, record.token = params, token
        fault = state.take_fault(method)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "rate_limited":
                record.status, record.ok, record.error = 429, False, "ratelimited"
                state.notify()
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(fault.retry_after)},
                )
            if fault.kind == "error":
                record.ok, record.error = False, fault.error
                state.notify()
                return 200, {"ok": False, "error": fault.error}, {}
            if fault.kind == "hang":
                await state.hang(fault.seconds)
            elif not fault.process:
                record.status, record.ok = fault.status, False
                state.notify()
                return fault.status, {"ok": False, "error": _server_error(fault.status)}, {}
        status, answer = state.call_api(method, params, token)
        record.ok, record.error = bool(answer.get("ok")), answer.get("error")
        if fault is not None and fault.kind == "http_error":
            record.status = fault.status
            return fault.status, {"ok": False, "error": _server_error(fault.status)}, {}
        record.status = status
        return status, answer, {}


def _server_error(status: int) -> str:
    return "service_unavailable" if status == 503 else "internal_error"


async def _respond(send: Send, response: Response) -> None:
    status, payload, extra = response
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    headers.append((b"x-slack-req-id", uuid.uuid4().hex.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------- control API


async def _control(state: SlackState, verb: str, route: str, body: bytes) -> Response:
    """Dispatch ``/_emulator/<route>``; JSON in, JSON out, 400 with ``error`` on misuse."""
    try:
        payload = json.loads(body) if body else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        if verb == "GET" and route == "state":
            return 200, state.snapshot(), {}
        handler = CONTROL_ROUTES.get(route)
        if handler is None or verb != "POST":
            return 404, {"ok": False, "error": f"no such control route: {verb} {route}"}, {}
        return 200, {"ok": True, **await handler(state, payload)}, {}
    except SlackError as exc:
        return 400, {"ok": False, "error": exc.code}, {}
    except (ValueError, KeyError, TypeError) as exc:
        return 400, {"ok": False, "error": f"bad request: {exc!r}"}, {}


async def _wait_result(state: SlackState, emitted: Emitted, payload: Json) -> Json:
    out: Json = asdict(emitted)
    if payload.get("wait") and emitted.event_id is not None:
        delivery = await state.wait_for_delivery(emitted.event_id)
        out["delivery"] = asdict(delivery)
    return out


async def _c_users(s: SlackState, b: Json) -> Json:
    user = s.add_user(b["name"], b.get("email"), real_name=b.get("real_name"), user_id=b.get("id"))
    return {"user": s.api_user(user)}


async def _c_channels(s: SlackState, b: Json) -> Json:
    ch = s.add_channel(
        b["name"],
        is_private=bool(b.get("is_private", False)),
        members=b.get("members", []),
        bot_member=bool(b.get("bot_member", True)),
        channel_id=b.get("id"),
    )
    return {"channel": {**s.api_channel(ch), "members": list(ch.members)}}


async def _c_members(s: SlackState, b: Json) -> Json:
    ch = s.add_members(b["channel"], b["users"])
    return {"channel": {**s.api_channel(ch), "members": list(ch.members)}}


async def _c_archive(s: SlackState, b: Json) -> Json:
    return {"channel": s.api_channel(s.archive_channel(b["channel"]))}


async def _c_config(s: SlackState, b: Json) -> Json:
    return {"config": asdict(s.configure(**b))}


async def _c_faults(s: SlackState, b: Json) -> Json:
    return {"fault": asdict(s.add_fault(b.pop("kind"), **b))}


async def _c_faults_clear(s: SlackState, b: Json) -> Json:
    s.clear_faults()
    return {}


async def _c_release(s: SlackState, b: Json) -> Json:
    s.release_hangs()
    return {}


async def _c_post(s: SlackState, b: Json) -> Json:
    emitted = s.post_as_user(b["user"], b["channel"], b["text"], thread_ts=b.get("thread_ts"))
    return await _wait_result(s, emitted, b)


async def _c_edit(s: SlackState, b: Json) -> Json:
    emitted = s.edit_as_user(b["channel"], b["ts"], b["text"], user=b.get("user"))
    return await _wait_result(s, emitted, b)


async def _c_delete(s: SlackState, b: Json) -> Json:
    return await _wait_result(s, s.delete_as_user(b["channel"], b["ts"]), b)


async def _c_replay(s: SlackState, b: Json) -> Json:
    delivery = s.deliveries[b["event_id"]]
    before = len(delivery.attempts)
    s.replay_event(b["event_id"], as_retry=bool(b.get("as_retry", True)))
    if b.get("wait"):
        await s.wait_until(lambda: len(delivery.attempts) > before)
    return {"delivery": asdict(delivery)}


async def _c_url_verification(s: SlackState, b: Json) -> Json:
    return await s.send_url_verification(b.get("challenge"))


async def _c_reset(s: SlackState, b: Json) -> Json:
    s.reset()
    return {}


CONTROL_ROUTES: dict[str, Callable[[SlackState, Json], Awaitable[Json]]] = {
    "users": _c_users,
    "channels": _c_channels,
    "members": _c_members,
    "archive": _c_archive,
    "config": _c_config,
    "faults": _c_faults,
    "faults/clear": _c_faults_clear,
    "release": _c_release,
    "post": _c_post,
    "edit": _c_edit,
    "delete": _c_delete,
    "replay": _c_replay,
    "url_verification": _c_url_verification,
    "reset": _c_reset,
}


# ------------------------------------------------------------------- serving


async def serve(
    state: SlackState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the emulator and deliver its events until cancelled.

    Reports the Web API base URL (``http://127.0.0.1:PORT/api/``) via ``task_status``.

    Raises:
        ValueError: ``host`` is not a loopback address.
    """
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the Slack emulator binds to loopback only, not {host!r}")
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(state.run_deliveries))
        binds: list[str] = await nursery.start(
            partial(hypercorn_serve, cast(Any, EmulatorApp(state)), config, mode="asgi")
        )
        url = binds[0].rstrip("/") + "/api/"
        logger.info("slack emulator listening on %s", url)
        task_status.started(url)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description="Local Slack emulator for tests and the demo.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--events-url", help="Events API request URL (loopback only)")
    parser.add_argument("--signing-secret", default=EmulatorConfig.signing_secret)
    parser.add_argument("--token", default="xoxb-test-token", help="the bot token to accept")
    parser.add_argument("--seed-demo", action="store_true", help="create demo users/channels")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every event delivery")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.host not in LOOPBACK_HOSTS:
        parser.error("--host must be a loopback address")
    state = SlackState(token=args.token)
    try:
        state.configure(request_url=args.events_url, signing_secret=args.signing_secret)
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed_demo:
        state.seed_demo()
    trio.run(_run_cli, state, args.host, args.port)
    return 0


async def _run_cli(state: SlackState, host: str, port: int) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial(serve, state, host=host, port=port))
            print(f"slack emulator listening on {url}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    raise SystemExit(main())
