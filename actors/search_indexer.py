"""SearchIndexer: keeps the full-text index (messages_fts) current, off the commit path.

Indexing a message inside its own transaction (an FTS5 trigger) costs about 70 us per
message on the writer, two thirds of a message write; indexing many rows in one
``INSERT ... SELECT`` costs about 1.5 us each. So messages are committed unindexed and
this consumer indexes everything above a durable watermark (``cursors`` row
``search_index``, a ``messages.id``) in batches, in the same transaction that moves the
watermark: exactly once, and resumed after a crash. A search first runs the same
catch-up (:func:`index_new_messages`, a no-op when current), so it never misses a
message that was acknowledged before it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from actors.store import Store, StoredEvent, Tx

log = logging.getLogger(__name__)

#: The cursors row holding the highest messages.id that is indexed.
WATERMARK = "search_index"
#: Rows indexed per transaction: keeps one batch well under a few milliseconds.
BATCH_ROWS = 5000


def index_new_messages(tx: Tx, limit: int = BATCH_ROWS) -> int:
    """Index up to ``limit`` messages above the watermark; return how many ids it covered."""
    row = tx.execute("SELECT event_id FROM cursors WHERE name = ?", (WATERMARK,)).fetchone()
    done = 0 if row is None else int(row[0])
    top = int(tx.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])
    if top <= done:
        return 0
    upto = min(top, done + limit)
    tx.execute(
        "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages "
        "WHERE id > ? AND id <= ? ORDER BY id",
        (done, upto),
    )
    tx.execute(
        "INSERT INTO cursors (name, event_id) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id",
        (WATERMARK, upto),
    )
    return upto - done


async def catch_up(store: Store) -> None:
    """Index everything committed so far (searches call this first)."""
    while await store.write(index_new_messages) >= BATCH_ROWS:
        pass


class SearchIndexer:
    """The event-log consumer that runs :func:`catch_up` when messages were posted."""

    name = WATERMARK
    #: Its progress is the watermark, not an event cursor, so it need not replay events.
    live_only = True

    def __init__(self, store: Store) -> None:
        self._store = store

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        if any(event.type == "message.posted" for event in events):
            await catch_up(self._store)
