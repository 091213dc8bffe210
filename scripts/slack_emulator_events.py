"""Events API side of the Slack emulator (part of scripts/slack_emulator.py).

Human actions (post, edit, delete through the control API) and the bot's own changes
produce ``event_callback`` envelopes; :class:`EventsState` queues them and delivers them
signed to the configured loopback request URL, with Slack's timeout and retries, and
can replay an event or send a ``url_verification`` challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx
import trio
from slack_emulator_models import (
    Attempt,
    Channel,
    Delivery,
    Emitted,
    Json,
    Message,
    SlackError,
    _Job,
    _rich_text_block,
    require_loopback_url,
)
from slack_emulator_state import WorkspaceState

logger = logging.getLogger(__name__)


def sign_request(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's ``X-Slack-Signature`` for a request body sent at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class EventsState(WorkspaceState):
    """The workspace plus its Events API: human actions, the outbox and delivery.

    Event delivery is the only asynchronous part; :func:`slack_emulator.serve` runs it
    (or a test runs :meth:`run_deliveries`).
    """

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
