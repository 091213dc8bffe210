"""Join: subscribe a session to a conversation and replay the history it missed.

Split from server/ws.py, which keeps the Session. This is the one place where history and
live frames meet, so it reads best on its own: the group answers the subscription with
the seq up to which history must be replayed and holds its live frames meanwhile; the
history read from the store up to that seq goes into the outbox first, then
``history_end``, then the held frames (``go_live``), with neither a gap nor a duplicate.
"""

from __future__ import annotations

import functools

from actors import history
from actors.outbox import OutFrame, Subscription
from actors.system import System
from protocol.frames import HistoryEnd


async def join_and_replay(system: System, sub: Subscription, after_seq: int) -> bool:
    """Subscribe ``sub``, replay the messages after ``after_seq``, then go live.

    Pages through long gaps (history.HISTORY_PAGE messages per read); a contact's replay
    leaves out internal messages. Sets ``sub.last_seq``.

    Returns:
        False when the outbox could not take the live frames held meanwhile (the peer is
        too slow: the session closes and the client resumes with ``after_seq``).
    """
    upto = await system.subscribe(sub)
    cursor = after_seq
    while cursor < upto:
        page = await system.store.read(
            functools.partial(
                history.messages_after,
                conversation=sub.conversation,
                after_seq=cursor,
                upto_seq=upto,
                include_notes=sub.is_staff,
            )
        )
        for message in page:
            await sub.outbox.put(OutFrame(message.to_frame()))
        cursor = page[-1].seq if len(page) == history.HISTORY_PAGE else upto
    sub.last_seq = max(after_seq, upto)
    await sub.outbox.put(OutFrame(HistoryEnd(conversation=sub.conversation, last_seq=sub.last_seq)))
    return sub.go_live()
