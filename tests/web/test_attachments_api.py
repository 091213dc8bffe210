"""Attachments over REST: upload limits and allow-list, storage by hash, who may download,
and the websocket `send` that names an upload."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from protocol.frames import Ack, ErrorFrame, Join, MessageFrame, Send
from server.config import Settings
from tests.helpers import Seed, connect
from tests.web.test_browser_console import png

IMAGE = png(4, 4, (200, 30, 90))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_mapping(
        {
            "port": 0,
            "host": "127.0.0.1",
            "data_dir": tmp_path / "data",
            "sqlite_synchronous": "NORMAL",
            "attachment_max_bytes": 4096,
        }
    )


def files(name: str, data: bytes, content_type: str) -> dict[str, Any]:
    return {"file": (name, data, content_type)}


async def rows(seed: Seed) -> list[tuple[Any, ...]]:
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return conn.execute(
            "SELECT id, sha256, name, content_type, size, conversation_id, uploaded_by_kind "
            "FROM attachments ORDER BY created_at, id"
        ).fetchall()

    return await seed.store.read(read)


def stored_files(settings: Settings) -> list[str]:
    folder = settings.data_dir / "attachments"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_upload_store_by_hash_and_download(
    seed: Seed, settings: Settings, guard: trio.CancelScope
) -> None:
    with guard:
        context = await seed.context()
        ann = await seed.attendee(context["id"], "Ann")
        bob = await seed.attendee(context["id"], "Bob")
        _, staff = await seed.staff_token()
        url = f"/api/v1/conversations/{ann['conversation']}/attachments"
        async with seed.http(ann["token"]) as client:
            first = await client.post(url, files=files("../../shot.png", IMAGE, "image/png"))
            again = await client.post(url, files=files("shot.png", IMAGE, "image/png"))
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["name"] == "shot.png"  # no path survives
        assert body["content_type"] == "image/png"
        assert body["size"] == len(IMAGE)
        assert body["url"].endswith(f"/api/v1/attachments/{body['id']}")
        assert again.status_code == 201
        assert again.json()["id"] != body["id"]
        digest = hashlib.sha256(IMAGE).hexdigest()
        assert stored_files(settings) == [digest]  # one file for both, no temp files left
        assert [r[1] for r in await rows(seed)] == [digest, digest]
        assert (await rows(seed))[0][5:] == (ann["conversation"], "contact")

        download = f"/api/v1/attachments/{body['id']}"
        async with seed.http(ann["token"]) as client:
            got = await client.get(download)
            cached = await client.get(download, headers={"If-None-Match": got.headers["etag"]})
        assert got.status_code == 200
        assert got.content == IMAGE
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith('inline; filename="shot.png"')
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
        assert cached.status_code == 304
        async with seed.http(staff) as client:
            assert (await client.get(download)).content == IMAGE
        async with seed.http(bob["token"]) as client:
            other = await client.get(download)
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "not_found"
        async with seed.http() as client:
            assert (await client.get(download)).status_code == 401


async def test_text_files_are_downloads_not_pages(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        context = await seed.context()
        ann = await seed.attendee(context["id"])
        async with seed.http(ann["token"]) as client:
            made = await client.post(
                f"/api/v1/conversations/{ann['conversation']}/attachments",
                files=files("notes été.txt", b"hello\n", "text/plain; charset=utf-8"),
            )
            assert made.status_code == 201, made.text
            got = await client.get(f"/api/v1/attachments/{made.json()['id']}")
        assert got.headers["content-type"].startswith("text/plain")
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"notes _t_.txt\"; filename*=UTF-8''notes%20%C3%A9t%C3%A9.txt"
        )


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status", "code"),
    [
        ("big.png", IMAGE + b"\0" * 5000, "image/png", 413, "too_large"),
        ("page.html", b"<script>alert(1)</script>", "text/html", 415, "unsupported_type"),
        ("fake.png", b"<svg onload=alert(1)>", "image/png", 400, "bad_field"),
        ("empty.txt", b"", "text/plain", 400, "bad_field"),
    ],
)
async def test_refused_uploads_store_nothing(
    seed: Seed,
    settings: Settings,
    guard: trio.CancelScope,
    name: str,
    data: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    with guard:
        context = await seed.context()
        ann = await seed.attendee(context["id"])
        async with seed.http(ann["token"]) as client:
            response = await client.post(
                f"/api/v1/conversations/{ann['conversation']}/attachments",
                files=files(name, data, content_type),
            )
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert await rows(seed) == []
        assert stored_files(settings) == []


async def test_upload_needs_access_and_a_file(seed: Seed, guard: trio.CancelScope) -> None:
    with guard:
        context = await seed.context()
        ann = await seed.attendee(context["id"], "Ann")
        bob = await seed.attendee(context["id"], "Bob")
        _, staff = await seed.staff_token()
        ann_url = f"/api/v1/conversations/{ann['conversation']}/attachments"
        async with seed.http(bob["token"]) as client:
            forbidden = await client.post(ann_url, files=files("a.png", IMAGE, "image/png"))
        assert forbidden.status_code == 403
        async with seed.http(staff) as client:
            staff_ok = await client.post(ann_url, files=files("a.png", IMAGE, "image/png"))
            missing = await client.post(
                "/api/v1/conversations/cv_nope/attachments",
                files=files("a.png", IMAGE, "image/png"),
            )
            not_multipart = await client.post(ann_url, json={"file": "x"})
            no_file = await client.post(ann_url, data={"note": "x"}, files={"other": ("a", b"b")})
        assert staff_ok.status_code == 201
        assert (await rows(seed))[0][6] == "staff"
        assert missing.status_code == 404
        assert not_multipart.status_code == 400
        assert no_file.status_code == 400


async def test_send_frame_carries_an_uploaded_attachment(
    seed: Seed, guard: trio.CancelScope
) -> None:
    with guard:
        context = await seed.context()
        ann = await seed.attendee(context["id"], "Ann")
        bob = await seed.attendee(context["id"], "Bob")
        async with seed.http(ann["token"]) as client:
            made = await client.post(
                f"/api/v1/conversations/{ann['conversation']}/attachments",
                files=files("a.png", IMAGE, "image/png"),
            )
        attachment = made.json()
        conversation = ann["conversation"]
        json_protocol = "switchboard.v1.json"
        async with connect(seed.ws_url, ann["token"], subprotocol=json_protocol) as client:
            await client.send(Join(conversation=conversation))
            await client.send(
                Send(
                    conversation=conversation,
                    client_msg_id="m1",
                    body="",
                    attachments=(attachment["id"],),
                )
            )
            message, _ = await client.until(lambda f: isinstance(f, MessageFrame))
            ack, _ = await client.until(lambda f: isinstance(f, Ack))
        assert isinstance(message, MessageFrame)
        assert [a.id for a in message.attachments] == [attachment["id"]]
        assert message.attachments[0].url == attachment["url"]
        assert isinstance(ack, Ack)
        # Bob cannot attach Ann's upload to his own conversation.
        async with connect(seed.ws_url, bob["token"], subprotocol=json_protocol) as client:
            await client.send(
                Send(
                    conversation=bob["conversation"],
                    client_msg_id="m2",
                    body="look",
                    attachments=(attachment["id"],),
                )
            )
            error, _ = await client.until(lambda f: isinstance(f, ErrorFrame))
        assert isinstance(error, ErrorFrame)
        assert error.code == "bad_field"
