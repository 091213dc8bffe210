"""Webhook SQL and pure helpers: signing (checked with the standardwebhooks reference
library), the retry schedule, Retry-After, and deliveries keyed by (event, endpoint)."""

from __future__ import annotations

import base64
import functools
import sqlite3
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from actors import webhook_store
from actors.consumer import read_events
from actors.directory import Conflict
from actors.records import NotFound
from actors.store import Store, StoredEvent, Tx
from actors.webhook_dispatcher import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    MAX_RETRY_AFTER,
    parse_retry_after,
    retry_delay,
)
from actors.webhook_store import Attempt, Endpoint
from tests.actors.conftest import new_conversation


def test_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    secrets = {webhook_store.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_signatures_verify_with_the_reference_library() -> None:
    secret = webhook_store.new_secret()
    body = '{"type":"message.posted","data":{"body":"héllo"}}'
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": webhook_store.sign(secret, "msg_1", now, body),
    }
    assert Webhook(secret).verify(body, headers) == {
        "type": "message.posted",
        "data": {"body": "héllo"},
    }
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, tz=UTC), body)
    assert headers["webhook-signature"] == reference
    for changed in ({"webhook-id": "msg_2"}, {"webhook-timestamp": str(now - 1)}):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, {**headers, **changed})
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_store.new_secret()).verify(body, headers)


def test_retry_delays_grow_exponentially_with_jitter() -> None:
    ids = [f"msg_{n}" for n in range(50)]
    for failures in range(1, 12):
        ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (failures - 1))
        delays = [retry_delay(i, failures) for i in ids]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), failures
        assert len(set(delays)) > 40  # the deliveries of one outage spread out
    assert retry_delay("msg_x", 3) == retry_delay("msg_x", 3)  # one delivery: predictable


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("99999", MAX_RETRY_AFTER),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    seconds = parse_retry_after(formatdate(time.time() + 120, usegmt=True))
    assert seconds is not None
    assert 115 <= seconds <= 121
    assert parse_retry_after(formatdate(time.time() - 120, usegmt=True)) == 0.0


# -- with a database ------------------------------------------------------------------------


async def _create(store: Store, event_types: list[str], enabled: bool = True) -> Endpoint:
    return await store.write(
        functools.partial(
            webhook_store.create_endpoint,
            url="http://127.0.0.1:9/hook",
            description="",
            event_types=event_types,
            enabled=enabled,
            auth_header=None,
        )
    )


async def _events(store: Store) -> list[StoredEvent]:
    events: list[StoredEvent] = await store.read(
        functools.partial(read_events, after=0, limit=1000)
    )
    return events


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0])


async def test_a_delivery_per_event_and_endpoint_once(store: Store) -> None:
    await new_conversation(store, "Early")  # before the endpoints: never delivered
    everything = await _create(store, ["*"])
    created_only = await _create(store, ["conversation.created"])
    off = await _create(store, ["*"], enabled=False)
    await new_conversation(store, "Ann")
    endpoints = await store.read(functools.partial(webhook_store.list_endpoints, enabled_only=True))
    events = await _events(store)
    first = await store.write(
        functools.partial(webhook_store.plan_deliveries, events=events, endpoints=endpoints)
    )
    again = await store.write(
        functools.partial(webhook_store.plan_deliveries, events=events, endpoints=endpoints)
    )
    due = await store.read(functools.partial(webhook_store.due_deliveries, limit=100))
    assert [e.id for e in endpoints] == [everything.id, created_only.id]
    assert off.id not in {d.endpoint_id for d in due}
    late = [e for e in events if e.id > everything.after_event]
    assert first == len(late) + sum(e.type == "conversation.created" for e in late)
    assert again == 0
    assert await store.read(_count) == first
    assert len({d.id for d in due}) == first
    assert all(d.id.startswith("msg_") for d in due)


async def test_attempts_move_a_delivery_and_redeliver_queues_it_again(store: Store) -> None:
    endpoint = await _create(store, ["*"])
    await new_conversation(store)
    events = await _events(store)
    await store.write(
        functools.partial(webhook_store.plan_deliveries, events=events, endpoints=[endpoint])
    )
    (delivery,) = await store.read(functools.partial(webhook_store.due_deliveries, limit=10))
    redeliver = functools.partial(
        webhook_store.redeliver, endpoint_id=endpoint.id, delivery_id=delivery.id
    )
    with pytest.raises(Conflict, match="still pending"):
        await store.write(redeliver)
    retry = Attempt(1, endpoint.url, 12, "retry", 503, "busy", "answered 503", 9.5)
    failed = Attempt(2, endpoint.url, 3, "failed", 400, "no", "answered 400")
    for attempt in (retry, failed):
        await store.write(
            functools.partial(
                webhook_store.record_attempt, delivery_id=delivery.id, attempt=attempt
            )
        )
    after = await store.read(functools.partial(webhook_store.get_delivery, delivery_id=delivery.id))
    queued = await store.write(redeliver)
    with pytest.raises(NotFound):
        await store.write(
            functools.partial(webhook_store.redeliver, endpoint_id=endpoint.id, delivery_id="x")
        )

    def disable(tx: Tx) -> None:
        webhook_store.disable_endpoint(tx, endpoint.id, "gone")
        webhook_store.record_attempt(tx, delivery.id, failed)

    await store.write(disable)
    with pytest.raises(Conflict, match="disabled"):
        await store.write(redeliver)
    (log,) = await store.read(
        functools.partial(
            webhook_store.list_deliveries, endpoint_id=endpoint.id, state=None, limit=5, before=None
        )
    )
    assert after is not None
    assert (after.state, after.attempts, after.error) == ("failed", 2, "answered 400")
    assert (queued.state, queued.error, queued.attempts) == ("pending", None, 2)
    assert [a["outcome"] for a in log["attempt_log"]] == ["retry", "failed", "failed"]
    assert log["attempt_log"][0]["retry_in"] == 9.5
    assert log["response_status"] == 400


async def test_an_attempt_on_a_deleted_endpoint_records_nothing(store: Store) -> None:
    endpoint = await _create(store, ["*"])
    await new_conversation(store)
    events = await _events(store)
    await store.write(
        functools.partial(webhook_store.plan_deliveries, events=events, endpoints=[endpoint])
    )
    (delivery,) = await store.read(functools.partial(webhook_store.due_deliveries, limit=10))
    await store.write(functools.partial(webhook_store.delete_endpoint, endpoint_id=endpoint.id))
    late = Attempt(1, endpoint.url, 5000, "delivered", 200, "ok")
    recorded = await store.write(
        functools.partial(webhook_store.record_attempt, delivery_id=delivery.id, attempt=late)
    )
    assert recorded is False
    assert await store.read(_count) == 0
    with pytest.raises(NotFound):
        await store.write(functools.partial(webhook_store.delete_endpoint, endpoint_id=endpoint.id))
