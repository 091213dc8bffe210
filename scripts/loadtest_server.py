"""The server the load test starts when it is given no ``--url``, and the seeding.

``OwnServer`` runs ``python -m server serve`` on a temporary data dir with a throwaway
admin and reads its CPU time and memory from /proc; ``seed_rest`` and ``seed_direct``
create one webinar conversation with one attendee per load test conversation.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from loadtest_common import ROOT, LoadTestError

#: Seconds to wait for the server to print its URL.
SERVER_START_TIMEOUT = 60.0
#: prctl option: signal a child when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Concurrent REST requests while seeding.
SEED_CONCURRENCY = 8
#: Output of the server's logs (we start it with WARNING to keep logging off the hot path).
SERVER_LOG_LEVEL = "WARNING"
ADMIN_EMAIL = "loadtest@example.com"
#: A throwaway admin in a throwaway database (temp dir, deleted afterwards).
ADMIN_PASSWORD = "loadtest-password"


# -- the server we start ------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the server child: get SIGTERM when the load test dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads) in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OwnServer:
    """A ``python -m server serve`` subprocess on a temporary data dir, with an admin token."""

    def __init__(self, env_overrides: dict[str, str], keep: bool) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="switchboard-load-"))
        self.keep = keep
        self.env = {**os.environ, "SWITCHBOARD_LOG_LEVEL": SERVER_LOG_LEVEL, **env_overrides}
        self.env.pop("SWITCHBOARD_CONFIG", None)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.token = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _cli(self, *args: str, stdin: str = "") -> str:
        cmd = [sys.executable, "-m", "server", *args, "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.env,
            timeout=SERVER_START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise LoadTestError(f"{shlex.join(args[:1])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def start(self) -> None:
        self._cli(
            "create-user",
            "--email",
            ADMIN_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )
        self.token = self._cli("token", "--email", ADMIN_EMAIL, "--name", "loadtest").split()[0]
        log = open(self.data_dir / "server.log", "w")  # lives as long as the server
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
            preexec_fn=_die_with_parent,
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:  # keep reading so the pipe never fills up
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if line.startswith("Switchboard listening on "):
                self.url = line.split()[-1].strip()
                return
        raise LoadTestError(f"the server did not start; see {self.data_dir / 'server.log'}")

    def cpu(self) -> float:
        return _proc_cpu(self.pid)

    def memory(self) -> dict[str, int]:
        return _proc_status(self.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# -- seeding -----------------------------------------------------------------------------------


def seed_rest(base_url: str, token: str, count: int) -> list[tuple[str, str]]:
    """One webinar context and one attendee per conversation: [(conversation, attendee token)]."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:

        def one(i: int) -> tuple[str, str]:
            r = http.post(
                "/api/v1/contexts", json={"kind": "webinar", "title": f"load {i}", "data": {}}
            )
            if r.status_code == 404:
                raise LoadTestError("the server has no POST /api/v1/contexts (404)")
            r.raise_for_status()
            body = r.json()
            context = body.get("id") or body["context"]["id"]
            r = http.post(f"/api/v1/contexts/{context}/attendees", json={"name": f"attendee {i}"})
            r.raise_for_status()
            body = r.json()
            return body["conversation"], body["token"]

        with ThreadPoolExecutor(SEED_CONCURRENCY) as pool:
            return list(pool.map(one, range(count)))


def seed_direct(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """The same through the Store on the server's database (only for a server we started)."""
    import trio

    from actors import contexts, directory
    from actors.store import Store, Tx
    from server.config import Settings

    path = Settings.load(overrides={"data_dir": data_dir}).database_path

    def create(tx: Tx) -> list[tuple[str, str]]:
        out = []
        for i in range(count):
            ctx = contexts.create_context(
                tx,
                kind="webinar",
                title=f"load {i}",
                data={},
                moderators=[],
                primary_moderator=None,
                external_id=None,
            )
            att = contexts.create_attendee(
                tx,
                context_id=ctx["id"],
                name=f"attendee {i}",
                email=None,
                external_id=None,
                channel="widget",
                token=directory.new_token("sba"),
                ttl_ms=86_400_000,
            )
            out.append((att["conversation"], att["token"]))
        return out

    async def main() -> list[tuple[str, str]]:
        store = Store(path)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            result = await store.write(create)
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)
