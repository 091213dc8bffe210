"""docs/api.md documents exactly the routes the server has (datasette's tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.server.test_api_support import PUBLIC, ROUTES, WEBSOCKET

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)\s*$", re.MULTILINE)


def documented() -> list[tuple[str, str]]:
    return _HEADING.findall(DOC.read_text(encoding="utf-8"))


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    served = {(r.method, r.rule) for r in ROUTES} | {WEBSOCKET}
    headings = documented()
    assert len(headings) == len(set(headings)), "a route is documented twice"
    missing = served - set(headings)
    stale = set(headings) - served
    assert not missing, f"routes missing from docs/api.md: {sorted(missing)}"
    assert not stale, f"docs/api.md documents routes that do not exist: {sorted(stale)}"


def test_each_section_names_its_auth() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    roles = {(r.method, r.rule): r.role for r in ROUTES}
    for section in sections:
        head = section.splitlines()[0]
        method, path = head.split(" ", 1)
        assert "**Auth:**" in section, f"{head}: no **Auth:** line"
        role = roles.get((method, path))
        if (method, path) in PUBLIC:
            assert "**Auth:** public" in section, head
        elif role is not None:
            assert f"**Auth:** {role}" in section, f"{head}: auth should say {role}"


def test_the_doc_test_sees_the_routes() -> None:
    # A guard for the guard: an empty url_map would make the test above pass vacuously.
    assert ("GET", "/api/v1/conversations") in {(r.method, r.rule) for r in ROUTES}
    assert len(documented()) >= 20
