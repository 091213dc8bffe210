"""Outgoing webhooks end to end: a real server delivers to a loopback receiver.

The receiver is a tiny quart-trio app on hypercorn (127.0.0.1, port 0) that records
every request and answers from a script (status, headers, body, or a hang). The server
runs with ``webhook_allow_private_targets`` on, as it must to call 127.0.0.1. Signatures
are checked with the ``standardwebhooks`` library, the reference implementation. Timing
tests run under MockClock(autojump_threshold=0.2) and assert exact virtual times.

The helpers here (Receiver, Hooks) are shared with test_webhooks_api.py.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trio
import trio.testing
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Response, request
from quart_trio import QuartTrio
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from actors.records import NewMessage
from actors.webhook_dispatcher import MAX_ATTEMPTS, TIMEOUT, retry_delay
from protocol.frames import Participant
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Seed

#: Real-time bound of a test on the real clock.
TIMEOUT_REAL = 60
#: Under MockClock the bound is virtual; autojump reaches it at once if the test hangs.
VIRTUAL_TIMEOUT = 24 * 3600
STAFF = Participant("staff", "us_hook", "Hook Tester")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.2 s of real idleness (sqlite runs in threads)."""
    return trio.testing.MockClock(autojump_threshold=0.2)


# -- the receiver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``hang`` seconds of silence first (a timeout)."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """A loopback webhook receiver that answers from ``script`` (then 200s)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.url = ""
        self._changed = trio.Event()
        app = QuartTrio(__name__)

        @app.route("/<path:path>", methods=["POST", "GET"])
        async def hook(path: str) -> Response:
            body = (await request.get_data()).decode()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.requests.append(Received(path, headers, body, trio.current_time()))
            self._changed.set()
            self._changed = trio.Event()
            reply = self.script.pop(0) if self.script else Reply()
            if reply.hang:
                await trio.sleep(reply.hang)
            return Response(reply.body, status=reply.status, headers=reply.headers)

        self.app = app

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        config = HypercornConfig()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.loglevel = "WARNING"
        binds: list[str] = []

        async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
            await hypercorn_serve(cast(Any, self.app), config, mode="asgi", task_status=task_status)

        async with trio.open_nursery() as nursery:
            binds = await nursery.start(run)
            self.url = binds[0].rstrip("/")
            task_status.started(self.url)

    async def wait_for(self, count: int) -> list[Received]:
        while len(self.requests) < count:
            await self._changed.wait()
        return self.requests


# -- a server that can be stopped and started on the same data dir -----------------------------


class Hooks:
    """One Switchboard server at a time, an admin token, a receiver."""

    def __init__(self, nursery: trio.Nursery, tmp_path: Path) -> None:
        self.nursery = nursery
        self.data_dir = tmp_path / "data"
        self.receiver = Receiver()
        self.running: Running | None = None
        self.admin_token = ""
        self.agent_token = ""
        self.context: dict[str, Any] = {}
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    async def start(self, *, allow_private: bool = True) -> Running:
        if not self.receiver.url:
            await self.nursery.start(self.receiver.serve)
        settings = Settings.from_mapping(
            {
                "port": 0,
                "host": "127.0.0.1",
                "data_dir": self.data_dir,
                "sqlite_synchronous": "NORMAL",
                "webhook_allow_private_targets": allow_private,
            }
        )
        self._stopped = trio.Event()
        running: Running = await self.nursery.start(self._serve, settings)
        self.running = running
        if not self.admin_token:
            seed = self.seed
            _, self.admin_token = await seed.staff_token("olga@example.com", "admin")
            _, self.agent_token = await seed.staff_token("mia@example.com", "agent")
            self.context = await seed.context("Launch Day")
        return running

    async def _serve(self, settings: Settings, *, task_status: trio.TaskStatus[Running]) -> None:
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                await serve(settings, task_status=task_status)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        assert self._scope is not None
        self._scope.cancel()
        await self._stopped.wait()
        self.running = None

    @property
    def seed(self) -> Seed:
        assert self.running is not None
        return Seed(self.running)

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        return self.seed.http(self.admin_token if token is None else token)

    async def subscribe(self, path: str = "hook", **body: Any) -> dict[str, Any]:
        body.setdefault("url", f"{self.receiver.url}/{path}")
        body.setdefault("event_types", ["*"])
        async with self.http() as http:
            response = await http.post("/api/v1/webhooks", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def attendee(self, name: str = "Ann") -> dict[str, Any]:
        """A new attendee: one ``conversation.created`` event."""
        return await self.seed.attendee(self.context["id"], name=name)

    async def reply(self, conversation: str, body: str) -> None:
        """A staff message: one ``message.posted`` event."""
        assert self.running is not None
        await self.running.state.system.post(
            NewMessage(conversation=conversation, author=STAFF, kind="message", body=body)
        )

    async def deliveries(self, webhook: str, **query: Any) -> list[dict[str, Any]]:
        async with self.http() as http:
            response = await http.get(f"/api/v1/webhooks/{webhook}/deliveries", params=query)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def until_state(self, delivery_id: str, state: str) -> dict[str, Any]:
        """Wait until a delivery reaches ``state`` (each check is a read in a thread)."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT state FROM webhook_deliveries WHERE id = ?", (delivery_id,)
            ).fetchone()
            return None if row is None else str(row[0])

        while await self.seed.store.read(read) != state:
            pass
        rows = await self.seed.store.read(
            functools.partial(_delivery_rows, delivery_id=delivery_id)
        )
        return rows

    async def until_handled(self) -> None:
        """Wait until the dispatcher has been handed every event in the log."""

        def behind(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT (SELECT MAX(id) FROM events) > "
                "COALESCE((SELECT event_id FROM cursors WHERE name = 'webhooks'), 0)"
            ).fetchone()
            return bool(row[0])

        while await self.seed.store.read(behind):
            pass

    async def sql(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return await self.seed.store.read(fn)


def _delivery_rows(conn: sqlite3.Connection, delivery_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT state, attempts, error FROM webhook_deliveries WHERE id = ?", (delivery_id,)
    ).fetchone()
    return {"state": row[0], "attempts": row[1], "error": row[2]}


def verify(secret: str, received: Received) -> Any:
    """The payload, if the signature verifies with the reference library."""
    return Webhook(secret).verify(received.body, received.headers)


# -- tests ---------------------------------------------------------------------------------------


async def test_deliveries_are_signed_per_standard_webhooks(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        webhook = await hooks.subscribe(
            event_types=["conversation.created", "message.posted"],
            authorization="Bearer s3cret-credentials-9876",
            description="CRM sync",
        )
        att = await hooks.attendee()
        await hooks.reply(att["conversation"], "Hello Ann")
        received = sorted(await hooks.receiver.wait_for(2), key=lambda r: r.headers["webhook-id"])
        for r in received:  # answered; the outcome is committed just after
            await hooks.until_state(r.webhook_id, "delivered")
        log = await hooks.deliveries(webhook["id"])
        async with hooks.http() as http:
            shown = (await http.get(f"/api/v1/webhooks/{webhook['id']}")).json()
    payloads = sorted((verify(webhook["secret"], r) for r in received), key=lambda p: p["event_id"])
    assert [p["type"] for p in payloads] == ["conversation.created", "message.posted"]
    assert payloads[0]["data"]["conversation"] == att["conversation"]
    assert payloads[1]["data"]["body"] == "Hello Ann"
    assert payloads[1]["timestamp"].endswith("Z")
    for r in received:
        assert r.path == "hook"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["authorization"] == "Bearer s3cret-credentials-9876"
        assert r.headers["webhook-signature"].startswith("v1,")
        # A tampered body or another secret does not verify.
        with pytest.raises(WebhookVerificationError):
            Webhook(webhook["secret"]).verify(r.body.replace("}", " }", 1), r.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(r.body, r.headers)
    assert webhook["secret"].startswith("whsec_")
    assert "secret" not in shown
    assert shown["authorization"] == "Bearer …9876"
    assert shown["deliveries"] == {"pending": 0, "delivered": 2, "failed": 0}
    assert {d["id"] for d in log} == {r.webhook_id for r in received}
    for entry in log:
        assert entry["state"] == "delivered"
        assert entry["attempts"] == 1
        assert entry["response_status"] == 200
        assert entry["response_excerpt"] == "ok"
        assert [a["outcome"] for a in entry["attempt_log"]] == ["delivered"]
        assert entry["request_body"] in {r.body for r in received}


async def test_retry_schedule_timeouts_and_retry_after(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        webhook = await hooks.subscribe(event_types=["conversation.created"])
        hooks.receiver.script = [
            Reply(503, "busy"),
            Reply(500, "oops"),
            Reply(hang=60),  # no answer: the 10 s timeout
            Reply(429, "slow down", headers={"Retry-After": "7"}),
            Reply(200, "thanks"),
        ]
        await hooks.attendee()
        received = await hooks.receiver.wait_for(5)
        delivery = await hooks.until_state(received[0].webhook_id, "delivered")
        log = (await hooks.deliveries(webhook["id"]))[0]
    ident = received[0].webhook_id
    d1, d2, d3 = (retry_delay(ident, n) for n in (1, 2, 3))
    t0 = received[0].at
    # Exact virtual times: backoff after the 503 and the 500, a 10 s timeout then backoff,
    # then the 429's Retry-After of 7 s.
    assert [r.at for r in received] == [
        t0,
        t0 + d1,
        t0 + d1 + d2,
        t0 + d1 + d2 + TIMEOUT + d3,
        t0 + d1 + d2 + TIMEOUT + d3 + 7,
    ]
    for n, d in enumerate((d1, d2, d3), start=1):
        assert 10 * 2 ** (n - 1) * 0.5 <= d <= 10 * 2 ** (n - 1)  # exponential, jittered
    assert {r.webhook_id for r in received} == {ident}  # stable across retries
    assert len({r.headers["webhook-timestamp"] for r in received}) >= 1
    for r in received:
        verify(webhook["secret"], r)  # every attempt is signed afresh
    assert delivery == {"state": "delivered", "attempts": 5, "error": None}
    attempts = log["attempt_log"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5]
    assert [a["response_status"] for a in attempts] == [503, 500, None, 429, 200]
    assert [a["outcome"] for a in attempts] == ["retry"] * 4 + ["delivered"]
    assert [a["retry_in"] for a in attempts] == [d1, d2, d3, 7.0, None]
    assert attempts[2]["error"] == "no answer within 10 s"
    assert attempts[2]["duration_ms"] == 10_000
    assert [a["response_excerpt"] for a in attempts] == [
        "busy", "oops", None, "slow down", "thanks",
    ]  # fmt: skip


async def test_exhausted_retries_end_failed_and_redeliver_sends_again(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        webhook = await hooks.subscribe(event_types=["conversation.created"])
        hooks.receiver.script = [Reply(502, "bad gateway")] * MAX_ATTEMPTS
        await hooks.attendee()
        received = list(await hooks.receiver.wait_for(MAX_ATTEMPTS))
        ident = received[0].webhook_id
        failed = await hooks.until_state(ident, "failed")
        async with hooks.http() as http:
            shown = (await http.get(f"/api/v1/webhooks/{webhook['id']}")).json()
            failed_only = (
                await http.get(
                    f"/api/v1/webhooks/{webhook['id']}/deliveries", params={"state": "failed"}
                )
            ).json()["items"]
            url = f"/api/v1/webhooks/{webhook['id']}/deliveries/{ident}/redeliver"
            again = await http.post(url)
            await hooks.receiver.wait_for(MAX_ATTEMPTS + 1)
            delivered = await hooks.until_state(ident, "delivered")
            twice = await http.post(url)  # a delivered one may be sent again too
            await hooks.receiver.wait_for(MAX_ATTEMPTS + 2)
            missing = await http.post(
                f"/api/v1/webhooks/{webhook['id']}/deliveries/msg_nope/redeliver"
            )
    t = received[0].at
    expected = [t]
    for n in range(1, MAX_ATTEMPTS):
        t += retry_delay(ident, n)
        expected.append(t)
    assert [r.at for r in received] == expected
    assert failed == {
        "state": "failed",
        "attempts": MAX_ATTEMPTS,
        "error": f"answered 502; gave up after {MAX_ATTEMPTS} attempts",
    }
    assert shown["deliveries"] == {"pending": 0, "delivered": 0, "failed": 1}
    assert [d["id"] for d in failed_only] == [ident]
    assert failed_only[0]["attempt_log"][-1]["outcome"] == "failed"
    assert again.status_code == 202, again.text
    assert again.json() == {"id": ident, "state": "pending", "attempts": MAX_ATTEMPTS}
    assert hooks.receiver.requests[MAX_ATTEMPTS].webhook_id == ident  # same id: dedupable
    assert delivered == {"state": "delivered", "attempts": MAX_ATTEMPTS + 1, "error": None}
    assert twice.status_code == 202
    assert missing.status_code == 404


async def test_410_disables_the_endpoint_until_enabled_again(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        webhook = await hooks.subscribe(event_types=["conversation.created"])
        hooks.receiver.script = [Reply(410, "no such hook")]
        first = await hooks.attendee("Ann")
        (gone,) = await hooks.receiver.wait_for(1)
        failed = await hooks.until_state(gone.webhook_id, "failed")
        async with hooks.http() as http:
            disabled = (await http.get(f"/api/v1/webhooks/{webhook['id']}")).json()
            refused = await http.post(
                f"/api/v1/webhooks/{webhook['id']}/deliveries/{gone.webhook_id}/redeliver"
            )
            while_off = await hooks.attendee("Bob")  # not delivered: the endpoint is off
            await hooks.until_handled()
            enabled = await http.patch(f"/api/v1/webhooks/{webhook['id']}", json={"enabled": True})
            after = await hooks.attendee("Cem")
            received = await hooks.receiver.wait_for(2)
            await hooks.until_state(received[1].webhook_id, "delivered")
    log = await hooks.deliveries(webhook["id"])
    assert failed["state"] == "failed"
    assert failed["error"] == "410 Gone: the endpoint was disabled"
    assert disabled["enabled"] is False
    assert "410 Gone" in disabled["disabled_reason"]
    assert gone.webhook_id in disabled["disabled_reason"]
    assert refused.status_code == 409
    assert "disabled" in refused.json()["error"]["message"]
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    conversations = [verify(webhook["secret"], r)["data"]["conversation"] for r in received]
    assert conversations == [first["conversation"], after["conversation"]]
    assert while_off["conversation"] not in {d["request_body"] for d in log}
    assert len(log) == 2
    assert log[1]["attempt_log"][0]["outcome"] == "disabled"
    assert log[1]["attempt_log"][0]["response_excerpt"] == "no such hook"


async def test_connection_errors_are_retried_and_redirects_not_followed(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        # A port nobody listens on: bind one, note it, close it.
        sock = trio.socket.socket()
        await sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
        sock.close()
        refused = await hooks.subscribe(
            url=f"http://127.0.0.1:{closed_port}/hook", event_types=["conversation.created"]
        )
        redirected = await hooks.subscribe(path="moved", event_types=["conversation.created"])
        hooks.receiver.script = [Reply(307, "", headers={"Location": "http://10.0.0.1/x"})]
        await hooks.attendee()
        (moved,) = await hooks.receiver.wait_for(1)
        redirect = await hooks.until_state(moved.webhook_id, "failed")
        # The refused one is retrying; point it at the receiver and it gets through.

        def first_attempt(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d "
                "ON d.id = a.delivery_id WHERE d.endpoint_id = ?",
                (refused["id"],),
            ).fetchone()
            return None if row is None else str(row[0])

        while (error := await hooks.sql(first_attempt)) is None:
            pass
        async with hooks.http() as http:
            await http.patch(
                f"/api/v1/webhooks/{refused['id']}", json={"url": f"{hooks.receiver.url}/fixed"}
            )
        received = await hooks.receiver.wait_for(2)
        await hooks.until_state(received[1].webhook_id, "delivered")
        log = (await hooks.deliveries(refused["id"]))[0]
    assert redirect["error"] == (
        "answered 307 (redirect to 'http://10.0.0.1/x'): redirects are not followed"
    )
    assert redirected["id"] != refused["id"]
    assert [r.path for r in received] == ["moved", "fixed"]  # nothing went to 10.0.0.1
    assert error.startswith("connection failed")
    assert received[1].webhook_id == log["id"]
    assert [a["outcome"] for a in log["attempt_log"]] == ["retry", "delivered"]


async def test_replaying_the_event_log_delivers_nothing_twice(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        before = await hooks.attendee("Early")  # before the endpoint existed: never sent
        webhook = await hooks.subscribe(event_types=["*"])
        att = await hooks.attendee("Ann")
        await hooks.reply(att["conversation"], "one")
        await hooks.reply(att["conversation"], "two")
        first = list(await hooks.receiver.wait_for(3))
        for r in first:
            await hooks.until_state(r.webhook_id, "delivered")
        await hooks.stop()
        # Rewind the dispatcher's durable cursor: every event is handed to it again.
        conn = sqlite3.connect(hooks.data_dir / "switchboard.db")
        with conn:
            rewound = conn.execute(
                "UPDATE cursors SET event_id = 0 WHERE name = 'webhooks'"
            ).rowcount
        conn.close()
        await hooks.start()
        await hooks.reply(att["conversation"], "three")
        # Events are handled in order: once "three" arrives, the replay is behind us.
        received = await hooks.receiver.wait_for(4)
        await hooks.until_state(received[3].webhook_id, "delivered")
        count = await hooks.sql(
            lambda c: c.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0]
        )
        cursor = await hooks.sql(
            lambda c: c.execute("SELECT event_id FROM cursors WHERE name = 'webhooks'").fetchone()[
                0
            ]
        )
        last_event = await hooks.sql(
            lambda c: c.execute("SELECT MAX(id) FROM events").fetchone()[0]
        )
    bodies = sorted((verify(webhook["secret"], r) for r in received), key=lambda b: b["event_id"])
    assert rewound == 1
    assert cursor == last_event  # the whole log was handed over again
    assert len(received) == 4
    assert len({r.webhook_id for r in received}) == 4
    assert count == 4
    assert [b["data"].get("body") for b in bodies if b["type"] == "message.posted"] == [
        "one", "two", "three",
    ]  # fmt: skip
    assert before["conversation"] not in {b["data"]["conversation"] for b in bodies}


async def test_deleting_an_endpoint_mid_delivery_stops_it_quietly(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(VIRTUAL_TIMEOUT):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        doomed = await hooks.subscribe(path="doomed", event_types=["conversation.created"])
        hooks.receiver.script = [Reply(200, "late", hang=5)]
        await hooks.attendee("Ann")
        await hooks.receiver.wait_for(1)  # the dispatcher waits for the answer...
        async with hooks.http() as http:  # ...while the endpoint is deleted
            deleted = await http.delete(f"/api/v1/webhooks/{doomed['id']}")
        await trio.sleep(6)  # the late answer arrives (at 5 s) and finds nothing to record
        kept = await hooks.subscribe(path="kept", event_types=["conversation.created"])
        await hooks.attendee("Bob")
        received = await hooks.receiver.wait_for(2)
        await hooks.until_state(received[1].webhook_id, "delivered")
        leftovers = await hooks.sql(
            lambda c: c.execute(
                "SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?) + "
                "(SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = ?)",
                (doomed["id"], received[0].webhook_id),
            ).fetchone()[0]
        )
    assert deleted.status_code == 200
    assert [r.path for r in received] == ["doomed", "kept"]
    assert received[1].at == received[0].at + 6  # the dispatcher lived on
    assert leftovers == 0
    assert kept["id"] != doomed["id"]
