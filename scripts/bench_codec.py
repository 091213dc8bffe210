#!/usr/bin/env python3
"""Throughput of the two websocket codecs (JSON and msgpack): encode, decode, batch.

Pure CPU, no I/O: each operation runs ``--number`` times per repeat, ``--repeat`` times,
and the median is reported in operations/s and microseconds per operation. The frames
are the hot-path ones: a client ``send``, a server ``message`` (what every receiver of a
room gets) and a ``batch`` of ``--batch`` messages built by concatenation
(:meth:`Codec.encode_batch`, what a session writer does with whatever is queued).

Example::

    .venv/bin/python scripts/bench_codec.py --number 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from protocol.codec import JSON, MSGPACK, Codec  # noqa: E402
from protocol.frames import MessageFrame, Participant, Send  # noqa: E402

#: Upper bound of operations per repeat, so the benchmark always ends quickly.
MAX_NUMBER = 1_000_000


def frames(body_bytes: int) -> tuple[Send, MessageFrame]:
    body = "x" * body_bytes
    send = Send(conversation="cv_0123456789abcdef", client_msg_id="c12m3-42", body=body)
    message = MessageFrame(
        conversation="cv_0123456789abcdef",
        seq=12345,
        kind="message",
        author=Participant(kind="staff", id="us_0123456789abcdef", name="Agent Smith"),
        body=body,
        ts=1_790_000_000_000,
        client_msg_id="c12m3-42",
    )
    return send, message


def operations(codec: Codec, body_bytes: int, batch: int) -> dict[str, Callable[[], Any]]:
    send, message = frames(body_bytes)
    send_data = codec.encode(send)
    message_data = codec.encode(message)
    members = [message_data] * batch
    batch_data = codec.encode_batch(members)
    return {
        "encode send": lambda: codec.encode(send),
        "decode send (server side)": lambda: codec.decode_client(send_data),
        "encode message": lambda: codec.encode(message),
        "decode message (client side)": lambda: codec.decode_server(message_data),
        f"encode_batch of {batch}": lambda: codec.encode_batch(members),
        f"decode batch of {batch}": lambda: codec.decode_server(batch_data),
        # The parser alone, without the field validation (what scripts/loadtest.py does).
        f"parse only, batch of {batch}": lambda: codec._loads(batch_data),
    }


def measure(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Median seconds per call."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--number", type=int, default=20_000, help="calls per repeat")
    p.add_argument("--repeat", type=int, default=5, help="repeats; the median is reported")
    p.add_argument("--body-bytes", type=int, default=64, help="message body size")
    p.add_argument("--batch", type=int, default=50, help="messages per batch frame")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if not (1 <= args.number <= MAX_NUMBER and 1 <= args.repeat <= 50
            and 1 <= args.body_bytes <= 16_000 and 1 <= args.batch <= 256):  # fmt: skip
        print("bench_codec: an option is out of range (see --help)", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    for codec in (MSGPACK, JSON):
        for name, fn in operations(codec, args.body_bytes, args.batch).items():
            seconds = measure(fn, args.number, args.repeat)
            results.append(
                {"codec": codec.subprotocol, "operation": name,
                 "ops_per_s": round(1 / seconds), "us_per_op": round(seconds * 1e6, 2)}
            )  # fmt: skip
    if args.json:
        print(json.dumps({"command": sys.argv, "results": results}, indent=2))
        return 0
    print(f"{'codec':24} {'operation':30} {'ops/s':>12} {'us/op':>9}")
    for r in results:
        print(f"{r['codec']:24} {r['operation']:30} {r['ops_per_s']:>12,} {r['us_per_op']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
