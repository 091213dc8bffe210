"""SlackBridge: one Slack parent message and thread per attendee, mirrored both ways.

Two halves, both durable:

- **Out** (an event-log consumer, DESIGN.md sections 3 and 5): ``handle`` turns events
  into keyed rows of ``slack_ops`` in one transaction (so the cursor only moves past
  events whose operations are stored), then the bridge's lanes carry them out: one task
  per lane (a channel), operations strictly in order, posts paced to about one a second,
  429s wait their Retry-After, 5xx and timeouts back off and retry. Errors a person must
  fix (``not_in_channel``, ``invalid_auth``...) *hold* the lane, visibly in the activity
  log with the fix in plain words, until :meth:`SlackBridge.redrive`.
- **In**: ``/slack/events`` stores each verified event once (:meth:`accept`) and answers
  Slack at once; the inbox loop then applies it (actors/slack_inbound.py).

A restart resumes both from the database: the event cursor, the queued operations (an
operation cut off mid-call is looked up in Slack before it is posted again), the inbox.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import Any

import trio

from actors import slack_store
from actors.integration_store import Activity, log_activity
from actors.slack_client import (
    THREADS,
    UNREACHABLE_HINT,
    Disposition,
    Pacer,
    SlackCallError,
    SlackClient,
)
from actors.slack_inbound import Inbound
from actors.slack_outbound import Outbound
from actors.slack_plan import plan_events
from actors.slack_store import Op, SlackConfig
from actors.store import StoredEvent, Tx
from actors.system import System

log = logging.getLogger(__name__)

#: Retryable failures (5xx, timeouts) of one operation before it is held for a re-drive;
#: with the backoff below that is about six minutes (367 s) of Slack being unreachable.
MAX_ATTEMPTS = 10
#: Backoff after the n-th failure: BACKOFF_BASE * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF_BASE = 1.0
BACKOFF_MAX = 120.0
#: Handled inbox events are kept this long to refuse Slack's retries of them (Slack
#: retries for about five minutes).
INBOX_KEEP_MS = 24 * 3600 * 1000
#: Inbox events read per pass.
INBOX_BATCH = 100
#: Attempts at applying one incoming event before it is logged as failed and dropped.
INBOX_ATTEMPTS = 5
#: Event types the planner looks at.
PLANNED = frozenset(
    {
        "conversation.created",
        "conversation.updated",
        "message.posted",
        "message.edited",
        "message.deleted",
    }
)


def backoff(failures: int) -> float:
    """Seconds to wait after the ``failures``-th retryable failure in a row."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (failures - 1))


class SlackBridge:
    """The Slack bridge of one workspace (see module docstring).

    Args:
        system: the running System; ``system.add_consumer(bridge)`` before it runs, and
            run :meth:`run` (the lanes and the inbox) under its supervisor.
        defaults: settings from the environment; values saved over REST win.
        post_interval: seconds between posts in one channel.
        timeout: seconds per Slack Web API call.
    """

    name = "slack"
    live_only = False

    def __init__(
        self,
        system: System,
        defaults: SlackConfig,
        *,
        post_interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self._system = system
        self._store = system.store
        self.defaults = defaults
        self.config = defaults
        #: The server's public URL, for the "Reply in chat" button (set once it is bound).
        self.base_url = "http://127.0.0.1:8080"
        self.pacer = Pacer(post_interval)
        self._timeout = timeout
        self._limiter = trio.CapacityLimiter(THREADS)
        self._client: SlackClient | None = None
        self._loaded = False
        self._wake = trio.Event()
        self._inbox_wake = trio.Event()
        self._lanes: set[str] = set()
        self.outbound = Outbound(
            self._store, self.pacer, self.client, lambda: self.config,
            lambda: self.base_url, self._log_activity,
        )  # fmt: skip
        self.inbound = Inbound(system, self.client, lambda: self.config, self._log_activity)

    # -- settings and client ------------------------------------------------------------

    async def reload(self) -> SlackConfig:
        """Read the settings again (after a change over REST) and wake the lanes."""
        config = await self._store.read(
            functools.partial(slack_store.load_config, defaults=self.defaults)
        )
        self.config = config
        self._loaded = True
        self.wake()
        return config

    def client(self) -> SlackClient:
        """The Web API client for the current token and URL (rebuilt when they change)."""
        config = self.config
        client = self._client
        if client is None or (client.token, client.base_url) != (config.bot_token, config.api_url):
            client = SlackClient(
                config.bot_token, config.api_url, timeout=self._timeout, limiter=self._limiter
            )
            self._client = client
        return client

    def wake(self) -> None:
        self._wake.set()

    async def _log_activity(self, entry: Activity) -> None:
        await self._store.write(functools.partial(log_activity, entry=entry))

    # -- out: the consumer ----------------------------------------------------------------

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        """Plan the Slack operations of ``events`` (stored before the cursor moves)."""
        if not self._loaded:
            await self.reload()
        config = self.config
        if not config.enabled:
            return
        relevant = [e for e in events if e.type in PLANNED]
        if not relevant:
            return
        try:
            added = await self._store.write(
                functools.partial(plan_events, events=relevant, cfg=config)
            )
        except Exception as exc:
            # A bug here must not crash-loop the consumer (and escalate to the whole
            # server): log it where admins look, and go on with the next events.
            log.exception("slack.plan_failed events=%d..%d", relevant[0].id, relevant[-1].id)
            await self._log_activity(
                Activity(
                    "slack", "error", "plan", f"events {relevant[0].id}..{relevant[-1].id} "
                    f"were not mirrored: {exc!r}", code="internal_error",
                    hint="See the server log and report the error.",
                )
            )  # fmt: skip
            return
        if added:
            self.wake()

    # -- out: the lanes ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Work off queued operations and incoming events until cancelled."""
        await self.reload()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._inbox_loop)
            task_status.started()
            while True:
                self._wake = trio.Event()
                if self.config.enabled:
                    for lane in await self._store.read(slack_store.runnable_lanes):
                        if lane not in self._lanes:
                            self._lanes.add(lane)
                            nursery.start_soon(self._lane, lane)
                await self._wake.wait()

    async def _lane(self, lane: str) -> None:
        try:
            while self.config.enabled:
                op = await self._store.read(functools.partial(slack_store.next_op, lane=lane))
                if op is None:
                    break
                await self._run_op(op)
        finally:
            self._lanes.discard(lane)
            self.wake()

    async def _run_op(self, op: Op) -> None:
        """Carry out one operation to its end: done, failed or held (retries in between)."""
        failures = 0
        in_doubt = op.in_doubt
        while True:
            try:
                done = await self.outbound.execute(op, in_doubt=in_doubt)
            except SlackCallError as exc:
                if exc.disposition is not Disposition.RETRY:
                    status = "held" if exc.disposition is Disposition.HOLD else "failed"
                    await self._settle(op, status, exc, exc.hint)
                    return
                in_doubt = in_doubt or exc.in_doubt
                if exc.retry_after is not None:
                    await self._note(op, exc, f"rate limited; waiting {exc.retry_after:g} s")
                    self.pacer.pause(op.lane, exc.retry_after)
                    await trio.sleep(exc.retry_after)
                    continue
                failures += 1
                if failures >= MAX_ATTEMPTS:
                    await self._settle(op, "held", exc, UNREACHABLE_HINT)
                    return
                delay = backoff(failures)
                await self._note(op, exc, f"attempt {failures} failed; retrying in {delay:g} s")
                await trio.sleep(delay)
                continue
            except Exception as exc:
                log.exception("slack.op_crashed key=%s", op.key)
                error = SlackCallError(op.kind, "internal_error", Disposition.FAIL)
                await self._settle(op, "failed", error, f"Unexpected error: {exc!r}; see the log.")
                return
            break

        def finish(tx: Tx) -> None:
            if done.finish is not None:
                done.finish(tx)
            slack_store.finish_op(tx, op.id, "done")
            if not done.quiet:
                log_activity(
                    tx,
                    Activity(
                        "slack", "info", op.kind, done.message,
                        conversation=op.conversation, ref=op.key,
                    ),
                )  # fmt: skip

        await self._store.write(finish)

    async def _note(self, op: Op, exc: SlackCallError, what: str) -> None:
        await self._log_activity(
            Activity(
                "slack", "warning", exc.method, f"{op.kind} {op.key}: {exc.code}; {what}",
                conversation=op.conversation, ref=op.key, code=exc.code,
            )
        )  # fmt: skip

    async def _settle(self, op: Op, status: str, exc: SlackCallError, hint: str | None) -> None:
        verb = "held until re-driven" if status == "held" else "failed"
        log.warning("slack.op_%s key=%s code=%s", status, op.key, exc.code)

        def write(tx: Tx) -> None:
            slack_store.finish_op(tx, op.id, status, error=exc.code)
            log_activity(
                tx,
                Activity(
                    "slack", "error", exc.method, f"{op.kind} {op.key} {verb}: {exc.code}",
                    conversation=op.conversation, ref=op.key, code=exc.code, hint=hint,
                ),
            )  # fmt: skip

        await self._store.write(write)

    async def redrive(self) -> int:
        """Queue every held operation again, in its old order; return how many."""

        def write(tx: Tx) -> int:
            count = slack_store.redrive(tx)
            log_activity(
                tx, Activity("slack", "info", "redrive", f"re-drove {count} held operation(s)")
            )
            return count

        count: int = await self._store.write(write)
        self.wake()
        return count

    async def status(self) -> dict[str, Any]:
        """Operation counts by status, for the console."""
        counts: dict[str, Any] = await self._store.read(slack_store.op_counts)
        return counts

    # -- in: Slack events -------------------------------------------------------------------

    async def accept(self, envelope: dict[str, Any]) -> bool:
        """Store a verified event callback once; False for a repeat (Slack's retries)."""
        event_id = str(envelope.get("event_id") or "")
        if not event_id:
            return False
        new: bool = await self._store.write(
            functools.partial(
                slack_store.accept_event,
                event_id=event_id,
                payload=json.dumps(envelope, separators=(",", ":")),
            )
        )
        if new:
            self._inbox_wake.set()
        return new

    async def _inbox_loop(self) -> None:
        while True:
            self._inbox_wake = trio.Event()
            events = await self._store.read(
                functools.partial(slack_store.pending_events, limit=INBOX_BATCH)
            )
            for event_id, envelope in events:
                await self._apply(event_id, envelope)
            if not events:
                await self._inbox_wake.wait()

    async def _apply(self, event_id: str, envelope: dict[str, Any]) -> None:
        for attempt in range(1, INBOX_ATTEMPTS + 1):
            try:
                outcome = await self.inbound.handle(envelope)
                log.debug("slack.event id=%s %s", event_id, outcome)
                break
            except Exception as exc:
                log.warning("slack.event_failed id=%s attempt=%d error=%r", event_id, attempt, exc)
                if attempt == INBOX_ATTEMPTS:
                    await self._log_activity(
                        Activity(
                            "slack", "error", "event", f"could not apply Slack event "
                            f"{event_id}: {exc!r}", ref=event_id, code="event_failed",
                            hint="See the server log; the reply has to be sent again.",
                        )
                    )  # fmt: skip
                else:
                    await trio.sleep(backoff(attempt))
        await self._store.write(
            functools.partial(slack_store.finish_event, event_id=event_id, keep_ms=INBOX_KEEP_MS)
        )
