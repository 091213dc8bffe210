"""The Store: the only SQLite writer, with group commit and the event-log wake-up.

Every write of the process goes through one Store. Callers hand it a function that runs
inside a transaction on the writer connection; the Store drains everything queued while
the previous transaction ran and commits it all at once (group commit), so the cost of a
durable commit (one WAL fsync with ``synchronous=FULL``) is shared by every write in the
batch. Each write runs inside its own SAVEPOINT: one failing write is rolled back and
reported to its caller alone, the others in the batch still commit.

Reads use a small pool of read-only connections. Every sqlite call runs in a worker
thread (``trio.to_thread.run_sync``), never on the event loop.

Writes may append domain events to the append-only ``events`` table through
:meth:`Tx.append_event`. After each commit the Store publishes the highest event id and
wakes the event-log consumers waiting in :meth:`Store.wait_for_event`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import outcome
import trio

from actors import schema

log = logging.getLogger(__name__)

R = TypeVar("R")

#: Most writes committed in one transaction; bounds the latency of the first write in a
#: batch and the time the writer thread holds the GIL in one go.
BATCH_MAX = 1024
#: Queued writes before submitters wait: backpressure instead of unbounded memory.
INBOX_SIZE = 8192
#: Read-only connections; two cores, so more would only contend for the GIL.
READERS = 4


class StoreError(Exception):
    """The database refused a whole transaction (disk full, I/O error, corruption)."""


class StoredEvent:
    """One row of the event log as consumers see it.

    The payload is decoded on first use: most consumers look only at the type and the
    conversation of most events, and JSON decoding was their largest cost.
    """

    __slots__ = ("_payload", "_raw", "conversation", "id", "ts", "type")

    def __init__(self, id: int, type: str, conversation: str | None, raw: str, ts: int) -> None:
        self.id = id
        self.type = type
        self.conversation = conversation
        self._raw = raw
        self._payload: dict[str, Any] | None = None
        self.ts = ts

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            self._payload = json.loads(self._raw)
        return self._payload

    def __repr__(self) -> str:
        return f"StoredEvent(id={self.id}, type={self.type!r}, conversation={self.conversation!r})"


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    """A snapshot of the Store's counters."""

    batches: int
    writes: int
    failed_writes: int
    largest_batch: int
    queued: int
    last_event_id: int


class Tx:
    """The handle a write function receives: the writer connection plus the event log.

    Only valid inside the write function it was passed to.
    """

    __slots__ = ("conn", "max_event_id", "now_ms")

    def __init__(self, conn: sqlite3.Connection, now_ms: int) -> None:
        self.conn = conn
        self.max_event_id = 0
        #: One timestamp for the whole batch: cheap, and events of a batch sort together.
        self.now_ms = now_ms

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def append_event(self, type_: str, conversation: str | None, payload: dict[str, Any]) -> int:
        """Append one domain event to the log and return its id."""
        cur = self.conn.execute(
            "INSERT INTO events (type, conversation_id, payload, ts) VALUES (?, ?, ?, ?)",
            (type_, conversation, json.dumps(payload, separators=(",", ":")), self.now_ms),
        )
        event_id = cur.lastrowid
        assert event_id is not None
        if event_id > self.max_event_id:
            self.max_event_id = event_id
        return event_id


#: Applies a run of writes of one kind at once; returns one outcome per item, in order.
BatchFn = Callable[[Tx, list[Any]], list[outcome.Outcome[Any]]]


@dataclass(slots=True)
class _Write(Generic[R]):
    fn: Callable[[Tx], R]
    on_done: Callable[[outcome.Outcome[R]], None]
    #: Optional fast path: consecutive writes with the same ``batch`` run as one call.
    batch: BatchFn | None = None
    item: Any = None


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (what the wire calls ``ts``)."""
    return time.time_ns() // 1_000_000


def connect(path: Path, *, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the pragmas every Switchboard connection uses.

    Autocommit mode (``isolation_level=None``): transactions are explicit.
    ``check_same_thread=False`` because trio's worker threads change between calls; the
    Store's limiters make sure one connection is never used by two threads at once.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


class Store:
    """The single writer of the database (see module docstring).

    Args:
        path: the SQLite file; its folder is created when missing.
        synchronous: ``FULL`` (default: an acknowledged write survives power loss) or
            ``NORMAL`` (survives a crash of the process, not of the machine).
    """

    def __init__(
        self, path: Path, *, synchronous: str = "FULL", clock: Callable[[], int] = now_ms
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = path
        self._synchronous = synchronous
        #: Milliseconds since the epoch, read on the trio thread once per transaction
        #: (``Tx.now_ms``). Tests of timers pass one driven by trio's MockClock.
        self.clock = clock
        self._send, self._inbox = trio.open_memory_channel[_Write[Any]](INBOX_SIZE)
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._read_limiter = trio.CapacityLimiter(READERS)
        self._write_limiter = trio.CapacityLimiter(1)
        self._last_event_id = 0
        self._event_waiters = trio.Event()
        self._batches = 0
        self._writes = 0
        self._failed = 0
        self._largest = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Store] = trio.TASK_STATUS_IGNORED) -> None:
        """Open and migrate the database, then commit batches until cancelled."""
        await trio.to_thread.run_sync(self._open)
        try:
            task_status.started(self)
            while True:
                first = await self._inbox.receive()
                batch: list[_Write[Any]] = [first]
                while len(batch) < BATCH_MAX:
                    try:
                        batch.append(self._inbox.receive_nowait())
                    except trio.WouldBlock:
                        break
                # Not cancellable on purpose: a batch that started must finish and report.
                results, max_event_id = await trio.to_thread.run_sync(
                    self._apply, batch, self.clock(), limiter=self._write_limiter
                )
                if max_event_id > self._last_event_id:
                    self._last_event_id = max_event_id
                    self._event_waiters.set()
                    self._event_waiters = trio.Event()
                for write, result in zip(batch, results, strict=True):
                    try:
                        write.on_done(result)
                    except Exception:
                        log.exception("store.on_done_failed")
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._close)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = connect(self.path, synchronous=self._synchronous)
        try:
            schema.migrate(writer)
        except Exception:
            writer.close()
            raise
        self._writer = writer
        self._readers = [connect(self.path, readonly=True) for _ in range(READERS)]
        row = writer.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        self._last_event_id = int(row[0])
        log.info("store.open path=%s last_event_id=%d", self.path, self._last_event_id)

    def _close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._readers = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- writing -----------------------------------------------------------------------

    async def submit(
        self,
        fn: Callable[[Tx], R],
        on_done: Callable[[outcome.Outcome[R]], None],
        *,
        batch: BatchFn | None = None,
        item: Any = None,
    ) -> None:
        """Queue a write without waiting for its commit (pipelining).

        ``on_done`` is called on the trio thread right after the batch holding this write
        committed (or failed). It must be quick and must not block (e.g. a ``send_nowait``
        into a channel with room reserved for it).

        ``batch`` and ``item``: a fast path. Consecutive writes in one transaction that
        share the same ``batch`` function are applied by one call ``batch(tx, items)``
        instead of one ``fn`` each; if that call raises, it is rolled back and every write
        runs its own ``fn`` instead, so ``fn`` must do the same work for its item.
        """
        await self._send.send(_Write(fn, on_done, batch, item))

    async def write(self, fn: Callable[[Tx], R]) -> R:
        """Run ``fn`` inside the next group-committed transaction and return its result.

        Raises:
            whatever ``fn`` raised (its savepoint was rolled back, nothing it wrote stays);
            StoreError when the whole transaction failed.
        """
        send, receive = trio.open_memory_channel[outcome.Outcome[R]](1)

        def done(result: outcome.Outcome[R]) -> None:
            try:
                send.send_nowait(result)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass  # the caller was cancelled; the write committed (or failed) regardless

        await self.submit(fn, done)
        async with receive:
            result = await receive.receive()
        return result.unwrap()

    def _apply(self, batch: list[_Write[Any]], now: int) -> tuple[list[outcome.Outcome[Any]], int]:
        conn = self._writer
        assert conn is not None, "store is not open"
        tx = Tx(conn, now)
        results: list[outcome.Outcome[Any]] = []
        failed = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            index = 0
            while index < len(batch):
                write = batch[index]
                end = index + 1
                if write.batch is not None:
                    while end < len(batch) and batch[end].batch is write.batch:
                        end += 1
                if end - index > 1 and self._apply_run(tx, batch[index:end], results):
                    index = end
                    continue
                for single in batch[index:end]:
                    failed += self._apply_one(tx, single, results)
                index = end
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("store.commit_failed batch=%d", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StoreError(f"the database refused the transaction: {exc}")
            return [outcome.Error(error) for _ in batch], 0
        self._batches += 1
        self._writes += len(batch)
        self._failed += failed
        self._largest = max(self._largest, len(batch))
        return results, tx.max_event_id

    @staticmethod
    def _apply_one(tx: Tx, write: _Write[Any], results: list[outcome.Outcome[Any]]) -> int:
        """Run one write in its own savepoint; return 1 if it failed."""
        conn = tx.conn
        conn.execute("SAVEPOINT w")
        # Events of a write that is rolled back were never committed: forget them.
        mark = tx.max_event_id
        try:
            value = write.fn(tx)
        except Exception as exc:
            conn.execute("ROLLBACK TO w")
            conn.execute("RELEASE w")
            tx.max_event_id = mark
            results.append(outcome.Error(exc))
            return 1
        conn.execute("RELEASE w")
        results.append(outcome.Value(value))
        return 0

    @staticmethod
    def _apply_run(tx: Tx, run: list[_Write[Any]], results: list[outcome.Outcome[Any]]) -> bool:
        """Apply a run of same-kind writes with one batch call; False means "do them one
        by one" (the call raised, and everything it did was rolled back)."""
        batch_fn = run[0].batch
        assert batch_fn is not None
        conn = tx.conn
        conn.execute("SAVEPOINT run")
        mark = tx.max_event_id
        try:
            outcomes = batch_fn(tx, [write.item for write in run])
            if len(outcomes) != len(run):
                raise RuntimeError(f"batch gave {len(outcomes)} outcomes for {len(run)} writes")
        except Exception:
            log.exception("store.batch_failed size=%d; applying one by one", len(run))
            conn.execute("ROLLBACK TO run")
            conn.execute("RELEASE run")
            tx.max_event_id = mark
            return False
        conn.execute("RELEASE run")
        results.extend(outcomes)
        return True

    # -- reading -----------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``fn`` on a read-only connection in a worker thread and return its result."""
        async with self._read_limiter:
            conn = self._readers.pop()
            try:
                return await trio.to_thread.run_sync(fn, conn)
            finally:
                self._readers.append(conn)

    # -- event log ---------------------------------------------------------------------

    @property
    def last_event_id(self) -> int:
        """The id of the newest committed event."""
        return self._last_event_id

    async def wait_for_event(self, after: int) -> int:
        """Return the newest event id once it is greater than ``after``."""
        while self._last_event_id <= after:
            await self._event_waiters.wait()
        return self._last_event_id

    def statistics(self) -> StoreStatistics:
        return StoreStatistics(
            batches=self._batches,
            writes=self._writes,
            failed_writes=self._failed,
            largest_batch=self._largest,
            queued=self._inbox.statistics().current_buffer_used,
            last_event_id=self._last_event_id,
        )
