"""The load test's clients: the websocket members run by each worker process.

A worker is started by ``loadtest.py`` with multiprocessing (spawn) at ``worker_entry``;
it connects, says hello and joins for each of its members, reports ``ready``, sends on
the parent's ``start`` and reports its counters and histograms as ``result``.
``plan_members`` and ``collect`` are the parent's side of that exchange.
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import random
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgpack
import trio
from loadtest_common import FD_MARGIN, READY_TIMEOUT, Histogram, LoadTestError, raise_fd_limit
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

# loadtest_common (imported above) has put the project root on sys.path.
from protocol.codec import MSGPACK
from protocol.frames import Hello, Join, Send

# -- clients (they run in the worker processes) ------------------------------------------------

#: Clients of one worker doing their websocket handshake, hello and join at once.
CONNECT_CONCURRENCY = 64
#: Seconds one client may take to connect, say hello and join.
CLIENT_CONNECT_TIMEOUT = 120.0
#: Unacked sends per member in rate mode before it counts as backlog and skips a send.
MAX_UNACKED = 1000
#: A rate-mode sender this far behind its schedule skips the missed slots (no bursts).
MAX_LAG = 1.0
#: Seconds without deliveries (and no unacked sends) that end the drain early.
QUIET = 0.5
#: Fraction of the server's advertised rate limit a client uses, to stay clear of it.
RATE_LIMIT_SHARE = 0.9
#: Seconds a worker waits for the parent's next instruction.
CONTROL_TIMEOUT = READY_TIMEOUT + 120.0
#: Seconds the clients get to close their sockets at the end.
CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Member:
    """One websocket client: a member of one conversation."""

    conversation: str
    name: str
    token: str


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process runs."""

    index: int
    url: str
    members: list[Member]
    rate: float
    body_bytes: int
    saturate: bool
    window: int
    idle: bool
    drain: float
    fd_needed: int


class Pacer:
    """Client-side token bucket that keeps a sender under the server's rate limit."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst / 2  # hello and join spent some of the server's bucket
        self.last = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await trio.sleep((1 - self.tokens) / self.rate)


class Client:
    """State of one member's connection."""

    __slots__ = ("member", "n", "pacer", "pad", "pending", "window", "ws")

    def __init__(self, member: Member, ws: WebSocketConnection, window: int, body: int) -> None:
        self.member = member
        self.ws = ws
        self.n = 0
        # The body is "<name> <send time> <padding>", padded to about ``body`` bytes.
        self.pad = "x" * max(1, body - len(member.name) - len(f" {time.monotonic():.6f} "))
        #: client_msg_id -> (send time, inside the measured window)
        self.pending: dict[str, tuple[float, bool]] = {}
        self.window = trio.Semaphore(window)
        self.pacer = Pacer(1e9, 1e9)


class JoinFailed(Exception):
    """The server answered hello or join with an error frame."""


def _frames(data: bytes | str) -> list[dict[str, Any]]:
    """Server frames of one websocket message, batches flattened.

    Plain ``msgpack.unpackb`` rather than the validating codec: the clients must not be
    the bottleneck, and the server's frames are checked by the protocol tests.
    """
    obj = msgpack.unpackb(data, raw=False)
    if obj.get("type") == "batch":
        return obj["frames"]  # type: ignore[no-any-return]
    return [obj]


class Worker:
    """The clients of one worker process and their counters."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.errors: Counter[str] = Counter()
        self.hist = {name: Histogram() for name in ("delivery", "ack", "send_lag")}
        self.totals: Counter[str] = Counter()
        self.sent_by: Counter[str] = Counter()
        self.joined_by: Counter[str] = Counter()
        self.clients: list[Client] = []
        self.gate = trio.Semaphore(CONNECT_CONCURRENCY)
        self.unsettled = len(plan.members)
        self.all_settled = trio.Event()
        if not plan.members:
            self.all_settled.set()
        self.started = trio.Event()
        self.finish = trio.Event()
        self.closing = False
        self.start = self.window_start = self.window_end = math.inf
        self.last_message = time.monotonic()

    def _settled(self) -> None:
        self.unsettled -= 1
        if self.unsettled == 0:
            self.all_settled.set()

    async def run_client(self, member: Member) -> None:
        phase = "connect"
        settled = False
        await self.gate.acquire()
        gate_held = True
        try:
            async with open_websocket_url(
                self.plan.url,
                subprotocols=[MSGPACK.subprotocol],
                max_message_size=1 << 20,
                message_queue_size=64,
                receive_buffer_size=65536,
                connect_timeout=CLIENT_CONNECT_TIMEOUT,
                disconnect_timeout=2,
            ) as ws:
                phase = "join"
                with trio.fail_after(CLIENT_CONNECT_TIMEOUT):
                    client = await self._handshake(member, ws)
                self.gate.release()
                gate_held = False
                self.clients.append(client)
                self.joined_by[member.conversation] += 1
                self._settled()
                settled = True
                phase = "run"
                await self.started.wait()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader, client)
                    if self.plan.saturate or (self.plan.rate > 0 and not self.plan.idle):
                        nursery.start_soon(self._sender, client)
                    await self.finish.wait()
                    nursery.cancel_scope.cancel()
        except Exception as exc:
            if not self.closing:
                self.errors[f"{phase}:{type(exc).__name__}"] += 1
        finally:
            if gate_held:
                self.gate.release()
            if not settled:
                self._settled()

    async def _handshake(self, member: Member, ws: WebSocketConnection) -> Client:
        await ws.send_message(MSGPACK.encode(Hello(token=member.token, client="loadtest")))
        limits: dict[str, int] = {}
        joined = False
        while True:
            for frame in _frames(await ws.get_message()):
                kind = frame.get("type")
                if kind == "error":
                    raise JoinFailed(frame.get("code"))
                if kind == "welcome":
                    limits = frame.get("limits", {})
                    await ws.send_message(MSGPACK.encode(Join(conversation=member.conversation)))
                elif kind == "history_end" and not joined:
                    client = Client(member, ws, self.plan.window, self.plan.body_bytes)
                    rate = limits.get("rate_per_second")
                    if rate:
                        client.pacer = Pacer(
                            rate * RATE_LIMIT_SHARE, max(1.0, limits.get("rate_burst", 1) / 2)
                        )
                    return client

    async def _reader(self, client: Client) -> None:
        ws = client.ws
        conversation = client.member.conversation
        delivery = self.hist["delivery"]
        ack = self.hist["ack"]
        totals = self.totals
        saturate = self.plan.saturate
        while True:
            try:
                data = await ws.get_message()
            except ConnectionClosed as exc:
                if not self.closing:
                    code = exc.reason.code if exc.reason is not None else "none"
                    self.errors[f"close:{code}"] += 1
                return
            now = time.monotonic()
            totals["frames"] += 1
            for frame in _frames(data):
                kind = frame.get("type")
                if kind == "message":
                    totals["messages"] += 1
                    self.last_message = now
                    try:
                        sent_at = float(frame["body"].split(" ", 2)[1])
                    except (IndexError, ValueError):
                        continue  # not one of ours (e.g. a system event)
                    if frame["conversation"] != conversation:
                        self.errors["wrong_conversation"] += 1
                    elif self.window_start <= sent_at < self.window_end:
                        totals["delivered"] += 1
                        delivery.add(max(0.0, now - sent_at))
                elif kind == "ack":
                    entry = client.pending.pop(frame["client_msg_id"], None)
                    if entry is not None:
                        if entry[1]:
                            totals["acked"] += 1
                            ack.add(now - entry[0])
                        if saturate:
                            client.window.release()
                elif kind == "error":
                    self.errors[f"error:{frame.get('code')}"] += 1
                    if client.pending.pop(frame.get("ref") or "", None) is not None and saturate:
                        client.window.release()

    async def _send_one(self, client: Client, scheduled: float | None) -> None:
        await client.pacer.take()
        stamp = f"{time.monotonic():.6f}"
        # Decide on the rounded time the receivers will read, so both sides agree on
        # which messages belong to the window (an exact sent x members count).
        now = float(stamp)
        in_window = self.window_start <= now < self.window_end
        if scheduled is not None and in_window:
            self.hist["send_lag"].add(max(0.0, now - scheduled))
        client.n += 1
        cmid = f"{client.member.name}-{client.n}"
        body = f"{client.member.name} {stamp} {client.pad}"
        client.pending[cmid] = (now, in_window)
        if in_window:
            self.totals["sent"] += 1
            self.sent_by[client.member.conversation] += 1
        else:
            self.totals["sent_outside_window"] += 1
        frame = Send(conversation=client.member.conversation, client_msg_id=cmid, body=body)
        await client.ws.send_message(MSGPACK.encode(frame))

    async def _sender(self, client: Client) -> None:
        try:
            with trio.move_on_after(max(0.0, self.window_end - time.monotonic())):
                if self.plan.saturate:
                    while True:
                        await client.window.acquire()
                        await self._send_one(client, None)
                interval = 1.0 / self.plan.rate
                # A random phase per member, so the room does not send in lockstep.
                slot = self.start + interval * random.random()
                while True:
                    await trio.sleep(max(0.0, slot - time.monotonic()))
                    behind = time.monotonic() - slot
                    if behind > MAX_LAG:
                        self.errors["client_behind_schedule"] += 1
                        slot += interval * math.ceil(behind / interval)
                        continue
                    if len(client.pending) >= MAX_UNACKED:
                        self.errors["backlog"] += 1
                    else:
                        await self._send_one(client, slot)
                    slot += interval
        except ConnectionClosed:
            pass  # the reader records the close code

    async def drain(self) -> None:
        """After the window: wait (bounded) for outstanding acks and in-flight deliveries."""
        deadline = time.monotonic() + self.plan.drain
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self.last_message >= QUIET
            if quiet and not any(c.pending for c in self.clients):
                return
            await trio.sleep(0.05)
        self.errors["drain_timeout"] += 1

    def report(self) -> dict[str, Any]:
        return {
            "hist": {name: h.state() for name, h in self.hist.items()},
            "errors": dict(self.errors),
            "totals": dict(self.totals),
            "sent_by_conversation": dict(self.sent_by),
            "joined_by_conversation": dict(self.joined_by),
        }


async def _control(control: Any) -> Any:
    """The parent's next instruction (read in a thread; bounded)."""
    return await trio.to_thread.run_sync(
        lambda: control.get(timeout=CONTROL_TIMEOUT), abandon_on_cancel=True
    )


async def _watch_parent(parent: int) -> None:
    """Exit when the load test process is gone (it was killed and cannot stop us)."""
    while True:
        await trio.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


async def _worker_main(plan: WorkerPlan, results: Any, control: Any) -> None:
    worker = Worker(plan)
    async with trio.open_nursery() as outer:
        outer.start_soon(_watch_parent, os.getppid())
        async with trio.open_nursery() as nursery:
            for member in plan.members:
                nursery.start_soon(worker.run_client, member)
            await worker.all_settled.wait()  # bounded: every client has its own timeout
            joined = {"joined": len(worker.clients), "errors": dict(worker.errors)}
            results.put(("ready", plan.index, joined))
            _, start, window_start, window_end = await _control(control)
            worker.start, worker.window_start, worker.window_end = start, window_start, window_end
            await trio.sleep(max(0.0, start - time.monotonic()))
            worker.started.set()
            await trio.sleep(max(0.0, window_start - time.monotonic()))
            cpu0 = time.process_time()
            await trio.sleep(max(0.0, window_end - time.monotonic()))
            if not plan.idle:
                await worker.drain()
            worker.totals["cpu_ms"] = round((time.process_time() - cpu0) * 1000)
            results.put(("result", plan.index, worker.report()))
            await _control(control)  # "finish": the parent has read the server's figures
            worker.closing = True
            worker.finish.set()
            nursery.cancel_scope.deadline = trio.current_time() + CLOSE_TIMEOUT
        outer.cancel_scope.cancel()


def worker_entry(plan: WorkerPlan, results: Any, control: Any) -> None:
    """Process entry point of a worker (multiprocessing, spawn)."""
    try:
        raise_fd_limit(plan.fd_needed)
        trio.run(_worker_main, plan, results, control)
    except Exception:
        results.put(("crash", plan.index, traceback.format_exc()))
        raise


# -- the parent's side ------------------------------------------------------------------------


def plan_members(
    args: argparse.Namespace, seeded: list[tuple[str, str]], staff_token: str, ws_url: str
) -> list[WorkerPlan]:
    """Spread the members round-robin over the workers (a room spans every worker)."""
    members = []
    for c, (conversation, attendee_token) in enumerate(seeded):
        for m in range(args.members):
            members.append(
                Member(
                    conversation=conversation,
                    name=f"c{c}m{m}",
                    token=attendee_token if m == 0 else staff_token,
                )
            )
    workers = max(1, min(args.workers, len(members)))
    return [
        WorkerPlan(
            index=w,
            url=ws_url,
            members=members[w::workers],
            rate=args.rate,
            body_bytes=args.body_bytes,
            saturate=args.saturate,
            window=args.window,
            idle=args.idle,
            drain=args.drain,
            fd_needed=len(members[w::workers]) + FD_MARGIN,
        )
        for w in range(workers)
    ]


def collect(
    results: Any, kind: str, count: int, timeout: float, procs: list[Any]
) -> dict[int, Any]:
    """Wait for ``count`` messages of ``kind`` from the workers (bounded)."""
    got: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LoadTestError(f"workers did not report {kind!r} within {timeout:.0f} s")
        try:
            msg = results.get(timeout=min(left, 1.0))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise LoadTestError(f"a worker died (exit codes {dead})") from None
            continue
        if msg[0] == "crash":
            raise LoadTestError(f"worker {msg[1]} crashed:\n{msg[2]}")
        if msg[0] == kind:
            got[msg[1]] = msg[2]
    return got
