"""What recipes did and would do: test runs, run logs and the per-recipe webhook log.

- ``POST /recipes/test-run`` evaluates a saved recipe, or an unsaved definition from the
  editor, against one conversation through the scheduler's dry run: which conditions
  match and what each action would do. It writes nothing at all.
- Runs (``/recipes/<id>/runs``, ``/conversations/<id>/runs``) are readable by every staff
  member, newest first, paged with ``before`` like the webhook delivery log.
- The deliveries of a recipe's webhook actions, and redelivering one, are for admins,
  as the webhook endpoints' own log is (the request bodies carry conversation data).

Runs and deliveries of a deleted recipe stay readable: the history entries in the
conversations still point at them.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from quart import Blueprint, Response, current_app

from actors import recipe_defs, recipe_runs, webhook_store
from actors.recipe_defs import Recipe
from actors.recipe_fields import child
from actors.recipe_model import RecipeDefinition, RecipeError, parse_recipe
from actors.records import NotFound
from actors.store import Tx
from actors.webhook_dispatcher import WebhookDispatcher
from actors.webhook_store import Delivery
from server.api import known_fields, query_text, webhooks
from server.api.recipes import invalid_field, require_scheduler, without_masked_credentials
from server.http import app_state, bad_request, field, int_arg, json_body, not_found, requires

blueprint = Blueprint("recipe_runs", __name__, url_prefix="/api/v1")

#: The most runs or deliveries one page holds.
MAX_PAGE = recipe_runs.MAX_LIMIT
DEFAULT_PAGE = 50
MAX_ID = 200


@blueprint.errorhandler(RecipeError)
async def refused_definition(exc: RecipeError) -> Response:
    return invalid_field(exc.field, exc.message)


async def _require_recipe(recipe_id: str) -> Recipe:
    """The recipe, deleted or not (its runs and deliveries outlive it). Raises: NotFound."""
    recipe: Recipe = await app_state().system.store.read(
        functools.partial(recipe_defs.get_recipe, recipe_id=recipe_id, include_deleted=True)
    )
    return recipe


# -- test run ------------------------------------------------------------------------------------


async def _definition(data: dict[str, Any]) -> RecipeDefinition:
    """The body's ``definition``, parsed and its references checked; errors are prefixed
    with ``definition.`` so that ``field`` is the path in this request's body."""
    raw = field(data, "definition", dict)
    try:
        # A masked credential stands for a stored one; a dry run never sends it anyway.
        definition = parse_recipe(without_masked_credentials(raw))
        await app_state().system.store.read(
            functools.partial(recipe_defs.check_references, definition=definition)
        )
    except RecipeError as exc:
        raise RecipeError(child("definition", exc.field), exc.message) from None
    return definition


@blueprint.post("/recipes/test-run")
@requires("admin")
async def test_run() -> dict[str, Any]:
    data = await json_body()
    known_fields(data, ("recipe", "definition", "conversation"))
    conversation = field(data, "conversation", str, required=True, max_len=MAX_ID)
    recipe_id = field(data, "recipe", str, max_len=MAX_ID)
    if recipe_id is None and data.get("definition") is None:
        raise bad_request(
            "send recipe (a saved recipe's id) or definition (a recipe to try), or both",
            "missing_field",
        )
    recipe: Recipe | None = None
    if recipe_id is not None:
        recipe = await app_state().system.store.read(
            functools.partial(recipe_defs.get_recipe, recipe_id=recipe_id)
        )
    if data.get("definition") is not None:
        definition = await _definition(data)
    else:
        assert recipe is not None
        definition = recipe.definition
    if not await app_state().conversation_exists(conversation):
        raise not_found(f"conversation {conversation} does not exist")
    result = await require_scheduler().test_run(definition, conversation, recipe)
    return {
        "recipe": None if recipe is None else recipe.id,
        "conversation": conversation,
        **result,
    }


# -- runs ----------------------------------------------------------------------------------------


async def _runs_page(**where: str) -> dict[str, Any]:
    limit = int_arg("limit", DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    before = query_text("before", max_len=MAX_ID)

    def page(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], bool]:
        try:
            items = recipe_runs.list_runs(conn, limit=limit, before=before, **where)
        except NotFound:
            raise bad_request(
                f"query parameter before: no run {before} (pass the next of the previous page)"
            ) from None
        if len(items) < limit:
            return items, False
        following = recipe_runs.list_runs(conn, limit=1, before=items[-1]["id"], **where)
        return items, bool(following)

    items, more = await app_state().system.store.read(page)
    return {"items": items, "next": items[-1]["id"] if more else None}


@blueprint.get("/recipes/<recipe_id>/runs")
@requires("staff")
async def recipe_runs_log(recipe_id: str) -> dict[str, Any]:
    await _require_recipe(recipe_id)
    return await _runs_page(recipe_id=recipe_id)


@blueprint.get("/conversations/<conversation_id>/runs")
@requires("staff")
async def conversation_runs(conversation_id: str) -> dict[str, Any]:
    if not await app_state().conversation_exists(conversation_id):
        raise not_found(f"conversation {conversation_id} does not exist")
    return await _runs_page(conversation_id=conversation_id)


# -- webhook deliveries --------------------------------------------------------------------------


@blueprint.get("/recipes/<recipe_id>/deliveries")
@requires("admin")
async def list_deliveries(recipe_id: str) -> dict[str, Any]:
    await _require_recipe(recipe_id)
    return await webhooks.deliveries_page(recipe_id=recipe_id)


@blueprint.post("/recipes/<recipe_id>/deliveries/<delivery_id>/redeliver")
@requires("admin")
async def redeliver(recipe_id: str, delivery_id: str) -> tuple[dict[str, Any], int]:
    await _require_recipe(recipe_id)

    def again(tx: Tx) -> Delivery:
        delivery = webhook_store.get_delivery(tx, delivery_id)
        if delivery is not None:
            endpoint = webhook_store.get_endpoint(tx, delivery.endpoint_id)
            if endpoint is not None and endpoint.recipe_id == recipe_id:
                return webhook_store.redeliver(tx, endpoint.id, delivery_id)
        raise NotFound(f"no delivery {delivery_id} of recipe {recipe_id}")

    delivery = await app_state().system.store.write(again)
    dispatcher: WebhookDispatcher | None = current_app.config.get(webhooks.CONFIG_KEY)
    if dispatcher is not None:
        dispatcher.wake()
    return {"id": delivery.id, "state": delivery.state, "attempts": delivery.attempts}, 202
