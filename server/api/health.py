"""GET /healthz: liveness and a few counters."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from server.http import app_state

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
async def healthz() -> dict[str, Any]:
    state = app_state()
    stats = state.system.store.statistics()
    return {
        "ok": True,
        "websockets": state.sessions_open,
        "groups": len(state.system.groups),
        "last_event_id": stats.last_event_id,
    }
