"""Who is connected right now: staff online (for recipes' round robin and smart assign),
and the open sessions of each contact (so blocking a contact closes them).

Both live in memory, one of each per :class:`~actors.system.System`: presence is a
property of this process's websocket sessions, gone with them on a restart, so it is
never stored. The websocket sessions (server/ws.py) report themselves here; nothing else
writes to it. Everything runs on the trio thread, so no locking is needed.
The System holds one of each (``system.staff_presence``, ``system.contact_sessions``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Closes one session; the argument is the reason shown to the peer.
CloseSession = Callable[[str], None]


class StaffPresence:
    """How many websocket sessions each staff user has open: online = at least one."""

    def __init__(self) -> None:
        self._sessions: Counter[str] = Counter()

    def connected(self, user_id: str) -> None:
        self._sessions[user_id] += 1

    def disconnected(self, user_id: str) -> None:
        """One session of ``user_id`` ended (an unmatched call is ignored)."""
        if self._sessions[user_id] <= 1:
            self._sessions.pop(user_id, None)
        else:
            self._sessions[user_id] -= 1

    def is_online(self, user_id: str) -> bool:
        return self._sessions[user_id] > 0

    def online(self) -> frozenset[str]:
        """The ids of the staff users online now."""
        return frozenset(user for user, count in self._sessions.items() if count > 0)


class ContactSessions:
    """The open websocket sessions of each contact, and the contacts blocked meanwhile.

    A session registers after its token was accepted; :meth:`block` closes every session
    of the contact and refuses later registrations in this process: a hello whose token
    was read just before the block committed cannot slip through.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, dict[str, CloseSession]] = {}
        self._blocked: set[str] = set()

    def register(self, contact_id: str, session: str, close: CloseSession) -> bool:
        """Add a session (by its id); False (and nothing added) when the contact is blocked."""
        if contact_id in self._blocked:
            return False
        self._sessions.setdefault(contact_id, {})[session] = close
        return True

    def unregister(self, contact_id: str, session: str) -> None:
        sessions = self._sessions.get(contact_id)
        if sessions is None:
            return
        sessions.pop(session, None)
        if not sessions:
            del self._sessions[contact_id]

    def block(self, contact_id: str, reason: str) -> int:
        """Close every open session of the contact; return how many were told."""
        self._blocked.add(contact_id)
        sessions = self._sessions.pop(contact_id, {})
        for close in list(sessions.values()):
            close(reason)
        if sessions:
            log.info("presence.contact_blocked contact=%s sessions=%d", contact_id, len(sessions))
        return len(sessions)

    def count(self, contact_id: str) -> int:
        return len(self._sessions.get(contact_id, ()))
