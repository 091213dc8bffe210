"""Automation recipes: /api/v1/recipes/... (admins write; every staff member reads).

A recipe is saved whole: ``POST`` and ``PUT`` take the complete definition (see
docs/api.md), which actors/recipe_defs.py parses and checks (the users, teams, contexts,
schedules and saved filters it names must exist) inside the write transaction, so a
refused definition writes nothing and answers 400 ``invalid_field`` with ``field``, the
JSON path at fault. Webhook action URLs pass the SSRF guard first, as the admins' own
webhooks do. Every save stores a new version, keeps the recipe's webhook endpoints in step
with its webhook actions, and tells the scheduler to look at the recipes again.

Credentials: a webhook action's Authorization header is only ever shown masked, and
sending the masked value back keeps the stored one; the signing secret of a webhook
endpoint that a save created is in that save's answer only (``webhook_secrets``).

Runs, the per-recipe delivery log and the test run are in server/api/recipe_runs.py.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from actors import recipe_defs, ssrf
from actors.recipe_defs import ELLIPSIS, Recipe
from actors.recipe_model import RecipeDefinition, RecipeError, parse_recipe
from actors.recipe_scheduler import CONFIG_KEY, RecipeScheduler
from server.http import ApiError, app_state, json_body, not_found, principal, requires

blueprint = Blueprint("recipes", __name__, url_prefix="/api/v1")


# -- shared with the other automation modules ---------------------------------------------------


def invalid_field(path: str, message: str) -> Response:
    """The 400 of a refused definition: the usual error body plus ``field``, the JSON path
    of the bad value (the message names it too, as every error message here does)."""
    response = jsonify(
        {"error": {"code": "invalid_field", "field": path, "message": f"{path}: {message}"}}
    )
    response.status_code = 400
    return response


@blueprint.errorhandler(RecipeError)
async def refused_definition(exc: RecipeError) -> Response:
    return invalid_field(exc.field, exc.message)


def scheduler() -> RecipeScheduler | None:
    """The running scheduler (None in an app built without one, e.g. to list routes)."""
    found: RecipeScheduler | None = current_app.config.get(CONFIG_KEY)
    return found


def require_scheduler() -> RecipeScheduler:
    found = scheduler()
    if found is None:
        raise ApiError(503, "unavailable", "the recipe scheduler is not running")
    return found


def recipes_changed() -> None:
    found = scheduler()
    if found is not None:
        found.recipes_changed()


def without_masked_credentials(data: Any) -> Any:
    """``data`` with masked webhook authorizations left out: what to parse when only the
    form matters (the stored credentials they stand for are looked up by the save)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("actions"), list):
        return data
    actions = [
        {k: v for k, v in a.items() if k != "authorization"}
        if isinstance(a, Mapping)
        and isinstance(a.get("authorization"), str)
        and ELLIPSIS in a["authorization"]
        else a
        for a in data["actions"]
    ]
    return {**data, "actions": actions}


async def check_webhook_targets(definition: RecipeDefinition, path: str = "") -> None:
    """Refuse webhook actions whose URL the SSRF guard refuses (the dispatcher checks again
    at every delivery).

    Raises:
        RecipeError: naming ``actions[i].url`` and the reason.
    """
    allow = app_state().settings.webhook_allow_private_targets
    for index, action in enumerate(definition.actions):
        if action.type != "webhook":
            continue
        try:
            await ssrf.check_url(action.params["url"], allow_private=allow)
        except ssrf.TargetRefused as exc:
            raise RecipeError(f"{path}actions[{index}].url", str(exc)) from None


async def _checked(data: dict[str, Any]) -> None:
    """Validate the form of a definition and its webhook targets before the write (which
    validates again, with the references, in its transaction)."""
    await check_webhook_targets(parse_recipe(without_masked_credentials(data)))


# -- routes --------------------------------------------------------------------------------------


@blueprint.get("/recipes")
@requires("staff")
async def list_recipes() -> dict[str, Any]:
    recipes = await app_state().system.store.read(recipe_defs.list_recipes)
    return {"items": [recipe_defs.recipe_json(r) for r in recipes]}


@blueprint.post("/recipes")
@requires("admin")
async def create_recipe() -> tuple[dict[str, Any], int]:
    data = await json_body()
    await _checked(data)
    recipe: Recipe = await app_state().system.store.write(
        functools.partial(recipe_defs.create_recipe, data=data, by=principal().id)
    )
    recipes_changed()
    return recipe_defs.recipe_json(recipe), 201


@blueprint.get("/recipes/<recipe_id>")
@requires("staff")
async def get_recipe(recipe_id: str) -> dict[str, Any]:
    recipe = await app_state().system.store.read(
        functools.partial(recipe_defs.get_recipe, recipe_id=recipe_id)
    )
    return recipe_defs.recipe_json(recipe)


@blueprint.put("/recipes/<recipe_id>")
@requires("admin")
async def update_recipe(recipe_id: str) -> dict[str, Any]:
    store = app_state().system.store
    await store.read(functools.partial(recipe_defs.get_recipe, recipe_id=recipe_id))
    data = await json_body()
    await _checked(data)
    recipe: Recipe = await store.write(
        functools.partial(
            recipe_defs.update_recipe, recipe_id=recipe_id, data=data, by=principal().id
        )
    )
    recipes_changed()
    return recipe_defs.recipe_json(recipe)


@blueprint.delete("/recipes/<recipe_id>")
@requires("admin")
async def delete_recipe(recipe_id: str) -> dict[str, Any]:
    await app_state().system.store.write(
        functools.partial(recipe_defs.delete_recipe, recipe_id=recipe_id)
    )
    recipes_changed()
    return {"deleted": recipe_id}


async def _set_enabled(recipe_id: str, enabled: bool) -> dict[str, Any]:
    recipe: Recipe = await app_state().system.store.write(
        functools.partial(
            recipe_defs.set_enabled, recipe_id=recipe_id, enabled=enabled, by=principal().id
        )
    )
    recipes_changed()
    return recipe_defs.recipe_json(recipe)


@blueprint.post("/recipes/<recipe_id>/enable")
@requires("admin")
async def enable_recipe(recipe_id: str) -> dict[str, Any]:
    return await _set_enabled(recipe_id, True)


@blueprint.post("/recipes/<recipe_id>/disable")
@requires("admin")
async def disable_recipe(recipe_id: str) -> dict[str, Any]:
    return await _set_enabled(recipe_id, False)


@blueprint.get("/recipes/<recipe_id>/versions")
@requires("staff")
async def list_versions(recipe_id: str) -> dict[str, Any]:
    items = await app_state().system.store.read(
        functools.partial(recipe_defs.list_versions, recipe_id=recipe_id)
    )
    return {"items": items}


@blueprint.get("/recipes/<recipe_id>/versions/<version>")
@requires("staff")
async def get_version(recipe_id: str, version: str) -> dict[str, Any]:
    store = app_state().system.store
    await store.read(
        functools.partial(recipe_defs.get_recipe, recipe_id=recipe_id, include_deleted=True)
    )
    if not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise not_found(f"recipe {recipe_id} has no version {version}")
    found: dict[str, Any] = await store.read(
        functools.partial(recipe_defs.get_version, recipe_id=recipe_id, version=int(version))
    )
    return found
