"""Carrying out one queued Slack operation: post a parent or a reply, update, delete, react,
and create a per-webinar channel on the way.

Nothing is posted twice: every post carries its operation key in Slack message
``metadata``, the operation is marked ``in_doubt`` durably before the call, and a post
whose earlier attempt may have reached Slack (a timeout, a 5xx, a crash mid-call) is
first looked up in the channel or thread by that key and adopted when found.

Error handling: Slack failures surface as :class:`~actors.slack_client.SlackCallError`
for the bridge's lane to retry, hold or fail; answers that mean "already done"
(``already_reacted``, ``message_not_found`` on a delete) count as success.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from actors import slack_plan, slack_store
from actors.integration_store import Activity
from actors.slack_blocks import channel_name, parent_message
from actors.slack_client import Disposition, Pacer, SlackCallError, SlackClient
from actors.slack_store import CHANNEL_LANE, Op, SlackConfig
from actors.store import Store, Tx

log = logging.getLogger(__name__)

#: Message metadata event type carrying the operation key (found again after a crash).
METADATA_TYPE = "switchboard_post"
#: Most names tried for a per-webinar channel (``name``, ``name-2``...) after name_taken.
NAME_ATTEMPTS = 9
#: Page size of the look-ups for an in-doubt post (Slack allows up to 1000; 200 is cheap).
LOOKUP_PAGE = 200
#: How far back (seconds before the operation was queued) a parent look-up searches.
LOOKUP_SLACK = 120
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")

Finisher = Callable[[Tx], None]


@dataclass(frozen=True, slots=True)
class Done:
    """What a finished operation reports: a line for the activity log, a write to commit."""

    message: str
    finish: Finisher | None = None
    quiet: bool = False


class Outbound:
    """Runs operations against Slack (see module docstring).

    Args:
        store: the Store (reads and writes).
        pacer: per-lane pacing of posts.
        client: returns the current Slack client.
        config: returns the current settings.
        base_url: returns the server's public URL (for the "Reply in chat" button).
        log_activity: appends an activity entry.
    """

    def __init__(
        self,
        store: Store,
        pacer: Pacer,
        client: Callable[[], SlackClient],
        config: Callable[[], SlackConfig],
        base_url: Callable[[], str],
        log_activity: Callable[[Activity], Awaitable[None]],
    ) -> None:
        self._store = store
        self._pacer = pacer
        self._client = client
        self._config = config
        self._base_url = base_url
        self._log = log_activity
        self._channel_ids: dict[str, str] = {}
        self._creating = trio.Lock()

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._client().call(method, **params)

    async def execute(self, op: Op, *, in_doubt: bool) -> Done:
        """Carry out ``op``; ``in_doubt``: an earlier attempt may have posted already."""
        handler = getattr(self, f"_do_{op.kind}")
        done: Done = await handler(op, in_doubt)
        return done

    # -- kinds --------------------------------------------------------------------------

    async def _do_parent(self, op: Op, in_doubt: bool) -> Done:
        conversation = _conversation(op)
        thread = await self._store.read(
            functools.partial(slack_store.get_thread, conversation=conversation)
        )
        if thread is not None and thread.thread_ts is not None:
            return Done("the parent message was posted already", quiet=True)
        channel = await self._channel_for(op.lane)
        facts = await self._store.read(
            functools.partial(
                slack_plan.parent_facts,
                conversation=conversation,
                base_url=self._base_url(),
                chatting=bool(op.payload.get("chatting")),
            )
        )
        if facts is None:
            return Done("the conversation is gone; nothing posted", quiet=True)
        text, blocks = parent_message(facts)
        channel_id, ts = await self._post(op, in_doubt, channel, None, text, blocks)
        return Done(
            f"posted the attendee message of {facts.contact_name} to {channel_id}",
            functools.partial(
                slack_store.set_thread_posted, conversation=conversation, channel=channel_id, ts=ts
            ),
        )

    async def _do_reply(self, op: Op, in_doubt: bool) -> Done:
        conversation, seq = _conversation(op), _seq(op)
        thread = await self._thread(op)
        text = await self._store.read(
            functools.partial(slack_plan.message_text, conversation=conversation, seq=seq)
        )
        if text is None:
            return Done(f"message {seq} was deleted before it was mirrored", quiet=True)
        assert thread.channel_id is not None
        channel_id, ts = await self._post(op, in_doubt, thread.channel_id, thread.thread_ts, text)
        return Done(
            f"mirrored message {seq} into the thread",
            functools.partial(
                slack_store.record_message,
                channel=channel_id,
                ts=ts,
                conversation=conversation,
                seq=seq,
                origin="out",
            ),
        )

    async def _do_update(self, op: Op, in_doubt: bool) -> Done:
        if await self._store.read(functools.partial(slack_store.later_update_queued, op=op)):
            return Done("superseded by a later update", quiet=True)
        thread = await self._thread(op)
        chatting = await self._store.read(
            functools.partial(slack_store.parent_chatting, conversation=_conversation(op))
        )
        facts = await self._store.read(
            functools.partial(
                slack_plan.parent_facts,
                conversation=_conversation(op),
                base_url=self._base_url(),
                chatting=chatting,
            )
        )
        if facts is None:
            return Done("nothing to update", quiet=True)
        text, blocks = parent_message(facts)
        await self._pacer.wait(op.lane)
        await self._call(
            "chat.update", channel=thread.channel_id, ts=thread.thread_ts, text=text, blocks=blocks
        )
        return Done(f"updated the attendee message (status {facts.status})")

    async def _do_edit(self, op: Op, in_doubt: bool) -> Done:
        conversation, seq = _conversation(op), _seq(op)
        copy = await self._store.read(
            functools.partial(slack_store.slack_message, conversation=conversation, seq=seq)
        )
        text = await self._store.read(
            functools.partial(slack_plan.message_text, conversation=conversation, seq=seq)
        )
        if copy is None or copy[2] != "out" or text is None:
            return Done(f"message {seq} has no copy of ours in Slack", quiet=True)
        await self._pacer.wait(op.lane)
        await self._call("chat.update", channel=copy[0], ts=copy[1], text=text)
        return Done(f"edited the copy of message {seq}")

    async def _do_delete(self, op: Op, in_doubt: bool) -> Done:
        conversation, seq = _conversation(op), _seq(op)
        copy = await self._store.read(
            functools.partial(slack_store.slack_message, conversation=conversation, seq=seq)
        )
        if copy is None or copy[2] != "out":
            return Done(f"message {seq} has no copy of ours in Slack", quiet=True)
        await self._pacer.wait(op.lane)
        try:
            await self._call("chat.delete", channel=copy[0], ts=copy[1])
        except SlackCallError as exc:
            if exc.code != "message_not_found":
                raise
        return Done(f"deleted the copy of message {seq}")

    async def _do_react(self, op: Op, in_doubt: bool) -> Done:
        conversation, seq = _conversation(op), _seq(op)
        copy = await self._store.read(
            functools.partial(slack_store.slack_message, conversation=conversation, seq=seq)
        )
        if copy is None:
            return Done(f"message {seq} is not in Slack; no mark added", quiet=True)
        name = str(op.payload.get("name", "email"))
        try:
            await self._call("reactions.add", channel=copy[0], timestamp=copy[1], name=name)
        except SlackCallError as exc:
            if exc.code != "already_reacted":
                raise
        return Done(f"marked message {seq} with :{name}: (sent by email)")

    # -- helpers ------------------------------------------------------------------------

    async def _thread(self, op: Op) -> slack_store.Thread:
        thread = await self._store.read(
            functools.partial(slack_store.get_thread, conversation=_conversation(op))
        )
        if thread is None or thread.thread_ts is None or thread.channel_id is None:
            raise SlackCallError("chat.postMessage", "thread_not_found", Disposition.FAIL)
        return thread

    async def _post(
        self,
        op: Op,
        in_doubt: bool,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> tuple[str, str]:
        """Post once: adopt an earlier attempt that reached Slack, else post now."""
        channel = await self._channel_id(channel)
        if in_doubt:
            found = await self._find_posted(channel, thread_ts, op)
            if found is not None:
                log.info("slack.adopted key=%s ts=%s", op.key, found)
                return channel, found
        await self._pacer.wait(op.lane)
        await self._store.write(
            functools.partial(slack_store.start_attempt, op_id=op.id, in_doubt=True)
        )
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "metadata": {"event_type": METADATA_TYPE, "event_payload": {"key": op.key}},
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts is not None:
            params["thread_ts"] = thread_ts
        if blocks is not None:
            params["blocks"] = blocks
        answer = await self._call("chat.postMessage", **params)
        return str(answer.get("channel") or channel), str(answer["ts"])

    async def _find_posted(self, channel: str, thread_ts: str | None, op: Op) -> str | None:
        """The ts of a message carrying ``op``'s key in the thread (or channel), if any."""
        oldest = op.created_at / 1000 - LOOKUP_SLACK
        cursor = ""
        while True:
            params: dict[str, Any] = {
                "channel": channel, "limit": LOOKUP_PAGE, "include_all_metadata": True,
            }  # fmt: skip
            if cursor:
                params["cursor"] = cursor
            if thread_ts is not None:
                answer = await self._call("conversations.replies", ts=thread_ts, **params)
            else:
                answer = await self._call("conversations.history", **params)
            messages = answer.get("messages") or []
            for message in messages:
                metadata = message.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("key") == op.key:
                    return str(message["ts"])
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            too_old = thread_ts is None and any(float(m["ts"]) < oldest for m in messages)
            if not cursor or too_old:
                return None

    async def _channel_id(self, channel: str) -> str:
        """A channel id for a channel given by id or name (looked up once, then cached)."""
        name = channel.removeprefix("#")
        if _CHANNEL_ID.match(name):
            return name
        if name not in self._channel_ids:
            found = await self._find_channel(name)
            if found is None:
                raise SlackCallError("conversations.list", "channel_not_found", Disposition.HOLD)
            self._channel_ids[name] = str(found["id"])
        return self._channel_ids[name]

    async def _find_channel(self, name: str) -> dict[str, Any] | None:
        cursor = ""
        while True:
            params: dict[str, Any] = {
                "types": "public_channel,private_channel", "limit": 1000,
            }  # fmt: skip
            if cursor:
                params["cursor"] = cursor
            answer = await self._call("conversations.list", **params)
            for channel in answer.get("channels") or []:
                if channel.get("name") == name:
                    return dict(channel)
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None

    async def _channel_for(self, lane: str) -> str:
        """The channel of a new thread in ``lane`` (creating a webinar's channel if needed)."""
        if lane == CHANNEL_LANE:
            channel = self._config().channel
            if not channel:
                raise SlackCallError("chat.postMessage", "no_channel", Disposition.HOLD)
            return channel
        context = lane.removeprefix("webinar:")
        # One creation at a time: two webinars of the same name must not both take the
        # channel the other one is just creating (name_taken, then adopted).
        async with self._creating:
            existing = await self._store.read(
                functools.partial(slack_store.webinar_channel, context=context)
            )
            return existing if existing is not None else await self._create_channel(context)

    async def _create_channel(self, context: str) -> str:
        """Create (or adopt, after name_taken) the webinar's channel and invite moderators."""
        title, emails = await self._store.read(
            functools.partial(slack_store.webinar_for_channel, context=context)
        )
        prefix = self._config().channel_prefix
        for attempt in range(1, NAME_ATTEMPTS + 1):
            name = channel_name(prefix, title, "" if attempt == 1 else f"-{attempt}")
            try:
                answer = await self._call("conversations.create", name=name, is_private=False)
                channel = str(answer["channel"]["id"])
                break
            except SlackCallError as exc:
                if exc.code != "name_taken":
                    raise
            # Taken: by us before a crash (adopt it), by another webinar's channel or an
            # archived one (try the next name), or by a channel people made (adopt it).
            found = await self._find_channel(name)
            if found is None or found.get("is_archived"):
                continue
            owner = await self._store.read(
                functools.partial(slack_store.channel_owner, channel=str(found["id"]))
            )
            if owner is not None and owner != context:
                continue
            channel = str(found["id"])
            if not found.get("is_member"):
                await self._call("conversations.join", channel=channel)
            break
        else:
            raise SlackCallError("conversations.create", "name_taken", Disposition.HOLD)
        await self._store.write(
            functools.partial(
                slack_store.save_webinar_channel, context=context, channel=channel, name=name
            )
        )
        invited = await self._invite(channel, emails)
        await self._log(
            Activity(
                "slack", "info", "conversations.create",
                f"channel #{name} for webinar {title!r}; invited {invited} of "
                f"{len(emails)} moderator(s)", ref=channel,
            )
        )  # fmt: skip
        return channel

    async def _invite(self, channel: str, emails: list[str]) -> int:
        """Invite the moderators who have a Slack account with their email."""
        invited = 0
        for email in emails:
            while True:
                try:
                    user = await self._call("users.lookupByEmail", email=email)
                    await self._call(
                        "conversations.invite", channel=channel, users=user["user"]["id"]
                    )
                    invited += 1
                except SlackCallError as exc:
                    if exc.retry_after is not None:
                        await trio.sleep(exc.retry_after)
                        continue
                    if exc.code == "already_in_channel":
                        invited += 1
                    else:
                        await self._log(
                            Activity(
                                "slack", "warning", "conversations.invite",
                                f"could not invite moderator {email}: {exc.code}",
                                ref=channel, code=exc.code,
                                hint="Give the moderator a Slack account with the same email "
                                "as in Switchboard, or invite them to the channel by hand.",
                            )
                        )  # fmt: skip
                break
        return invited


def _conversation(op: Op) -> str:
    assert op.conversation is not None, op
    return op.conversation


def _seq(op: Op) -> int:
    assert op.seq is not None, op
    return op.seq
