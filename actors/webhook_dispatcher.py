"""WebhookDispatcher: signed deliveries of event-log events to subscribed endpoints.

An event-log consumer (DESIGN.md sections 3 and 5), in two halves like the mailer:

- ``handle`` stores one delivery per (event, enabled endpoint that wants it), keyed so a
  repeat of the event (at-least-once consumers, a replayed log) stores nothing new; the
  cursor moves only after the rows are committed.
- ``run`` sends pending deliveries (up to :data:`MAX_IN_FLIGHT` at once) with httpx,
  signed per the Standard Webhooks spec: ``webhook-id`` (the delivery id, the same on
  every attempt), ``webhook-timestamp`` and ``webhook-signature``. Each attempt is
  logged (status, body excerpt, duration) and times out after :data:`TIMEOUT` seconds.

Recipe webhook actions store their deliveries themselves (actors/recipe_actions.py) and
wake the dispatcher through ``system.wake_webhooks``. Their endpoints may use GET (the
payload's top-level fields as query parameters, the empty body signed) or a form body
(the same fields form-encoded, signed as sent): see :func:`request_parts`.

Error handling: timeouts, connection errors, 5xx and 429 are retried with exponential
backoff and jitter (a 429 or 503 waits its ``Retry-After`` instead); after
:data:`MAX_ATTEMPTS` attempts the delivery is ``failed``. A 410 Gone fails the delivery
and disables the endpoint, with the reason stored on it. Any other answer (3xx: no
redirect is followed; 4xx) fails the delivery at once, and so does a URL the SSRF guard
refuses (actors/ssrf.py), checked again at every connection. Failed deliveries stay in
the log until they are redelivered (``webhook_store.redeliver``, then :meth:`wake`). A
restart resumes pending deliveries at once, with a fresh retry budget (the attempt
numbers go on).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import trio

from actors import ssrf, webhook_store
from actors.store import StoredEvent, StoreError, Tx
from actors.system import System
from actors.webhook_store import Attempt, Delivery, Endpoint

log = logging.getLogger(__name__)

#: Seconds one attempt may take, connection and answer included (the issue's 10 s).
TIMEOUT = 10.0
#: Attempts of one delivery before it is failed: with the backoff below the last one is
#: at most about 21 minutes (1270 s) after the first.
MAX_ATTEMPTS = 8
#: Backoff after the n-th failure: BACKOFF_BASE * 2**(n-1) seconds (at most BACKOFF_MAX),
#: of which a random-looking half or more is waited ("equal jitter").
BACKOFF_BASE = 10.0
BACKOFF_MAX = 3600.0
#: Longest Retry-After honoured; a receiver asking for more is retried after this.
MAX_RETRY_AFTER = 3600.0
#: Deliveries sent at once (each holds a connection).
MAX_IN_FLIGHT = 16
#: Bytes of a response body read for the log; the rest is never downloaded.
EXCERPT_BYTES = 1024
USER_AGENT = "Switchboard-Webhooks/1"
#: Answers that mean "try again later".
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
FORM = "application/x-www-form-urlencoded"


def _field_value(value: Any) -> str:
    """A top-level payload field as a query or form value: strings as they are, anything
    else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def request_parts(endpoint: Endpoint, body: str) -> tuple[str, str | None]:
    """The URL and the body to send for a delivery's stored JSON ``body``.

    POST JSON sends the stored body; POST form-encoded its top-level fields; GET sends no
    body and appends the fields to the URL's query. The signature covers the body sent
    (the empty string for GET).
    """
    if endpoint.method == "POST" and endpoint.content_type != FORM:
        return endpoint.url, body
    payload = json.loads(body)
    pairs = [(str(k), _field_value(v)) for k, v in payload.items()]
    encoded = urlencode(pairs)
    if endpoint.method == "POST":
        return endpoint.url, encoded
    parts = urlsplit(endpoint.url)
    query = f"{parts.query}&{encoded}" if parts.query and encoded else parts.query or encoded
    return urlunsplit(parts._replace(query=query)), None


def retry_delay(delivery_id: str, failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt of a delivery.

    Exponential with jitter. The jitter is derived from the delivery id, not drawn: the
    deliveries of one outage still spread out (their ids differ), and the schedule of one
    delivery can be told (and tested) exactly.
    """
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (failures - 1))
    digest = hashlib.sha256(f"{delivery_id}:{failures}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return round(ceiling * (0.5 + 0.5 * fraction), 3)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), within 0..MAX."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


class WebhookDispatcher:
    """The webhook consumer and sender (see module docstring).

    Args:
        system: the running System; ``system.add_consumer(dispatcher)`` before it runs,
            and run :meth:`run` under its supervisor.
        allow_private: the setting ``webhook_allow_private_targets``.
    """

    name = "webhooks"
    live_only = False

    def __init__(self, system: System, *, allow_private: bool = False) -> None:
        self._store = system.store
        self.allow_private = allow_private
        self._wake = trio.Event()
        self._client: httpx.AsyncClient | None = None
        # Recipe runs wake the dispatcher through the system.
        system.wake_webhooks = self.wake

    def wake(self) -> None:
        """Look for pending deliveries now (after a redeliver or an endpoint change)."""
        self._wake.set()

    # -- the consumer --------------------------------------------------------------------------

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        """Store the deliveries of ``events`` (committed before the cursor moves)."""
        endpoints = await self._store.read(
            functools.partial(webhook_store.list_endpoints, enabled_only=True)
        )
        wanted = [e for e in events if any(ep.wants(e) for ep in endpoints)]
        if not wanted:
            return
        try:
            added = await self._store.write(
                functools.partial(webhook_store.plan_deliveries, events=wanted, endpoints=endpoints)
            )
        except StoreError:
            raise  # the database is in trouble: restart from the cursor
        except Exception:
            # A bug here must not crash-loop the consumer (and escalate to the server).
            log.exception("webhooks.plan_failed events=%d..%d", wanted[0].id, wanted[-1].id)
            return
        if added:
            self.wake()

    # -- the sender ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send pending deliveries until cancelled."""
        in_flight: set[str] = set()
        async with (
            ssrf.guarded_client(allow_private=self.allow_private, timeout=TIMEOUT) as client,
            trio.open_nursery() as nursery,
        ):
            self._client = client
            task_status.started()
            while True:
                self._wake = trio.Event()
                room = MAX_IN_FLIGHT - len(in_flight)
                if room > 0:
                    due = await self._store.read(
                        functools.partial(webhook_store.due_deliveries, limit=room + len(in_flight))
                    )
                    for delivery in due:
                        if delivery.id not in in_flight and len(in_flight) < MAX_IN_FLIGHT:
                            in_flight.add(delivery.id)
                            nursery.start_soon(self._delivery_task, delivery, in_flight)
                await self._wake.wait()

    async def _delivery_task(self, delivery: Delivery, in_flight: set[str]) -> None:
        try:
            await self._deliver(delivery)
        except Exception as exc:
            # A bug must not take the other deliveries down: fail this one, visibly.
            log.exception("webhooks.delivery_crashed id=%s", delivery.id)
            attempt = Attempt(delivery.attempts, "", 0, "failed", error=f"internal error: {exc!r}")
            try:
                await self._store.write(
                    functools.partial(
                        webhook_store.record_attempt, delivery_id=delivery.id, attempt=attempt
                    )
                )
            except Exception:
                log.exception("webhooks.delivery_unrecorded id=%s", delivery.id)
        finally:
            in_flight.discard(delivery.id)
            self.wake()

    async def _deliver(self, delivery: Delivery) -> None:
        """Attempt one delivery until it is delivered, failed, or its endpoint stops."""
        failures = 0
        number = delivery.attempts
        while True:
            endpoint = await self._store.read(
                functools.partial(webhook_store.get_endpoint, endpoint_id=delivery.endpoint_id)
            )
            current = await self._store.read(
                functools.partial(webhook_store.get_delivery, delivery_id=delivery.id)
            )
            if endpoint is None or not endpoint.enabled or current is None:
                return  # deleted, or disabled: it waits (pending) until enabled again
            if current.state != "pending":
                return
            number += 1
            attempt, retry_after = await self._attempt(endpoint, delivery, number)
            delay: float | None = None
            if attempt.outcome == "retry":
                failures += 1
                if failures >= MAX_ATTEMPTS:
                    error = f"{attempt.error}; gave up after {failures} attempts"
                    attempt = dataclasses.replace(attempt, outcome="failed", error=error)
                else:
                    delay = (
                        retry_delay(delivery.id, failures) if retry_after is None else retry_after
                    )
                    attempt = dataclasses.replace(attempt, retry_in=delay)
            log.info(
                "webhooks.attempt id=%s endpoint=%s n=%d status=%s outcome=%s",
                delivery.id, endpoint.id, number, attempt.response_status, attempt.outcome,
            )  # fmt: skip
            await self._store.write(
                functools.partial(
                    self._settle, endpoint=endpoint, delivery=delivery, attempt=attempt
                )
            )
            if delay is None:
                return
            await trio.sleep(delay)

    @staticmethod
    def _settle(tx: Tx, endpoint: Endpoint, delivery: Delivery, attempt: Attempt) -> None:
        webhook_store.record_attempt(tx, delivery.id, attempt)
        if attempt.outcome == "disabled":
            when = datetime.fromtimestamp(tx.now_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
            webhook_store.disable_endpoint(
                tx,
                endpoint.id,
                f"disabled on {when}: the endpoint answered 410 Gone to delivery {delivery.id} "
                "(the receiver says it is gone); enable it again once it accepts deliveries",
            )

    async def _attempt(
        self, endpoint: Endpoint, delivery: Delivery, number: int
    ) -> tuple[Attempt, float | None]:
        """Send once; return the logged outcome and the Retry-After (seconds) if any."""
        assert self._client is not None, "run() has not started"
        timestamp = int(time.time())  # wall clock: receivers compare it with theirs
        url, body = request_parts(endpoint, delivery.body)
        headers = {
            "user-agent": USER_AGENT,
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_store.sign(
                endpoint.secret, delivery.id, timestamp, body or ""
            ),
        }
        if body is not None:
            headers["content-type"] = endpoint.content_type
        if endpoint.auth_header:
            headers["authorization"] = endpoint.auth_header
        started = trio.current_time()

        def done(
            outcome: str, error: str | None, status: int | None = None, excerpt: str | None = None
        ) -> Attempt:
            ms = round((trio.current_time() - started) * 1000)
            return Attempt(number, endpoint.url, ms, outcome, status, excerpt, error)

        try:
            ssrf.parse_url(endpoint.url)
            with trio.fail_after(TIMEOUT):
                async with self._client.stream(
                    endpoint.method,
                    url,
                    content=None if body is None else body.encode(),
                    headers=headers,
                ) as response:
                    excerpt = await _excerpt(response)
        except ssrf.TargetRefused as exc:
            return done("failed", f"refused by the SSRF guard: url {exc}"), None
        except (trio.TooSlowError, httpx.TimeoutException):
            return done("retry", f"no answer within {TIMEOUT:g} s"), None
        except httpx.TransportError as exc:
            return done("retry", f"connection failed: {exc!r}"), None
        status = response.status_code
        if 200 <= status < 300:
            return done("delivered", None, status, excerpt), None
        if status == 410:
            return done("disabled", "410 Gone: the endpoint was disabled", status, excerpt), None
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return done("retry", f"answered {status}", status, excerpt), retry_after
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            error = f"answered {status} (redirect to {where!r}): redirects are not followed"
            return done("failed", error, status, excerpt), None
        return done("failed", f"answered {status}", status, excerpt), None


async def _excerpt(response: httpx.Response) -> str:
    """The start of the body (at most EXCERPT_BYTES are downloaded)."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    return bytes(data[:EXCERPT_BYTES]).decode("utf-8", "replace")
