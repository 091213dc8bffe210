"""The webhook endpoints' REST API: CRUD, refusals that name the field and change nothing,
admin only, and the SSRF guard on save and again at delivery.

The SSRF tests never send a packet to a refused address: the guard decides before any
connection is opened (tests/actors/test_ssrf.py shows that with a listening socket);
here the loopback receiver proves that nothing reached it.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.e2e.test_webhooks_delivery import TIMEOUT_REAL, Hooks
from tests.server.test_api_support import error_code, snapshot

#: URLs the guard refuses when private targets are not allowed, and why.
REFUSED = [
    ("http://127.0.0.1:{port}/hook", "points to a loopback address: 127.0.0.1"),
    ("http://10.0.0.1:{port}/hook", "points to a private address: 10.0.0.1"),
    ("http://169.254.169.254/latest/meta-data", "points to a link-local address: 169.254.169.254"),
    ("http://[::1]:{port}/hook", "points to a loopback address: ::1"),
    ("http://localhost:{port}/hook", "points to a loopback address: localhost ("),
]


async def test_create_read_update_delete(nursery: trio.Nursery, tmp_path: Path) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        created = await hooks.subscribe(
            event_types=["message.posted", "message.posted", "conversation.updated"],
            description="  Helpdesk  ",
            authorization="Token abcdefghijklmnop1234",
        )
        ident = created["id"]
        async with hooks.http() as http:
            listed = (await http.get("/api/v1/webhooks")).json()["items"]
            patched = await http.patch(
                f"/api/v1/webhooks/{ident}",
                json={"event_types": ["*"], "authorization": None, "enabled": False},
            )
            short = await http.patch(
                f"/api/v1/webhooks/{ident}", json={"authorization": "Basic dXNlcjpw"}
            )
            deleted = await http.delete(f"/api/v1/webhooks/{ident}")
            gone = await http.get(f"/api/v1/webhooks/{ident}")
            gone_log = await http.get(f"/api/v1/webhooks/{ident}/deliveries")
            stored = await hooks.sql(
                lambda c: c.execute("SELECT COUNT(*) FROM webhook_endpoints").fetchone()[0]
            )
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["event_types"] == ["message.posted", "conversation.updated"]
    assert created["description"] == "Helpdesk"
    assert created["enabled"] is True
    assert created["method"] == "POST"
    assert created["content_type"] == "application/json"
    assert created["authorization"] == "Token …1234"
    assert created["deliveries"] == {"pending": 0, "delivered": 0, "failed": 0}
    assert listed == [created]
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["*"]
    assert patched.json()["authorization"] is None
    assert patched.json()["enabled"] is False
    assert short.json()["authorization"] == "Basic …"  # too short to show any of it
    assert deleted.json() == {"deleted": ident}
    assert gone.status_code == 404
    assert gone_log.status_code == 404
    assert stored == 0


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"event_types": ["*"]}, "url is required"),
    ({"url": "", "event_types": ["*"]}, "url must not be empty"),
    ({"url": "ftp://example.com/x", "event_types": ["*"]}, "url must start with http"),
    ({"url": "http://u:p@h.example/x", "event_types": ["*"]}, "url must not hold credentials"),
    ({"url": 5, "event_types": ["*"]}, "url must be a string"),
    ({"url": "{receiver}"}, "event_types is required"),
    ({"url": "{receiver}", "event_types": []}, "event_types must list at least one"),
    ({"url": "{receiver}", "event_types": "*"}, "event_types must be a list"),
    ({"url": "{receiver}", "event_types": ["message.sent"]}, "event_types: unknown event type"),
    ({"url": "{receiver}", "event_types": [3]}, "event_types must be a list of strings"),
    ({"url": "{receiver}", "event_types": ["*"], "enabled": "yes"}, "enabled must be true"),
    ({"url": "{receiver}", "event_types": ["*"], "method": "GET"}, "method must be one of POST"),
    (
        {"url": "{receiver}", "event_types": ["*"], "content_type": "text/plain"},
        "content_type must be one of application/json",
    ),
    ({"url": "{receiver}", "event_types": ["*"], "authorization": "Bearer"}, "authorization must"),
    (
        {"url": "{receiver}", "event_types": ["*"], "authorization": "Bearer a\r\nX-Evil: 1"},
        "authorization must",
    ),
    ({"url": "{receiver}", "event_types": ["*"], "description": "x" * 1001}, "description is"),
    ({"url": "{receiver}", "event_types": ["*"], "secret": "whsec_x"}, "unknown field secret"),
]


async def test_bad_definitions_are_refused_naming_the_field_and_change_nothing(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        existing = await hooks.subscribe(event_types=["message.posted"])
        receiver = f"{hooks.receiver.url}/hook"
        before = await snapshot(hooks.seed)
        answers = []
        async with hooks.http() as http:
            for body, message in BAD_BODIES:
                filled = {k: (receiver if v == "{receiver}" else v) for k, v in body.items()}
                answers.append(await http.post("/api/v1/webhooks", json=filled))
                if "url" in filled and "is required" not in message:  # PATCH needs neither
                    answers.append(
                        await http.patch(f"/api/v1/webhooks/{existing['id']}", json=filled)
                    )
                else:
                    answers.append(answers[-1])
            empty_patch = await http.patch(f"/api/v1/webhooks/{existing['id']}", json={})
            null_enabled = await http.patch(
                f"/api/v1/webhooks/{existing['id']}", json={"enabled": None}
            )
        after = await snapshot(hooks.seed)
    for (body, message), post, patch in zip(BAD_BODIES, answers[0::2], answers[1::2], strict=True):
        assert post.status_code == 400, (body, post.text)
        assert error_code(post) in ("bad_field", "missing_field")
        assert message in post.json()["error"]["message"], (body, post.text)
        if "url" in body and "is required" not in message:
            assert patch.status_code == 400, (body, patch.text)
            assert message in patch.json()["error"]["message"], (body, patch.text)
    assert empty_patch.status_code == 400
    assert "nothing to change" in empty_patch.json()["error"]["message"]
    assert null_enabled.status_code == 400
    assert "enabled" in null_enabled.json()["error"]["message"]
    assert after == before


async def test_admins_only(nursery: trio.Nursery, tmp_path: Path) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start()
        webhook = await hooks.subscribe(event_types=["*"])
        base = f"/api/v1/webhooks/{webhook['id']}"
        routes = [
            ("POST", "/api/v1/webhooks", {"url": f"{hooks.receiver.url}/x", "event_types": ["*"]}),
            ("GET", "/api/v1/webhooks", None),
            ("GET", base, None),
            ("PATCH", base, {"enabled": False}),
            ("DELETE", base, None),
            ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/deliveries/msg_x/redeliver", None),
        ]
        before = await snapshot(hooks.seed)
        statuses = []
        for token in (hooks.agent_token, ""):
            async with hooks.http(token) as http:
                for method, url, body in routes:
                    response = await http.request(method, url, json=body)
                    statuses.append((method, url, response.status_code, error_code(response)))
        after = await snapshot(hooks.seed)
    agent, anonymous = statuses[: len(routes)], statuses[len(routes) :]
    assert {(s, c) for *_, s, c in agent} == {(403, "forbidden")}
    assert {(s, c) for *_, s, c in anonymous} == {(401, "unauthorized")}
    assert after == before


async def test_ssrf_guard_refuses_private_targets_on_save(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start(allow_private=False)
        port = hooks.receiver.url.rsplit(":", 1)[1]
        before = await snapshot(hooks.seed)
        answers = []
        async with hooks.http() as http:
            for url, _ in REFUSED:
                answers.append(
                    await http.post(
                        "/api/v1/webhooks",
                        json={"url": url.format(port=port), "event_types": ["*"]},
                    )
                )
        after = await snapshot(hooks.seed)
    for (url, reason), answer in zip(REFUSED, answers, strict=True):
        assert answer.status_code == 400, (url, answer.text)
        assert error_code(answer) == "bad_field"
        assert answer.json()["error"]["message"].startswith(f"url {reason}"), answer.text
    assert after == before
    assert hooks.receiver.requests == []


@pytest.mark.parametrize("allowed", [True, False])
async def test_the_setting_allows_private_targets(
    allowed: bool, nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        await hooks.start(allow_private=allowed)
        async with hooks.http() as http:
            answer = await http.post(
                "/api/v1/webhooks",
                json={"url": f"{hooks.receiver.url}/hook", "event_types": ["*"]},
            )
    assert answer.status_code == (201 if allowed else 400)


async def test_ssrf_guard_refuses_at_delivery_without_sending(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        # Saved while private targets were allowed; then the setting is turned off.
        await hooks.start(allow_private=True)
        port = hooks.receiver.url.rsplit(":", 1)[1]
        webhooks = [
            await hooks.subscribe(url=url.format(port=port), event_types=["conversation.created"])
            for url, _ in REFUSED
        ]
        await hooks.stop()
        await hooks.start(allow_private=False)
        await hooks.attendee()

        def states(conn: sqlite3.Connection) -> list[tuple[str, str, str | None]]:
            return [
                (str(r[0]), str(r[1]), r[2])
                for r in conn.execute(
                    "SELECT endpoint_id, state, error FROM webhook_deliveries ORDER BY endpoint_id"
                ).fetchall()
            ]

        rows = await hooks.sql(states)
        while [state for _, state, _ in rows] != ["failed"] * len(REFUSED):
            rows = await hooks.sql(states)
        logs = [(await hooks.deliveries(w["id"]))[0] for w in webhooks]
    errors = {endpoint: error for endpoint, _, error in rows}
    for webhook, (_, reason), log in zip(webhooks, REFUSED, logs, strict=True):
        assert str(errors[webhook["id"]]).startswith(f"refused by the SSRF guard: url {reason}")
        assert log["attempts"] == 1
        assert log["attempt_log"][0]["outcome"] == "failed"
        assert log["attempt_log"][0]["response_status"] is None
    assert hooks.receiver.requests == []  # not one request reached the loopback receiver
