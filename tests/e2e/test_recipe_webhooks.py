"""A recipe's webhook action end to end: a real server delivers GET (query parameters) and
form-encoded POST requests to a loopback receiver, signed per Standard Webhooks (checked
with the ``standardwebhooks`` library); a replayed claim delivers nothing twice; the
endpoints stay out of the admins' webhook list, their log is the recipe's."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import trio
from quart import Response, request
from quart_trio import QuartTrio
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from actors import webhook_store
from tests.e2e.test_webhooks_delivery import TIMEOUT_REAL, Hooks, Received, Receiver
from tests.recipe_kit import context, enqueue_again, make_recipe, run, sql

FIELDS = ["conversation_id", "status", "tags", "contact_name", "message_seq"]


class QueryReceiver(Receiver):
    """The shared receiver, also keeping each request's method and query string."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, str]] = []
        app = QuartTrio(__name__)

        @app.route("/<path:path>", methods=["POST", "GET"])
        async def hook(path: str) -> Response:
            body = (await request.get_data()).decode()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.queries.append((request.method, request.query_string.decode()))
            self.requests.append(Received(path, headers, body, trio.current_time()))
            self._changed.set()
            self._changed = trio.Event()
            return Response("ok", status=200)

        self.app = app


async def test_get_and_form_webhooks_are_signed_and_delivered_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    with trio.fail_after(TIMEOUT_REAL):
        hooks = Hooks(nursery, tmp_path)
        receiver = hooks.receiver = QueryReceiver()
        running = await hooks.start()
        system = running.state.system
        att = await hooks.attendee("Ann")
        conv = att["conversation"]
        url = receiver.url
        recipe = await make_recipe(
            system.store,
            [
                {
                    "type": "webhook", "name": "Lookup", "method": "GET",
                    "url": f"{url}/lookup?source=sb", "fields": FIELDS,
                },
                {
                    "type": "webhook", "name": "CRM", "url": f"{url}/crm",
                    "content_type": "application/x-www-form-urlencoded", "fields": FIELDS,
                    "authorization": "Bearer crm-credentials-1234",
                },
            ],
            name="Sync",
        )  # fmt: skip
        ctx = await context(system, recipe, conv, key_event=1000)
        done = await run(ctx)
        received = sorted(await receiver.wait_for(2), key=lambda r: r.path)
        for r in received:
            await hooks.until_state(r.webhook_id, "delivered")
        replayed = await enqueue_again(ctx, done.planned)
        count = await sql(system.store, "SELECT COUNT(*) FROM webhook_deliveries")
        log = await system.store.read(
            functools.partial(webhook_store.list_deliveries, recipe_id=recipe.id)
        )
        async with hooks.http() as http:
            admin_list = (await http.get("/api/v1/webhooks")).json()["items"]
    crm, lookup = received
    secrets = recipe.webhook_secrets
    expected_fields = {
        "conversation_id": conv, "status": "open", "tags": [], "contact_name": "Ann",
        "message_seq": None,
    }  # fmt: skip
    # GET: the payload's top-level fields as query parameters, the empty body signed.
    assert lookup.path == "lookup"
    methods = dict(receiver.queries)
    assert sorted(methods) == ["GET", "POST"]
    query = methods["GET"]
    params = dict(parse_qsl(query))
    assert params["source"] == "sb"  # the URL's own query is kept
    assert params["trigger"] == "new_message"
    assert json.loads(params["recipe"]) == {"id": recipe.id, "name": "Sync", "version": 1}
    assert json.loads(params["fields"]) == expected_fields
    assert lookup.body == ""
    assert "content-type" not in lookup.headers
    assert Webhook(secrets[0]).verify("", lookup.headers, json_parse=False) is None
    # POST form: the same fields form-encoded, signed over the exact body sent.
    form = dict(parse_qsl(crm.body))
    assert crm.headers["content-type"] == "application/x-www-form-urlencoded"
    assert crm.headers["authorization"] == "Bearer crm-credentials-1234"
    assert json.loads(form["fields"]) == expected_fields
    assert form["trigger"] == "new_message"
    assert Webhook(secrets[1]).verify(crm.body, crm.headers, json_parse=False) is None
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        Webhook(secrets[0]).verify(crm.body, crm.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):  # a body changed on the way
        Webhook(secrets[1]).verify(crm.body + "&x=1", crm.headers, json_parse=False)
    assert methods["POST"] == ""
    # Once per trigger: the replayed claim found the deliveries it had stored.
    assert count == [(2,)]
    assert replayed == done.queued
    assert [r["result"] for r in done.results] == ["queued", "queued"]
    assert len(receiver.requests) == 2
    assert {(e["action_index"], e["state"], e["event_id"]) for e in log} == {
        (0, "delivered", 1000), (1, "delivered", 1000),
    }  # fmt: skip
    assert {e["id"] for e in log} == {r.webhook_id for r in received}
    assert admin_list == []  # recipe endpoints are not the admins' subscriptions
