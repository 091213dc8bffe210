"""Helpers shared by the REST API tests (no tests of its own).

``ROUTES`` is the app's url_map, built once from a Quart app with a placeholder state:
registering blueprints does not touch the state, so collection needs no server.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from server.app import create_quart
from server.config import Settings
from server.state import AppState
from tests.helpers import Seed

#: Routes that answer without credentials, on purpose (/slack/events checks Slack's
#: request signature instead, and answers 401 without a valid one).
PUBLIC = frozenset({("GET", "/healthz"), ("POST", "/api/v1/auth/login"), ("POST", "/slack/events")})
#: Served by the raw ASGI websocket handler (server/app.py), not by Quart's url_map.
WEBSOCKET = ("GET", "/ws")
#: Tables whose rows change without a request (event-log consumers store their cursors).
_BACKGROUND_TABLES = frozenset({"cursors"})
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The conftest settings with ``sqlite_synchronous=NORMAL``: these tests are about the
    API, not durability (tests/server/test_ws_guarantees.py covers that), and skipping an
    fsync per commit keeps the suite fast. Import it into a test module to use it."""
    return Settings.from_mapping(
        {
            "port": 0,
            "data_dir": tmp_path / "data",
            "host": "127.0.0.1",
            "sqlite_synchronous": "NORMAL",
        }
    )


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    role: str | None  #: what ``@requires`` asks for; None for a public route

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"

    def url(self, fill: str = "nope") -> str:
        """The rule with every ``<param>`` replaced by ``fill``."""
        return _PARAM.sub(fill, self.rule)


def app_routes() -> list[Route]:
    app = create_quart(cast(AppState, None))
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append(Route(method, rule.rule, getattr(view, "required_role", None)))
    return sorted(routes, key=lambda r: (r.rule, r.method))


ROUTES = app_routes()


async def snapshot(seed: Seed) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: equal snapshots mean nothing was written."""

    def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'messages_fts%'"
            ).fetchall()
        ]
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
            for t in tables
            if t not in _BACKGROUND_TABLES
        }

    return await seed.store.read(dump)


async def count(seed: Seed, sql: str, *params: Any) -> int:
    def run(conn: sqlite3.Connection) -> int:
        return int(conn.execute(sql, params).fetchone()[0])

    return await seed.store.read(run)


async def send_json(client: httpx.AsyncClient, method: str, url: str, body: Any) -> httpx.Response:
    """Send ``body`` as JSON the way Python's json module writes it: unlike httpx's own
    encoder this lets lone surrogates (as ``\\udxxx`` escapes) and NaN through, which a
    hostile client can send too."""
    return await client.request(
        method, url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


async def staff(
    seed: Seed, email: str = "agent@example.com", role: str = "agent"
) -> tuple[dict[str, Any], httpx.AsyncClient]:
    """A staff user and an HTTP client carrying their API token."""
    user, token = await seed.staff_token(email=email, role=role)
    return user, seed.http(token)
