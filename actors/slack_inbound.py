"""Slack events coming in: a human's reply in an attendee's thread becomes a message from
the right moderator; Slack edits and deletes of such replies edit or delete the message.

Events were verified and stored by ``/slack/events`` (server/slack_events.py) and are
handled here after Slack got its answer. Ignored: anything from a bot (our own app
included), join/leave and other subtypes, top-level channel messages, and threads that
are not an attendee's. A reply that starts with the note prefix (default ``note:``)
becomes an internal note, never sent to the attendee.

Who a reply appears from: the Slack user is matched to a staff user by email; see
:func:`actors.slack_store.reply_author` for the webinar's primary-or-actual rule. Every
change goes through the conversation's actor (``System.post``, ``EditMessage``,
``DeleteMessage``), like any other message.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from actors import slack_store
from actors.group_commands import DeleteMessage, EditMessage
from actors.integration_store import Activity
from actors.records import NewMessage, NotFound, StoredMessage
from actors.slack_blocks import unescape
from actors.slack_client import SlackCallError, SlackClient
from actors.slack_store import SLACK_ORIGIN, SlackConfig
from actors.system import System
from protocol.frames import MAX_BODY_BYTES, Participant

log = logging.getLogger(__name__)

#: Message subtypes that are a person writing; everything else (joins, leaves, topic
#: changes, bot messages...) is ignored.
HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
#: Slack users remembered (id -> (email, display name)); a workspace has few staff.
USER_CACHE = 1000


def _from_bot(message: dict[str, Any]) -> bool:
    return bool(
        message.get("bot_id") or message.get("app_id") or message.get("subtype") == "bot_message"
    )


def _clip(body: str) -> str:
    data = body.encode("utf-8")
    if len(data) <= MAX_BODY_BYTES:
        return body
    return data[:MAX_BODY_BYTES].decode("utf-8", "ignore")


def _current_body(conn: sqlite3.Connection, conversation: str, seq: int) -> str | None:
    row = conn.execute(
        "SELECT body FROM messages WHERE conversation_id = ? AND seq = ? AND deleted_at IS NULL",
        (conversation, seq),
    ).fetchone()
    return None if row is None else str(row[0])


class Inbound:
    """Applies stored Slack events to conversations (see module docstring).

    Args:
        system: the running System (its groups and Store).
        client: returns the current Slack client (to look users up).
        config: returns the current settings.
        log_activity: appends an activity entry.
    """

    def __init__(
        self,
        system: System,
        client: Callable[[], SlackClient],
        config: Callable[[], SlackConfig],
        log_activity: Callable[[Activity], Awaitable[None]],
    ) -> None:
        self._system = system
        self._store = system.store
        self._client = client
        self._config = config
        self._log = log_activity
        self._users: dict[str, tuple[str | None, str]] = {}

    async def handle(self, envelope: dict[str, Any]) -> str:
        """Apply one event callback; return what was done (for logs and tests)."""
        event = envelope.get("event")
        if envelope.get("type") != "event_callback" or not isinstance(event, dict):
            return "ignored: not an event callback"
        if event.get("type") != "message":
            return f"ignored: {event.get('type')} event"
        channel = str(event.get("channel") or "")
        subtype = event.get("subtype")
        if subtype == "message_changed":
            return await self._edited(channel, event)
        if subtype == "message_deleted":
            return await self._deleted(channel, event)
        if subtype not in HUMAN_SUBTYPES or _from_bot(event):
            return f"ignored: subtype {subtype} / bot"
        return await self._posted(channel, event)

    def _split_note(self, text: str) -> tuple[str, str]:
        """("note", rest) when ``text`` starts with the note prefix, else ("message", text)."""
        prefix = self._config().note_prefix.strip()
        stripped = text.lstrip()
        if prefix and stripped[: len(prefix)].lower() == prefix.lower():
            return "note", stripped[len(prefix) :].strip()
        return "message", text.strip()

    async def _posted(self, channel: str, event: dict[str, Any]) -> str:
        ts = str(event.get("ts") or "")
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == ts or not ts:
            return "ignored: not a thread reply"
        conversation = await self._store.read(
            functools.partial(slack_store.thread_for_ts, channel=channel, thread_ts=thread_ts)
        )
        if conversation is None:
            return "ignored: not an attendee thread"
        known = await self._store.read(
            functools.partial(slack_store.message_for_ts, channel=channel, ts=ts)
        )
        if known is not None:
            return "ignored: handled before"
        kind, body = self._split_note(unescape(str(event.get("text") or "")))
        if not body:
            return "ignored: empty"
        user = str(event.get("user") or "")
        author = await self._author(conversation, user, note=kind == "note")
        stored: StoredMessage = await self._system.post(
            NewMessage(
                conversation=conversation,
                author=author,
                kind=kind,
                body=_clip(body),
                client_msg_id=f"{SLACK_ORIGIN}{ts}",
            )
        )
        await self._store.write(
            functools.partial(
                slack_store.record_message,
                channel=channel,
                ts=ts,
                conversation=conversation,
                seq=stored.seq,
                origin="in",
            )
        )
        what = "internal note" if kind == "note" else "reply"
        await self._log(
            Activity(
                "slack", "info", "event.message",
                f"{what} from Slack user {self._users.get(user, (None, user))[1]} posted as "
                f"{author.name} (message {stored.seq})",
                conversation=conversation, ref=ts,
            )
        )  # fmt: skip
        return f"posted {kind} {stored.seq} as {author.kind}:{author.id}"

    async def _edited(self, channel: str, event: dict[str, Any]) -> str:
        message = event.get("message")
        if not isinstance(message, dict) or _from_bot(message):
            return "ignored: bot edit"
        ts = str(message.get("ts") or "")
        known = await self._store.read(
            functools.partial(slack_store.message_for_ts, channel=channel, ts=ts)
        )
        if known is None or known[2] != "in":
            return "ignored: not a reply we know"
        conversation, seq, _ = known
        _, body = self._split_note(unescape(str(message.get("text") or "")))
        current = await self._store.read(
            functools.partial(_current_body, conversation=conversation, seq=seq)
        )
        if current is None or current == body or not body:
            return "ignored: unchanged"
        editor = await self._author(conversation, str(message.get("user") or ""), note=True)
        try:
            await self._system.groups.call(
                conversation,
                lambda reply: EditMessage(seq, _clip(body), editor, reply),
                timeout=self._system.config.call_timeout,
            )
        except NotFound:
            return "ignored: message gone"
        return f"edited {seq}"

    async def _deleted(self, channel: str, event: dict[str, Any]) -> str:
        previous = event.get("previous_message")
        if isinstance(previous, dict) and _from_bot(previous):
            return "ignored: bot delete"
        ts = str(event.get("deleted_ts") or "")
        known = await self._store.read(
            functools.partial(slack_store.message_for_ts, channel=channel, ts=ts)
        )
        if known is None or known[2] != "in":
            return "ignored: not a reply we know"
        conversation, seq, _ = known
        user = str(previous.get("user") or "") if isinstance(previous, dict) else ""
        by = await self._author(conversation, user, note=True)
        try:
            await self._system.groups.call(
                conversation,
                lambda reply: DeleteMessage(seq, by, reply),
                timeout=self._system.config.call_timeout,
            )
        except NotFound:
            return "ignored: message gone"
        return f"deleted {seq}"

    async def _author(self, conversation: str, user: str, *, note: bool) -> Participant:
        """Who a Slack user's message appears from (notes: the writer themself)."""
        email, name = await self._slack_user(user)
        staff = None
        if email:
            staff = await self._store.read(
                functools.partial(slack_store.staff_by_email, email=email)
            )
        if note and staff is not None:
            return Participant("staff", staff[0], staff[1])
        author = await self._store.read(
            functools.partial(
                slack_store.reply_author,
                conversation=conversation,
                staff=staff,
                default_reply_as=self._config().reply_as,
            )
        )
        return author if author is not None else Participant("bot", "slack", name[:256])

    async def _slack_user(self, user: str) -> tuple[str | None, str]:
        """(email, display name) of a Slack user; (None, id) when Slack cannot say."""
        if not user:
            return None, "unknown"
        if user not in self._users:
            try:
                answer = await self._client().call("users.info", user=user)
            except SlackCallError as exc:
                log.warning("slack.user_lookup_failed user=%s code=%s", user, exc.code)
                await self._log(
                    Activity(
                        "slack", "warning", "users.info",
                        f"could not look up Slack user {user}: {exc.code}; their reply is "
                        "sent as the primary moderator", code=exc.code, hint=exc.hint,
                    )
                )  # fmt: skip
                return None, user
            profile = answer.get("user") or {}
            email = (profile.get("profile") or {}).get("email")
            name = profile.get("real_name") or profile.get("name") or user
            if len(self._users) >= USER_CACHE:
                self._users.clear()
            self._users[user] = (str(email) if email else None, str(name))
        return self._users[user]
