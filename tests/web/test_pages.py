"""The page routes and static assets over plain HTTP, and static checks of web/."""

from __future__ import annotations

import dataclasses
import posixpath
import re
import sqlite3
from pathlib import Path

import pytest
import trio

from server.config import Settings
from server.pages import CONTENT_TYPES, load_assets
from tests.helpers import PASSWORD, Seed

WEB = Path(__file__).resolve().parents[2] / "web"
ASSETS = load_assets()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_mapping(
        {
            "port": 0,
            "host": "127.0.0.1",
            "data_dir": tmp_path / "data",
            "sqlite_synchronous": "NORMAL",
            "demo": True,
        }
    )


async def test_console_needs_a_session(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        await seed.user("maria@example.com", role="admin", name="Maria")
        async with seed.http() as client:
            root = await client.get("/")
            assert (root.status_code, root.headers["location"]) == (302, "/console")
            anonymous = await client.get("/console/c/cv_1?x=1")
            assert anonymous.status_code == 302
            assert anonymous.headers["location"] == "/console/login?next=/console/c/cv_1%3Fx%3D1"
            login_page = await client.get("/console/login")
            assert login_page.status_code == 200
            assert "Log in to the staff console" in login_page.text
            client.cookies.set("sb_session", "sbs_forged")
            assert (await client.get("/console")).status_code == 302
            client.cookies.clear()
            login = await client.post(
                "/api/v1/auth/login", json={"email": "maria@example.com", "password": PASSWORD}
            )
            assert login.status_code == 200
            page = await client.get("/console/settings/users")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("style-src")[0]
        assert "unsafe-eval" not in csp
        assert "frame-ancestors 'self'" in csp


async def test_assets_have_types_and_revalidate(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        async with seed.http() as client:
            loader = await client.get("/widget.js")
            assert loader.status_code == 200
            assert loader.headers["content-type"] == "text/javascript; charset=utf-8"
            assert loader.headers["cache-control"] == "no-cache"
            again = await client.get(
                "/widget.js", headers={"If-None-Match": loader.headers["etag"]}
            )
            assert again.status_code == 304
            css = await client.get("/static/css/base.css")
            assert css.headers["content-type"] == "text/css; charset=utf-8"
            svg = await client.get("/static/img/logo.svg")
            assert svg.headers["content-type"] == "image/svg+xml"
            for path in (
                "/static/nope.js",
                "/static/console/index.html",
                "/static/../server/app.py",
                "/static/__init__.py",
            ):
                assert (await client.get(path)).status_code == 404, path


async def test_widget_frame_may_be_embedded(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        async with seed.http() as client:
            frame = await client.get("/widget")
            chat = await client.get("/chat")
        assert frame.status_code == 200
        csp = frame.headers["content-security-policy"]
        assert "frame-ancestors *" in csp
        assert "script-src" not in csp
        assert "default-src 'self'" in csp
        assert chat.status_code == 200
        assert "frame-ancestors 'self'" in chat.headers["content-security-policy"]


async def test_widget_frame_ancestors_follow_allowed_origins(
    seed: Seed, settings: Settings, guard: trio.CancelScope
) -> None:
    with guard:
        seed.running.state.settings = dataclasses.replace(
            seed.running.state.settings, allowed_origins=("https://host.example",)
        )
        async with seed.http() as client:
            frame = await client.get("/widget")
        assert (
            "frame-ancestors 'self' https://host.example;"
            in frame.headers["content-security-policy"]
        )


async def test_demo_creates_one_conversation_per_visitor(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        async with seed.http() as client:
            first = await client.get("/demo")
            second = await client.get("/demo")
        assert first.status_code == 200
        tokens = [
            re.search(r'data-token="(sba_[^"]+)"', r.text).group(1)  # type: ignore[union-attr]
            for r in (first, second)
        ]
        assert tokens[0] != tokens[1]
        conversations = []
        for token in tokens:
            async with seed.http(token) as client:
                me = (await client.get("/api/v1/auth/me")).json()
            conversations.append(me["conversations"])
        assert conversations[0] == conversations[1]

        def count(conn: sqlite3.Connection) -> tuple[int, int, int]:
            return conn.execute(
                "SELECT (SELECT count(*) FROM contexts), (SELECT count(*) FROM conversations), "
                "(SELECT count(*) FROM messages)"
            ).fetchone()

        assert await seed.store.read(count) == (1, 1, 1)  # one context, one greeting


async def test_demo_is_off_unless_enabled(
    seed: Seed, settings: Settings, guard: trio.CancelScope
) -> None:
    with guard:
        seed.running.state.settings = dataclasses.replace(seed.running.state.settings, demo=False)
        async with seed.http() as client:
            response = await client.get("/demo")
        assert response.status_code == 404
        assert "SWITCHBOARD_DEMO=1" in response.text


# -- static checks of web/ ----------------------------------------------------------------------


def test_pages_reference_only_existing_assets() -> None:
    for name, asset in ASSETS.items():
        if not name.endswith(".html"):
            continue
        text = asset.body.decode()
        for ref in re.findall(r'(?:src|href)="/static/([^"]+)"', text):
            assert ref in ASSETS, f"{name} references /static/{ref}, which does not exist"
        assert "<script>" not in text, f"{name} has an inline script (the CSP forbids it)"
        assert "style=" not in text, f"{name} has an inline style (the CSP forbids it)"


def test_module_imports_resolve() -> None:
    for name, asset in ASSETS.items():
        if not name.startswith("js/"):
            continue
        folder = posixpath.dirname(name)
        for ref in re.findall(r'from "(\.[^"]+)"', asset.body.decode()):
            target = posixpath.normpath(posixpath.join(folder, ref))
            assert target in ASSETS, f"{name} imports {ref}, which does not exist"


def test_user_content_never_becomes_markup() -> None:
    """The XSS rule: no HTML parsing of strings anywhere in the browser code."""
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setAttribute\(\"style\""
    )
    for name, asset in ASSETS.items():
        if name.endswith(".js"):
            match = forbidden.search(asset.body.decode())
            assert match is None, f"{name} uses {match.group(0) if match else ''}"


def test_every_web_file_is_served() -> None:
    on_disk = {
        p.relative_to(WEB).as_posix()
        for p in WEB.rglob("*")
        if p.is_file() and p.suffix in CONTENT_TYPES
    }
    assert on_disk == set(ASSETS)
