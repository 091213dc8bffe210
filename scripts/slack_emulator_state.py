"""The emulated workspace's data and rules (part of scripts/slack_emulator.py).

:class:`WorkspaceState` holds users, channels, messages, recorded calls, faults and the
event outbox, with Slack's rules for changing them and Slack-shaped views of them. The
Events API side (human actions, delivery) is layered on top in slack_emulator_events.py
and the Web API in slack_emulator_api.py; ``slack_emulator.SlackState`` combines them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import trio
from slack_emulator_models import (
    EVENT_QUEUE_SIZE,
    FAULT_KINDS,
    TS_RE,
    CallRecord,
    Channel,
    Delivery,
    EmulatorConfig,
    Fault,
    Json,
    Message,
    SlackError,
    User,
    _check_channel_name,
    _Job,
    _ts_key,
    require_loopback_url,
)


class WorkspaceState:
    """The workspace: data, its rules, the fault queue and the event outbox's storage.

    Everything is synchronous. Mutations wake :meth:`wait_until`.
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
        cut: bool = False,
    ) -> Fault:
        """Queue a failure for the next ``count`` calls; see docs/slack-emulator.md."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {kind!r}")
        if count < 1 or (kind == "http_error" and not 500 <= status <= 599):
            raise ValueError("count must be >= 1 and http_error status 5xx")
        if cut and kind != "hang":
            raise ValueError("cut applies to hang faults only")
        fault = Fault(kind, count, method, retry_after, status, seconds, error, process, cut)
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

    # ----------------------------------------------------- Slack-shaped views

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
