#!/usr/bin/env python3
"""Durable acknowledged sends/s through the Store alone and through ConversationGroups.

No websockets: this measures the write path under the server's edges. A temporary
database is created, ``--conversations`` conversations are seeded, then ``--messages``
messages are posted by ``--concurrency`` concurrent callers, each waiting for its commit
(group commit shares one fsync among every write of a batch):

- ``store``: ``Store.write(records.insert_message)`` straight to the single writer;
- ``groups``: ``System.post(NewMessage)``, the path a websocket ``send`` takes (the group
  assigns the seq, pipelines the write, and answers after the commit).

It reports acknowledged sends/s, the process CPU time per acknowledged send (steadier on
a shared machine), the latency of each call (p50/p99), and the Store's statistics
(transactions, writes per transaction, largest batch). Bounded in count and time
(``--max-seconds``).

Example::

    .venv/bin/python scripts/bench_store.py --messages 50000 --concurrency 1000 --runs 3
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

import trio  # noqa: E402

from actors import contexts, directory, records  # noqa: E402
from actors.records import NewMessage  # noqa: E402
from actors.store import Store, Tx  # noqa: E402
from actors.system import System, SystemConfig  # noqa: E402
from protocol.frames import Participant  # noqa: E402

#: Upper bounds, so a typo cannot turn the benchmark into a disk filler.
MAX_MESSAGES = 1_000_000
MAX_CONCURRENCY = 10_000
MAX_SECONDS = 600.0
#: The author of every message (the Store does not check authors against users).
AUTHOR = Participant(kind="staff", id="us_bench", name="Bench")


def seed(tx: Tx, count: int) -> list[str]:
    """``count`` webinar conversations, each with one attendee, as the server makes them."""
    out = []
    for i in range(count):
        ctx = contexts.create_context(
            tx, kind="webinar", title=f"bench {i}", data={}, moderators=[],
            primary_moderator=None, external_id=None,
        )  # fmt: skip
        att = contexts.create_attendee(
            tx, context_id=ctx["id"], name=f"attendee {i}", email=None, external_id=None,
            channel="widget", token=directory.new_token("sba"), ttl_ms=3_600_000,
        )  # fmt: skip
        out.append(att["conversation"])
    return out


async def _drive(
    post: Any, conversations: list[str], messages: int, concurrency: int, max_seconds: float,
    body: str,
) -> tuple[int, float, list[float]]:  # fmt: skip
    """Run ``messages`` posts with ``concurrency`` callers; (acked, seconds, latencies)."""
    latencies: list[float] = []
    next_index = 0

    async def caller() -> None:
        nonlocal next_index
        while next_index < messages:
            i = next_index
            next_index += 1
            msg = NewMessage(
                conversation=conversations[i % len(conversations)], author=AUTHOR,
                kind="message", body=body, client_msg_id=f"m{i}",
            )  # fmt: skip
            t0 = time.perf_counter()
            await post(msg)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    with trio.move_on_after(max_seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(caller)
    return len(latencies), time.perf_counter() - start, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def bench_once(args: argparse.Namespace, mode: str, data_dir: Path) -> dict[str, Any]:
    """One run of one mode on a fresh database."""
    system = System(SystemConfig(database=data_dir / f"{mode}.db", synchronous=args.synchronous))
    store: Store = system.store
    body = "x" * args.body_bytes
    async with trio.open_nursery() as nursery:
        await nursery.start(system.run)
        conversations = await store.write(functools.partial(seed, count=args.conversations))
        if mode == "store":

            async def post(msg: NewMessage) -> Any:
                return await store.write(functools.partial(records.insert_message, msg=msg))

        else:
            post = system.post
        before = store.statistics()
        cpu0 = time.process_time()
        acked, seconds, latencies = await _drive(
            post, conversations, args.messages, args.concurrency, args.max_seconds, body
        )
        cpu = time.process_time() - cpu0
        after = store.statistics()
        nursery.cancel_scope.cancel()
    batches = after.batches - before.batches
    writes = after.writes - before.writes
    return {
        "mode": mode,
        "acked": acked,
        "seconds": round(seconds, 3),
        "acked_per_s": round(acked / seconds, 1) if seconds else 0.0,
        # CPU of the whole process (event loop and writer thread): steadier than wall time
        # on a shared machine; 1e6 / this is what one free core could do.
        "cpu_us_per_ack": round(cpu / acked * 1e6, 1) if acked else None,
        "latency_ms": {
            "p50": round(_pct(latencies, 0.5) * 1000, 2),
            "p99": round(_pct(latencies, 0.99) * 1000, 2),
        },
        "store": {
            "transactions": batches,
            "writes": writes,
            "writes_per_transaction": round(writes / batches, 1) if batches else 0.0,
            "largest_batch": after.largest_batch,
            "failed_writes": after.failed_writes - before.failed_writes,
        },
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=20_000, help="messages per run")
    p.add_argument("--concurrency", type=int, default=1000, help="concurrent callers")
    p.add_argument("--conversations", type=int, default=100, help="conversations to spread over")
    p.add_argument("--mode", choices=("store", "groups", "both"), default="both")
    p.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL",
                   help="SQLite synchronous mode (the server's default is FULL)")  # fmt: skip
    p.add_argument("--body-bytes", type=int, default=64)
    p.add_argument("--runs", type=int, default=1, help="runs per mode; the median is reported")
    p.add_argument("--max-seconds", type=float, default=60.0, help="time limit of one run")
    p.add_argument("--data-dir", type=Path, help="where the temporary databases go")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (
        1 <= args.messages <= MAX_MESSAGES
        and 1 <= args.concurrency <= MAX_CONCURRENCY
        and 1 <= args.conversations <= 10_000
        and 1 <= args.runs <= 20
        and 0 < args.max_seconds <= MAX_SECONDS
        and 1 <= args.body_bytes <= 16_000
    ):
        print("bench_store: an option is out of range (see --help)", file=sys.stderr)
        return 2
    modes = ["store", "groups"] if args.mode == "both" else [args.mode]
    data_dir = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.data_dir))
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    try:
        for run in range(args.runs):
            for mode in modes:
                result = trio.run(bench_once, args, mode, data_dir / f"run{run}")
                results[mode].append(result)
                if not args.json:
                    print(
                        f"{mode:6} run {run + 1}: {result['acked']} acked in {result['seconds']} s"
                        f" = {result['acked_per_s']:.0f}/s; {result['cpu_us_per_ack']} CPU us each;"
                        f" p50 {result['latency_ms']['p50']} ms,"
                        f" p99 {result['latency_ms']['p99']} ms;"
                        f" {result['store']['transactions']} transactions,"
                        f" {result['store']['writes_per_transaction']} writes each,"
                        f" largest {result['store']['largest_batch']}"
                    )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    medians = {
        mode: statistics.median(r["acked_per_s"] for r in runs) for mode, runs in results.items()
    }
    if args.json:
        print(json.dumps({"command": sys.argv, "runs": results, "median_acked_per_s": medians},
                         indent=2))  # fmt: skip
    else:
        for mode, value in medians.items():
            print(f"{mode:6} median of {args.runs}: {value:.0f} durable acknowledged sends/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
