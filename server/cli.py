"""The ``switchboard`` command: serve, demo, migrate, create-user, token.

Every subcommand reads the same Settings (environment, ``--config`` TOML file). Output
meant for people goes to stdout; ``serve`` prints one line with the URL once it accepts
connections, which scripts and tests wait for.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import getpass
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import outcome
import trio

from actors import directory, schema
from actors.store import Store, connect
from server.auth import hash_password
from server.config import Settings, SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings.load(config_file=args.config, overrides=overrides)


async def _with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    store = Store(settings.database_path, synchronous=settings.sqlite_synchronous)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        # Captured so that a refusal (Conflict, NotFound) reaches main() as itself, not
        # wrapped in the nursery's ExceptionGroup.
        result = await outcome.acapture(fn, store)
        nursery.cancel_scope.cancel()
    return result.unwrap()


#: Collector thresholds for a long-running server. With the defaults (700, 10, 10) a busy
#: server ran a full collection every few seconds, each stalling every delivery in flight
#: for ~300 ms (docs/benchmarks.md); live data is long-lived, so collect young objects
#: less often and the old generation rarely.
GC_THRESHOLDS = (50_000, 20, 100)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    gc.set_threshold(*GC_THRESHOLDS)
    from server.main import serve

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(serve, settings)
            # Everything alive now (modules, app, settings) lives as long as the process:
            # keep it out of every future collection.
            gc.freeze()
            print(f"Switchboard listening on {running.url}", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("server.stopping signal=%s", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve in demo mode with the Slack emulator and the SMTP sink (see server/demo.py)."""
    import tempfile

    settings = _settings(args)
    if args.data_dir is None:
        # The emulator forgets everything when it stops: a fresh database each run keeps
        # the threads in it and in the database in step.
        settings = dataclasses.replace(
            settings, data_dir=Path(tempfile.mkdtemp(prefix="switchboard-demo-"))
        )
    from server.demo import run_demo

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_demo, settings)
            print(f"data: {settings.data_dir}  (Ctrl+C stops the demo)", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("demo.stopping signal=%s", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = settings.database_path
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, synchronous=settings.sqlite_synchronous)
    try:
        before = schema.version(conn)
        ran = schema.migrate(conn)
    finally:
        conn.close()
    print(f"{path}: schema version {before} -> {before + ran} ({ran} migration(s) applied)")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("SWITCHBOARD_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise SettingsError("no password: use --password-stdin or SWITCHBOARD_PASSWORD")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SettingsError("the passwords differ")
    return first


def cmd_create_user(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = _password(args)
    if len(password) < 8:
        raise SettingsError("the password must have at least 8 characters")
    password_hash = hash_password(password)

    async def create(store: Store) -> dict[str, Any]:
        return await store.write(
            functools.partial(
                directory.create_user,
                email=args.email,
                name=args.name or args.email.split("@")[0],
                role=args.role,
                password_hash=password_hash,
            )
        )

    user = trio.run(_with_store, settings, create)
    print(f"created {user['role']} {user['email']} ({user['id']})")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    settings = _settings(args)
    token = directory.new_token("sbt")

    async def issue(store: Store) -> dict[str, Any]:
        def find_and_issue(tx: Any) -> dict[str, Any]:
            row = tx.execute("SELECT id FROM users WHERE email = ?", (args.email,)).fetchone()
            if row is None:
                raise directory.NotFound(f"no user with email {args.email}")
            expires = tx.now_ms + int(args.days * 86400_000) if args.days else None
            return directory.create_api_token(tx, row[0], args.name, token, expires)

        return await store.write(find_and_issue)

    info = trio.run(_with_store, settings, issue)
    print(token)
    print(f"(API token {info['id']} for {args.email}; shown once, keep it secret)", file=sys.stderr)
    return 0


#: Where ``bootstrap`` keeps the first admin's generated password (mode 600, in data_dir),
#: so ``scripts/run`` can print the login again until the admin deletes the file.
INITIAL_ADMIN_FILE = "initial-admin.txt"
INITIAL_ADMIN_EMAIL = "admin@example.com"


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Migrate, create a first admin when there is no user, and print how to log in."""
    settings = _settings(args)
    cmd_migrate(args)
    secret_file = settings.data_dir / INITIAL_ADMIN_FILE

    async def ensure(store: Store) -> str | None:
        def count(conn: Any) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

        if await store.read(count):
            return None
        password = secrets.token_urlsafe(12)
        await store.write(
            functools.partial(
                directory.create_user,
                email=INITIAL_ADMIN_EMAIL,
                name="Admin",
                role="admin",
                password_hash=hash_password(password),
            )
        )
        return password

    password = trio.run(_with_store, settings, ensure)
    if password is not None:
        secret_file.write_text(f"{INITIAL_ADMIN_EMAIL}\n{password}\n")
        secret_file.chmod(0o600)
    if secret_file.exists():
        email, password = secret_file.read_text().split()[:2]
        print(f"login: {email} / {password}  (from {secret_file}; delete it once you changed it)")
    else:
        print("login: use an existing staff account (switchboard create-user adds one)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--log-level", default=None, help="override SWITCHBOARD_LOG_LEVEL")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir", type=Path)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser(
        "demo", help="serve in demo mode with a local Slack emulator and SMTP sink"
    )
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--data-dir", type=Path, help="default: a fresh temporary folder")
    demo.set_defaults(func=cmd_demo)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument("--data-dir", type=Path)
    migrate.set_defaults(func=cmd_migrate)

    user = sub.add_parser("create-user", help="create a staff user (admin or agent)")
    user.add_argument("--email", required=True)
    user.add_argument("--name")
    user.add_argument("--role", choices=directory.ROLES, default="agent")
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user.add_argument("--data-dir", type=Path)
    user.set_defaults(func=cmd_create_user)

    boot = sub.add_parser("bootstrap", help="migrate and create a first admin if there is none")
    boot.add_argument("--data-dir", type=Path)
    boot.set_defaults(func=cmd_bootstrap)

    token = sub.add_parser("token", help="issue an API token for a staff user")
    token.add_argument("--email", required=True, help="the user the token acts as")
    token.add_argument("--name", default="cli", help="a label for the token")
    token.add_argument("--days", type=float, default=0, help="expiry in days (0: never)")
    token.add_argument("--data-dir", type=Path)
    token.set_defaults(func=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or os.environ.get("SWITCHBOARD_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.func(args)
    except (SettingsError, directory.Conflict, directory.NotFound, ValueError) as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    return result
