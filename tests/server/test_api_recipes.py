"""The recipes REST API on a real server: CRUD and versions, masked credentials and
secrets shown once, refusals that name the JSON path and write nothing, the SSRF guard,
admin-only writes, 404s. Test runs, runs and deliveries: test_api_recipe_runs.py.

Recipe runs happen in the server's scheduler after each event; :func:`settle` waits for
it to have handled every event (reads only, no sleeping). Webhook deliveries go to a
loopback receiver (tests/e2e/test_webhooks_delivery.py), which is why these servers
allow private webhook targets; the SSRF test starts one that does not.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.consumer import get_cursor
from actors.recipe_scheduler import CONSUMER_NAME
from actors.records import NewMessage
from actors.store import Store
from protocol.frames import Participant
from server.config import Settings
from server.main import Running, serve
from tests.helpers import Seed
from tests.server.test_api_support import error_code, snapshot, staff

TOKEN = "Bearer abcdefghijklmnop1234"
MASKED = "Bearer …1234"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fast commits (these tests are about the API), and private webhook targets allowed:
    the webhook actions call the loopback receiver."""
    return Settings.from_mapping(
        {
            "port": 0,
            "data_dir": tmp_path / "data",
            "host": "127.0.0.1",
            "sqlite_synchronous": "NORMAL",
            "webhook_allow_private_targets": True,
        }
    )


# -- helpers shared with test_api_recipe_runs.py and test_api_automation.py ----------------------


async def settle(store: Store) -> None:
    """Return once the recipe scheduler handled every event, including those its own runs
    appended (each check is a read in a worker thread)."""
    while True:
        last = store.last_event_id
        while (await store.read(functools.partial(get_cursor, name=CONSUMER_NAME)) or 0) < last:
            pass
        if store.last_event_id == last:
            return


async def rows(seed: Seed, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    return await seed.store.read(read)


async def wait_for(seed: Seed, check: Callable[[sqlite3.Connection], bool]) -> None:
    """Return once ``check`` holds (background work such as webhook deliveries; each
    check is a read in a worker thread, which lets the server's tasks run)."""
    while not await seed.store.read(check):
        pass


def invalid(response: httpx.Response) -> tuple[str, str]:
    """The ``field`` and ``message`` of a 400 ``invalid_field`` answer."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "field", "message"}, error
    assert error["code"] == "invalid_field"
    assert error["message"].startswith(f"{error['field']}: "), error
    return error["field"], error["message"]


async def say(running: Running, conversation: str, body: str, author: Participant) -> int:
    stored = await running.state.system.post(
        NewMessage(conversation=conversation, author=author, kind="message", body=body)
    )
    return stored.seq


def contact_of(attendee: dict[str, Any]) -> Participant:
    return Participant("contact", attendee["contact"]["id"], attendee["contact"]["name"])


def recipe_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Tag new conversations",
        "trigger": {"type": "new_conversation"},
        "actions": [{"type": "add_tags", "tags": ["auto"]}],
    }
    body.update(changes)
    return body


def webhook_action(url: str, **changes: Any) -> dict[str, Any]:
    action = {
        "type": "webhook",
        "name": "CRM",
        "url": url,
        "authorization": TOKEN,
        "fields": ["conversation_id", "status"],
    }
    action.update(changes)
    return action


class Calls:
    """Counts the scheduler's recipes_changed() calls (and still makes them)."""

    def __init__(self, running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
        assert running.recipes is not None
        self.count = 0
        original = running.recipes.recipes_changed

        def counted() -> None:
            self.count += 1
            original()

        monkeypatch.setattr(running.recipes, "recipes_changed", counted)


# -- create, read, update, versions, enable, delete -----------------------------------------------


async def test_saves_version_every_change_and_mask_credentials(
    seed: Seed, guard: trio.CancelScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    with guard:
        calls = Calls(seed.running, monkeypatch)
        _, client = await staff(seed, "admin@example.com", "admin")
        hook = "http://127.0.0.1:9/crm"
        async with client:
            created = await client.post(
                "/api/v1/recipes",
                json=recipe_body(
                    actions=[{"type": "add_tags", "tags": ["Auto"]}, webhook_action(hook)]
                ),
            )
            assert created.status_code == 201, created.text
            recipe = created.json()
            rid = recipe["id"]
            fetched = await client.get(f"/api/v1/recipes/{rid}")
            listed = await client.get("/api/v1/recipes")
            endpoints_v1 = await rows(
                seed,
                "SELECT id, action_index, auth_header, secret, enabled FROM webhook_endpoints "
                "WHERE recipe_id = ?",
                rid,
            )
            # A recipe's endpoint is managed through the recipe, not the admin webhooks API.
            hidden = await client.get(f"/api/v1/webhooks/{endpoints_v1[0][0]}")
            hidden_log = await client.get(f"/api/v1/webhooks/{endpoints_v1[0][0]}/deliveries")
            admin_list = await client.get("/api/v1/webhooks")
            # Sending back what GET showed (masked credentials, read-only fields) keeps it.
            resent = fetched.json()
            resent["actions"].append(webhook_action(hook + "2", authorization=None))
            updated = await client.put(f"/api/v1/recipes/{rid}", json=resent)
            endpoints_v2 = await rows(
                seed,
                "SELECT id, action_index, auth_header, secret FROM webhook_endpoints "
                "WHERE recipe_id = ? ORDER BY action_index",
                rid,
            )
            new_token = recipe_body(actions=[webhook_action(hook, authorization="Token zz")])
            changed = await client.put(f"/api/v1/recipes/{rid}", json=new_token)
            endpoints_v3 = await rows(
                seed,
                "SELECT action_index, auth_header, enabled, disabled_reason FROM "
                "webhook_endpoints WHERE recipe_id = ? ORDER BY action_index",
                rid,
            )
            disabled = await client.post(f"/api/v1/recipes/{rid}/disable")
            enabled = await client.post(f"/api/v1/recipes/{rid}/enable")
            versions = await client.get(f"/api/v1/recipes/{rid}/versions")
            first = await client.get(f"/api/v1/recipes/{rid}/versions/1")
            missing_version = await client.get(f"/api/v1/recipes/{rid}/versions/99")
            word_version = await client.get(f"/api/v1/recipes/{rid}/versions/one")
            deleted = await client.delete(f"/api/v1/recipes/{rid}")
            gone = await client.get(f"/api/v1/recipes/{rid}")
            gone_put = await client.put(f"/api/v1/recipes/{rid}", json=recipe_body())
            listed_after = await client.get("/api/v1/recipes")
            versions_after = await client.get(f"/api/v1/recipes/{rid}/versions")
    assert recipe["version"] == 1
    assert recipe["kind"] == "new_item"
    assert recipe["enabled"] is True
    assert recipe["actions"][0] == {"type": "add_tags", "tags": ["auto"]}  # normalised
    assert recipe["actions"][1]["authorization"] == MASKED
    assert recipe["actions"][1]["method"] == "POST"  # defaults filled in
    [(endpoint_id, index, stored_auth, secret, enabled_flag)] = endpoints_v1
    assert (index, stored_auth, enabled_flag) == (1, TOKEN, 1)
    assert recipe["webhook_secrets"] == {"1": secret}  # the secret, shown this once
    assert secret.startswith("whsec_")
    assert (hidden.status_code, hidden_log.status_code) == (404, 404)
    assert admin_list.json()["items"] == []
    assert fetched.status_code == 200
    assert "webhook_secrets" not in fetched.json()
    assert fetched.json() == {k: v for k, v in recipe.items() if k != "webhook_secrets"}
    assert listed.json() == {"items": [fetched.json()]}

    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert updated.json()["actions"][1]["authorization"] == MASKED
    assert updated.json()["actions"][2]["authorization"] is None
    assert endpoints_v2[0] == (endpoint_id, 1, TOKEN, secret)  # kept, secret unchanged
    assert updated.json()["webhook_secrets"] == {"2": endpoints_v2[1][3]}  # only the new one

    assert changed.status_code == 200, changed.text
    assert changed.json()["actions"][0]["authorization"] == "Token …"  # short: no tail
    assert endpoints_v3 == [
        (0, "Token zz", 1, None),
        (1, TOKEN, 0, "removed from the recipe"),
        (2, None, 0, "removed from the recipe"),
    ]
    assert "webhook_secrets" in changed.json()  # action 0 is a webhook action now

    assert (disabled.json()["enabled"], disabled.json()["version"]) == (False, 4)
    assert (enabled.json()["enabled"], enabled.json()["version"]) == (True, 5)
    items = versions.json()["items"]
    assert [v["version"] for v in items] == [5, 4, 3, 2, 1]
    assert [v["enabled"] for v in items] == [True, False, True, True, True]
    assert all(v["created_by"] for v in items)
    assert first.json()["version"] == 1
    assert first.json()["definition"]["actions"][1]["authorization"] == MASKED
    assert "abcdefghijklmnop" not in versions.text + first.text + listed.text + updated.text
    assert missing_version.status_code == 404
    assert error_code(missing_version) == "not_found"
    assert word_version.status_code == 404

    assert deleted.json() == {"deleted": rid}
    assert gone.status_code == 404
    assert gone_put.status_code == 404
    assert listed_after.json() == {"items": []}
    assert len(versions_after.json()["items"]) == 5  # the history stays
    # create, two updates, disable, enable, delete: the scheduler heard of each save.
    assert calls.count == 6


BAD_DEFINITIONS: list[tuple[dict[str, Any], str, str]] = [
    (recipe_body(trigger={"type": "sometimes"}), "trigger.type", "must be one of"),
    (
        recipe_body(trigger={"type": "pending_for", "minutes": 0}),
        "trigger.minutes",
        "from 1 to 525600",
    ),
    (recipe_body(trigger=None), "trigger", "is required"),
    (recipe_body(actions=[]), "actions", "1 to 20"),
    (recipe_body(actions=[{"type": "explode"}]), "actions[0].type", "must be one of"),
    (
        recipe_body(actions=[{"type": "resolve"}, {"type": "reply", "text": ""}]),
        "actions[1].text",
        "is required",
    ),
    (
        recipe_body(
            filter={
                "type": "conditions",
                "conditions": [{"field": "status", "operator": "above", "value": "open"}],
            }
        ),
        "filter.conditions[0].operator",
        "must be one of is, is_not",
    ),
    (recipe_body(name=""), "name", "empty"),
    (recipe_body(colour="red"), "colour", "unknown field"),
    (
        recipe_body(actions=[{"type": "notify", "users": ["us_nobody"]}]),
        "actions[0].users[0]",
        "no user us_nobody",
    ),
    (recipe_body(scope={"contexts": ["cx_nowhere"]}), "scope.contexts[0]", "no context"),
    (
        recipe_body(business_hours={"schedule": "bh_none", "when": "inside"}),
        "business_hours.schedule",
        "no business hours schedule",
    ),
    (
        recipe_body(filter={"type": "saved", "saved_filter": "sf_none"}),
        "filter.saved_filter",
        "no saved filter",
    ),
    (
        recipe_body(actions=[webhook_action("ftp://example.com/x")]),
        "actions[0].url",
        "http",
    ),
    (
        recipe_body(actions=[webhook_action("http://127.0.0.1:9/x", authorization="Bearer")]),
        "actions[0].authorization",
        "<type> <credentials>",
    ),
    (
        recipe_body(
            trigger={"type": "status_changed", "status": "resolved"},
            actions=[webhook_action("http://127.0.0.1:9/x")],
        ),
        "actions[0].fields",
        "new-item recipes only",
    ),
    (  # a masked value stands for stored credentials: this recipe has none
        recipe_body(actions=[webhook_action("http://127.0.0.1:9/x", authorization=MASKED)]),
        "actions[0].authorization",
        "masked",
    ),
]


async def test_bad_definitions_name_the_field_and_change_nothing(
    seed: Seed, guard: trio.CancelScope, monkeypatch: pytest.MonkeyPatch
) -> None:
    with guard:
        _, client = await staff(seed, "admin@example.com", "admin")
        async with client:
            existing = await client.post("/api/v1/recipes", json=recipe_body())
            rid = existing.json()["id"]
            calls = Calls(seed.running, monkeypatch)
            before = await snapshot(seed)
            answers = []
            for body, _, _ in BAD_DEFINITIONS:
                answers.append(
                    (
                        await client.post("/api/v1/recipes", json=body),
                        await client.put(f"/api/v1/recipes/{rid}", json=body),
                    )
                )
            not_json = await client.post(
                "/api/v1/recipes", content=b"{nope", headers={"Content-Type": "application/json"}
            )
            a_list = await client.put(f"/api/v1/recipes/{rid}", json=[recipe_body()])
            after = await snapshot(seed)
    for (body, path, words), (post, put) in zip(BAD_DEFINITIONS, answers, strict=True):
        for answer in (post, put):
            found, message = invalid(answer)
            assert found == path, (body, answer.text)
            assert words in message, (body, answer.text)
    assert not_json.status_code == 400
    assert error_code(not_json) == "bad_json"
    assert a_list.status_code == 400
    assert after == before
    assert calls.count == 0


# The guard's refusals without private targets allowed (literals and localhost: no DNS).
REFUSED = [
    ("http://127.0.0.1:9/hook", "points to a loopback address: 127.0.0.1"),
    ("http://10.0.0.1/hook", "points to a private address: 10.0.0.1"),
    ("http://169.254.169.254/latest", "points to a link-local address: 169.254.169.254"),
    ("http://[::1]:9/hook", "points to a loopback address: ::1"),
    ("http://localhost:9/hook", "points to a loopback address: localhost ("),
]


async def test_the_ssrf_guard_refuses_private_webhook_targets(
    nursery: trio.Nursery, settings: Settings, guard: trio.CancelScope
) -> None:
    with guard:
        strict = dataclasses.replace(settings, webhook_allow_private_targets=False)
        running: Running = await nursery.start(serve, strict)
        seed = Seed(running)
        _, client = await staff(seed, "admin@example.com", "admin")
        async with client:
            existing = await client.post("/api/v1/recipes", json=recipe_body())
            before = await snapshot(seed)
            answers = []
            for url, _ in REFUSED:
                body = recipe_body(actions=[{"type": "resolve"}, webhook_action(url)])
                answers.append(await client.post("/api/v1/recipes", json=body))
                answers.append(
                    await client.put(f"/api/v1/recipes/{existing.json()['id']}", json=body)
                )
            after = await snapshot(seed)
    for (url, reason), answer in zip([r for r in REFUSED for _ in (0, 1)], answers, strict=True):
        field, message = invalid(answer)
        assert field == "actions[1].url", (url, answer.text)
        assert message.startswith(f"actions[1].url: {reason}"), (url, answer.text)
    assert after == before


async def test_agents_read_recipes_and_runs_but_change_nothing(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        _, admin = await staff(seed, "admin@example.com", "admin")
        _, agent = await staff(seed)
        context = await seed.context()
        attendee = await seed.attendee(context["id"])
        async with admin, agent:
            rid = (await admin.post("/api/v1/recipes", json=recipe_body())).json()["id"]
            base = f"/api/v1/recipes/{rid}"
            reads = [
                "/api/v1/recipes",
                base,
                f"{base}/versions",
                f"{base}/versions/1",
                f"{base}/runs",
                f"/api/v1/conversations/{attendee['conversation']}/runs",
            ]
            writes = [
                ("POST", "/api/v1/recipes", recipe_body()),
                ("PUT", base, recipe_body(name="Mine now")),
                ("DELETE", base, None),
                ("POST", f"{base}/enable", None),
                ("POST", f"{base}/disable", None),
                (
                    "POST",
                    "/api/v1/recipes/test-run",
                    {"recipe": rid, "conversation": attendee["conversation"]},
                ),
                ("GET", f"{base}/deliveries", None),
                ("POST", f"{base}/deliveries/msg_x/redeliver", None),
            ]
            before = await snapshot(seed)
            read_statuses = [(url, (await agent.get(url)).status_code) for url in reads]
            refused = [
                (url, await agent.request(method, url, json=body)) for method, url, body in writes
            ]
            after = await snapshot(seed)
    assert read_statuses == [(url, 200) for url in reads]
    for url, answer in refused:
        assert answer.status_code == 403, (url, answer.text)
        assert error_code(answer) == "forbidden"
        assert answer.json()["error"]["message"] == "admins only"
    assert after == before


async def test_unknown_ids_answer_404(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        _, client = await staff(seed, "admin@example.com", "admin")
        base = "/api/v1/recipes/rc_nope"
        calls = [
            ("GET", base, None),
            ("PUT", base, recipe_body()),
            ("DELETE", base, None),
            ("POST", f"{base}/enable", None),
            ("POST", f"{base}/disable", None),
            ("GET", f"{base}/versions", None),
            ("GET", f"{base}/versions/1", None),
            ("GET", f"{base}/runs", None),
            ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/deliveries/msg_nope/redeliver", None),
            ("GET", "/api/v1/conversations/cv_nope/runs", None),
        ]
        async with client:
            before = await snapshot(seed)
            answers = [
                (url, await client.request(method, url, json=body)) for method, url, body in calls
            ]
            after = await snapshot(seed)
    for url, answer in answers:
        assert answer.status_code == 404, (url, answer.text)
        assert error_code(answer) == "not_found"
    assert after == before
