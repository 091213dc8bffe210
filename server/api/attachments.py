"""Attachments: upload to a conversation, download by id.

``POST /api/v1/conversations/<conversation_id>/attachments`` takes one file as
``multipart/form-data`` (field ``file``) from staff or from an attendee token scoped to
that conversation. The body is parsed as it streams in (werkzeug's sans-IO multipart
decoder): the declared type is checked against the ``attachment_types`` allow-list before
a byte is stored, the size against ``attachment_max_bytes`` while it arrives, and the
bytes go to a temporary file in a worker thread while they are hashed. The finished file
is renamed to ``data_dir/attachments/<sha256>`` (so identical uploads share one file) and
its metadata is written to the ``attachments`` table. The websocket ``send`` frame then
names the attachment by id (``AppState.attachments_for``).

``GET /api/v1/attachments/<attachment_id>`` serves the file to identities that may see
its conversation: staff, or an attendee token for that conversation. Anyone else gets
404, whether or not the id exists.

Error handling: a refused upload leaves nothing behind (the temporary file is removed in
every case, cancellation included); a file whose content does not match its declared
image/PDF type is refused, so the stored type can be trusted when it is served.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import trio
from quart import Blueprint, Response, request
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from actors import directory
from actors.directory import Principal
from actors.store import Tx
from server.http import ApiError, app_state, bad_request, not_found, principal, requires
from server.state import AppState

log = logging.getLogger(__name__)

blueprint = Blueprint("attachments", __name__, url_prefix="/api/v1")

#: Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
#: Form parts per upload: one file plus a few small fields at most.
MAX_PARTS = 8
#: Chunk size for reading a stored file back to a client.
READ_CHUNK = 64 * 1024
#: File names are shown to people; the protocol allows 256 characters.
MAX_FILENAME = 256
#: Leading bytes of the types whose content we can recognise. A file declared as one of
#: these must start with one of its signatures (webp is checked separately: RIFF....WEBP).
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
#: Types a browser may show in place (images it renders without running anything);
#: everything else is served as a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: Nothing in a served file may run or load anything, even if a browser is talked into
#: rendering it as a document.
ATTACHMENT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def storage_dir(state: AppState) -> Path:
    return state.settings.data_dir / "attachments"


def upload_limit(max_bytes: int) -> int:
    """The largest request body an upload of ``max_bytes`` may need."""
    return max_bytes + MULTIPART_OVERHEAD


def clean_filename(raw: str | None) -> str:
    """A display-safe file name: no path, no control characters, at most 256 characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip().lstrip(".")
    return name[:MAX_FILENAME] or "file"


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether the first bytes of a file fit its declared type (unknown types pass)."""
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    signatures = SIGNATURES.get(content_type)
    return signatures is None or head.startswith(signatures)


def may_see(who: Principal, conversation: str | None) -> bool:
    """Staff see every conversation; an attendee token only its own."""
    if who.kind == "staff":
        return True
    return (
        conversation is not None
        and who.conversations is not None
        and (conversation in who.conversations)
    )


class _Spool:
    """A temporary file in the attachments folder, written from worker threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"tmp-{secrets.token_hex(8)}"
        self.hash = hashlib.sha256()
        self.size = 0
        self.head = b""
        self._fh: IO[bytes] | None = None

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("xb")

    async def open(self) -> None:
        await trio.to_thread.run_sync(self._open)

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self.hash.update(data)
        self.size += len(data)
        if len(self.head) < 16:
            self.head = (self.head + data)[:16]
        assert self._fh is not None
        await trio.to_thread.run_sync(self._fh.write, data)

    def _finish(self) -> str:
        """Flush, fsync and move to ``<sha256>``; drop the copy if that file exists."""
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        digest = self.hash.hexdigest()
        final = self.folder / digest
        if final.exists():
            self.path.unlink()
        else:
            os.replace(self.path, final)
        return digest

    async def finish(self) -> str:
        return await trio.to_thread.run_sync(self._finish)

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.path.unlink(missing_ok=True)

    async def discard(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._discard)


class _Upload:
    """Feeds the request body to werkzeug's multipart decoder and spools the file part."""

    def __init__(self, state: AppState, boundary: bytes) -> None:
        self.state = state
        self.allowed = {t.lower() for t in state.settings.attachment_types}
        self.decoder = MultipartDecoder(boundary, 64 * 1024, max_parts=MAX_PARTS)
        self.spool: _Spool | None = None
        self.name = ""
        self.content_type = ""
        self.done = False
        self._in_file = False

    async def feed(self, chunk: bytes | None) -> None:
        """Handle one chunk of the body (None: the body has ended).

        Raises:
            ApiError: 400, 413 or 415 (see :func:`_receive_file`).
            ValueError: the body is not valid multipart.
        """
        self.decoder.receive_data(chunk)
        event = self.decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, Epilogue):
                self.done = True
                return
            if isinstance(event, File):
                await self._start_file(event)
            elif isinstance(event, Field):
                self._in_file = False
            elif isinstance(event, Data) and self._in_file and self.spool is not None:
                await self.spool.write(event.data)
                limit = self.state.settings.attachment_max_bytes
                if self.spool.size > limit:
                    raise ApiError(413, "too_large", f"the file is larger than {limit} bytes")
            event = self.decoder.next_event()

    async def _start_file(self, event: File) -> None:
        if event.name != "file" or self.spool is not None:
            raise bad_request("send exactly one file, in the form field named file")
        header = event.headers.get("content-type", "application/octet-stream")
        self.content_type = parse_options_header(header)[0].lower()
        if self.content_type not in self.allowed:
            raise ApiError(
                415,
                "unsupported_type",
                f"attachments of type {self.content_type} are not accepted; allowed: "
                f"{', '.join(sorted(self.allowed))}",
            )
        self.name = clean_filename(event.filename)
        self.spool = _Spool(storage_dir(self.state))
        await self.spool.open()
        self._in_file = True


async def _receive_file(state: AppState, boundary: bytes) -> tuple[str, str, _Spool]:
    """Stream the multipart body into a spool; return (file name, content type, spool).

    Raises:
        ApiError: 400 for a malformed form or a missing file, 413 when the file is over
            the limit, 415 when its type is not allowed.
    """
    upload = _Upload(state, boundary)
    kept = False
    try:
        async for chunk in request.body:
            await upload.feed(chunk)
        await upload.feed(None)
        spool = upload.spool
        if spool is None:
            raise bad_request("file is required (multipart/form-data field file)", "missing_field")
        if not upload.done:
            raise bad_request("the multipart body ended early")
        if spool.size == 0:
            raise bad_request("file is empty")
        if not content_matches(upload.content_type, spool.head):
            raise bad_request(f"the file's content is not {upload.content_type}")
        kept = True
    except ValueError as exc:  # werkzeug's decoder: the body is not valid multipart
        raise bad_request(f"malformed multipart body: {exc}") from None
    finally:
        # Refused, failed or cancelled: the half-written file must not stay behind.
        if not kept and upload.spool is not None:
            await upload.spool.discard()
    return upload.name, upload.content_type, spool


def _insert(
    tx: Tx,
    attachment_id: str,
    sha256: str,
    name: str,
    content_type: str,
    size: int,
    conversation: str,
    who: Principal,
) -> None:
    tx.execute(
        "INSERT INTO attachments (id, sha256, name, content_type, size, conversation_id, "
        "uploaded_by_kind, uploaded_by_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            attachment_id,
            sha256,
            name,
            content_type,
            size,
            conversation,
            who.kind,
            who.id,
            tx.now_ms,
        ),
    )


@blueprint.post("/conversations/<conversation_id>/attachments")
@requires("any")
async def upload(conversation_id: str) -> tuple[dict[str, Any], int]:
    """Store one uploaded file for ``conversation_id``; answer its Attachment."""
    state = app_state()
    who = principal()
    if who.kind != "staff" and not may_see(who, conversation_id):
        raise ApiError(403, "forbidden", f"this token may not use conversation {conversation_id}")
    if not await state.conversation_exists(conversation_id):
        raise not_found(f"conversation {conversation_id} does not exist")
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise bad_request("send the file as multipart/form-data in a field named file")
    limit = state.settings.attachment_max_bytes
    if request.content_length is not None and request.content_length > upload_limit(limit):
        raise ApiError(413, "too_large", f"the file is larger than {limit} bytes")
    name, content_type, spool = await _receive_file(state, boundary.encode("latin-1"))
    finished = False
    try:
        sha256 = await spool.finish()
        finished = True
    finally:
        if not finished:
            await spool.discard()
    attachment_id = directory.new_id("at")
    await state.system.store.write(
        functools.partial(
            _insert,
            attachment_id=attachment_id,
            sha256=sha256,
            name=name,
            content_type=content_type,
            size=spool.size,
            conversation=conversation_id,
            who=who,
        )
    )
    log.info(
        "attachment.stored id=%s conversation=%s size=%d type=%s",
        attachment_id,
        conversation_id,
        spool.size,
        content_type,
    )
    return {
        "id": attachment_id,
        "name": name,
        "content_type": content_type,
        "size": spool.size,
        "url": f"{state.settings.base_url}/api/v1/attachments/{attachment_id}",
    }, 201


def _row(conn: sqlite3.Connection, attachment_id: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT sha256, name, content_type, size, conversation_id FROM attachments WHERE id = ?",
        (attachment_id,),
    ).fetchone()
    return row


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    fh = await trio.to_thread.run_sync(path.open, "rb")
    try:
        while True:
            data = await trio.to_thread.run_sync(fh.read, READ_CHUNK)
            if not data:
                return
            yield data
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(fh.close)


def content_disposition(name: str, content_type: str) -> str:
    """``inline`` for images a browser shows safely, ``attachment`` for the rest."""
    kind = "inline" if content_type in INLINE_TYPES else "attachment"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@blueprint.get("/attachments/<attachment_id>")
@requires("any")
async def download(attachment_id: str) -> Response:
    """Serve a stored attachment to someone who may see its conversation."""
    state = app_state()
    row = await state.system.store.read(functools.partial(_row, attachment_id=attachment_id))
    if row is None or not may_see(principal(), row[4]):
        raise not_found(f"attachment {attachment_id} does not exist")
    sha256, name, content_type, size, _ = row
    etag = f'"{sha256}"'
    headers = {
        "Content-Disposition": content_disposition(name, content_type),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": ATTACHMENT_CSP,
        "Cache-Control": "private, max-age=86400",
        "ETag": etag,
    }
    if request.headers.get("If-None-Match") == etag:
        return Response(b"", status=304, headers=headers)
    path = storage_dir(state) / sha256
    if not await trio.to_thread.run_sync(path.is_file):
        log.error("attachment.missing id=%s sha256=%s", attachment_id, sha256)
        raise not_found(f"the file of attachment {attachment_id} is missing on the server")
    headers["Content-Length"] = str(size)
    return Response(_chunks(path), status=200, headers=headers, content_type=content_type)
