"""Authentication: scrypt password hashes and resolving tokens to principals.

Three kinds of bearer secrets, told apart by their prefix: ``sbs_`` console login sessions
(sent as the ``sb_session`` cookie), ``sbt_`` API tokens for programs, ``sba_`` attendee
tokens scoped to one conversation. Password hashing is deliberately slow (scrypt), so it
runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import trio

from actors import directory
from actors.directory import Principal
from actors.store import Store, now_ms

SESSION_COOKIE = "sb_session"
CSRF_HEADER = "X-CSRF-Token"

#: scrypt cost: n=2**14, r=8, p=1 (about 16 MiB and tens of ms): the OWASP minimum.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Two hashes at a time at most: logins must not starve the event loop's threads.
_HASH_LIMITER = trio.CapacityLimiter(2)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh salt (synchronous; see hash_password_async)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


async def hash_password_async(password: str) -> str:
    return await trio.to_thread.run_sync(hash_password, password, limiter=_HASH_LIMITER)


async def verify_password_async(password: str, stored: str | None) -> bool:
    return await trio.to_thread.run_sync(verify_password, password, stored, limiter=_HASH_LIMITER)


@dataclass(frozen=True, slots=True)
class Resolved:
    principal: Principal
    csrf: str | None = None  #: set for console sessions (cookie auth)


class TokenExpired(Exception):
    pass


async def resolve_token(store: Store, token: str) -> Resolved | None:
    """The principal a bearer token stands for, or None if unknown, revoked or expired."""
    now = now_ms()
    if token.startswith("sba_"):
        principal = await store.read(
            functools.partial(directory.lookup_attendee_token, token=token, now=now)
        )
        if (
            principal is not None
            and principal.expires_at is not None
            and principal.expires_at <= now
        ):
            raise TokenExpired(
                "the attendee token has expired; ask the host application for a new one"
            )
        return None if principal is None else Resolved(principal)
    if token.startswith("sbt_"):
        principal = await store.read(
            functools.partial(directory.lookup_api_token, token=token, now=now)
        )
        return None if principal is None else Resolved(principal)
    if token.startswith("sbs_"):
        found = await store.read(
            functools.partial(directory.lookup_console_session, token=token, now=now)
        )
        return None if found is None else Resolved(found[0], csrf=found[1])
    return None


def new_csrf() -> str:
    return secrets.token_urlsafe(24)
