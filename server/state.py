"""AppState: what the HTTP and websocket edges share, created once and passed explicitly."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from actors import contexts
from actors.system import System
from protocol.errors import ErrorCode, RemoteProtocolError
from protocol.frames import Attachment
from server.config import Settings

#: Conversation ids known to exist, remembered so that joins and sends by staff do not
#: hit the database each time. Conversations are never deleted while the server runs.
_KNOWN_CONVERSATIONS_MAX = 100_000


@dataclass
class AppState:
    settings: Settings
    system: System
    sessions_open: int = 0
    _known: set[str] = field(default_factory=set)

    async def conversation_exists(self, conversation: str) -> bool:
        if conversation in self._known:
            return True
        exists = await self.system.store.read(
            functools.partial(contexts.conversation_exists, conversation=conversation)
        )
        if exists:
            if len(self._known) >= _KNOWN_CONVERSATIONS_MAX:
                self._known.clear()
            self._known.add(conversation)
        return exists

    def widget_origin_ok(self, origin: str) -> bool:
        """Token-authenticated sockets (the embeddable widget) may come from any origin
        unless ``allowed_origins`` is set, in which case only those and our own."""
        if not self.settings.allowed_origins:
            return True
        parts = urlsplit(origin)
        return f"{parts.scheme}://{parts.netloc}" in self.settings.allowed_origins

    async def attachments_for(
        self, conversation: str, ids: Sequence[str]
    ) -> tuple[Attachment, ...]:
        """Resolve uploaded attachment ids for a message in ``conversation``.

        Raises:
            RemoteProtocolError: an id is unknown or belongs to another conversation.
        """

        def load(conn: sqlite3.Connection) -> list[tuple[str, str, str, int, str | None]]:
            marks = ",".join("?" * len(ids))
            return conn.execute(
                f"SELECT id, name, content_type, size, conversation_id FROM attachments "
                f"WHERE id IN ({marks})",
                list(ids),
            ).fetchall()

        rows = {r[0]: r for r in await self.system.store.read(load)}
        result = []
        for attachment_id in ids:
            row = rows.get(attachment_id)
            if row is None or (row[4] is not None and row[4] != conversation):
                raise RemoteProtocolError(
                    ErrorCode.BAD_FIELD, f"send.attachments: unknown attachment {attachment_id}"
                )
            url = f"{self.settings.base_url}/api/v1/attachments/{row[0]}"
            result.append(
                Attachment(id=row[0], name=row[1], content_type=row[2], size=row[3], url=url)
            )
        return tuple(result)
