"""Mailer: staff replies reach attendees by email when they are offline.

An event-log consumer (DESIGN.md section 5). For each staff (or recipe) reply
(``message.posted``, kind ``message``, not internal) in a conversation whose attendee has
an email address and is not connected at that moment (the conversation actor's presence,
``ListOnline``), it queues one row in ``mail_outbox``, keyed by (conversation, seq):
handing the same event again queues nothing. The mailer's loop then sends the queued mail
over SMTP (``smtplib`` in a worker thread), retrying temporary failures with backoff;
permanent failures and exhausted retries end in a visible dead-letter state (``dead``, in
the activity log with the fix) until :meth:`Mailer.redrive`.

After a mail is sent, the message records ``emailed_at`` and an internal timeline event
(``{"event": "emailed", "seq": N, "to": address}``) is posted through the conversation's
actor: staff see it in the console, and the Slack bridge marks the reply in its thread.

It also sends staff mail (actors/staff_mail.py: recipe notifications by email) in the same
loop, with the same settings, retries and dead letters. The SMTP settings and the send
itself are in actors/smtp.py.

Error handling: SMTP is not idempotent; a crash between the server's "250 queued" and
our commit sends that mail again after the restart (at least once). The ``Message-ID``
is derived from (conversation, seq), so mail clients can drop the duplicate.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import trio

from actors import staff_mail
from actors.group_commands import ListOnline
from actors.integration_store import Activity, log_activity, read_settings
from actors.records import NewMessage
from actors.smtp import MailConfig, MailError, send_mail
from actors.store import StoredEvent, Tx
from actors.system import System
from protocol.frames import Participant

log = logging.getLogger(__name__)

#: settings_kv prefix of the SMTP settings saved over REST.
SETTINGS_PREFIX = "mail."
#: Temporary failures of one mail before it goes to the dead letters.
MAX_ATTEMPTS = 6
#: Backoff after the n-th failure: BACKOFF_BASE * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF_BASE = 5.0
BACKOFF_MAX = 600.0
#: Outbox rows read per pass.
BATCH = 50
#: Authors whose replies are emailed: staff, and recipes replying on the team's behalf.
REPLIERS = frozenset({"staff", "bot"})
#: Who the "sent by email" timeline events are from.
MAILER = Participant("system", "mailer", "Mailer")
_PERMANENT_HINT = (
    "The mail server refused this mail for good (see the code). Check the attendee's "
    "address and the SMTP settings (host, port, login, STARTTLS), then press Re-drive."
)
_RETRY_HINT = (
    "The mail server could not be reached or kept answering 'try later'. Check the SMTP "
    "settings and that the server is up, then press Re-drive."
)


# -- SQL ------------------------------------------------------------------------------------


def _contact_email(conn: sqlite3.Connection, conversation: str) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT k.id, k.email FROM conversations c JOIN contacts k ON k.id = c.contact_id "
        "WHERE c.id = ? AND k.email IS NOT NULL AND k.email != ''",
        (conversation,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def _queue(tx: Tx, conversation: str, seq: int, recipient: str) -> int:
    cur = tx.execute(
        "INSERT INTO mail_outbox (conversation_id, seq, recipient, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id, seq) DO NOTHING",
        (conversation, seq, recipient, tx.now_ms, tx.now_ms),
    )
    return cur.rowcount


def _due(conn: sqlite3.Connection) -> list[tuple[int, str, int, str, str]]:
    return [
        (int(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4]))
        for r in conn.execute(
            "SELECT id, conversation_id, seq, recipient, status FROM mail_outbox "
            "WHERE status IN ('pending', 'sent') ORDER BY id LIMIT ?",
            (BATCH,),
        ).fetchall()
    ]


def _mail_parts(conn: sqlite3.Connection, conversation: str, seq: int) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT m.author_name, m.body, k.name, x.title FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id "
        "LEFT JOIN contacts k ON k.id = c.contact_id LEFT JOIN contexts x ON x.id = c.context_id "
        "WHERE m.conversation_id = ? AND m.seq = ? AND m.deleted_at IS NULL",
        (conversation, seq),
    ).fetchone()
    if row is None:
        return None
    return {"author": row[0], "body": row[1], "contact": row[2] or "", "title": row[3]}


def _set_status(tx: Tx, row_id: int, status: str, error: str | None = None) -> None:
    tx.execute(
        "UPDATE mail_outbox SET status = ?, error = ?, updated_at = ? WHERE id = ?",
        (status, error, tx.now_ms, row_id),
    )


def _mark_sent(tx: Tx, row_id: int, conversation: str, seq: int, recipient: str) -> None:
    tx.execute(
        "UPDATE mail_outbox SET status = 'sent', error = NULL, sent_at = ?, updated_at = ?, "
        "attempts = attempts + 1 WHERE id = ?",
        (tx.now_ms, tx.now_ms, row_id),
    )
    tx.execute(
        "UPDATE messages SET emailed_at = ? WHERE conversation_id = ? AND seq = ?",
        (tx.now_ms, conversation, seq),
    )
    log_activity(
        tx,
        Activity(
            "mail", "info", "smtp.send", f"emailed message {seq} to {recipient}",
            conversation=conversation, ref=str(seq),
        ),
    )  # fmt: skip


def _redrive(tx: Tx) -> int:
    count = tx.execute(
        "UPDATE mail_outbox SET status = 'pending', attempts = 0, error = NULL, updated_at = ? "
        "WHERE status = 'dead'",
        (tx.now_ms,),
    ).rowcount
    count += staff_mail.redrive(tx)
    log_activity(tx, Activity("mail", "info", "redrive", f"re-drove {count} dead mail(s)"))
    return count


def mail_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(("pending", "sent", "announced", "dead", "skipped"), 0)
    for status, n in conn.execute(
        "SELECT status, COUNT(*) FROM mail_outbox GROUP BY status"
    ).fetchall():
        counts[str(status)] = int(n)
    return counts


def compose(
    config: MailConfig, recipient: str, conversation: str, seq: int, parts: dict[str, Any]
) -> EmailMessage:
    """The email for one reply."""
    message = EmailMessage()
    about = parts["title"] or "your conversation"
    message["Subject"] = f"{parts['author']} replied: {about}"
    message["From"] = config.sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{conversation}.{seq}@switchboard>"
    greeting = f"Hello {parts['contact']}," if parts["contact"] else "Hello,"
    message.set_content(
        f"{greeting}\n\n{parts['author']} replied while you were away ({about}):\n\n"
        f"{parts['body']}\n\nYou can answer in the chat the next time you open it.\n"
    )
    return message


# -- the actor ------------------------------------------------------------------------------


class Mailer:
    """The mail consumer and sender (see module docstring).

    Args:
        system: the running System; ``system.add_consumer(mailer)`` before it runs, and
            run :meth:`run` under its supervisor.
        defaults: SMTP settings from the environment; values saved over REST win.
    """

    name = "mailer"
    live_only = False

    def __init__(self, system: System, defaults: MailConfig) -> None:
        self._system = system
        self._store = system.store
        self.defaults = defaults
        self.config = defaults
        self._loaded = False
        self._wake = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        system.wake_mailer = self.wake

    def wake(self) -> None:
        """Look for queued mail now."""
        self._wake.set()

    async def reload(self) -> MailConfig:
        saved = await self._store.read(functools.partial(read_settings, prefix=SETTINGS_PREFIX))
        self.config = self.defaults.with_saved(saved)
        self._loaded = True
        self._wake.set()
        return self.config

    async def handle(self, events: Sequence[StoredEvent]) -> None:
        """Queue mail for staff replies to attendees who are offline right now."""
        if not self._loaded:
            await self.reload()
        if not self.config.enabled:
            return
        queued = 0
        for event in events:
            if event.type != "message.posted" or event.conversation is None:
                continue
            p = event.payload
            if p["kind"] != "message" or p.get("internal") or p["author"]["kind"] not in REPLIERS:
                continue
            contact = await self._store.read(
                functools.partial(_contact_email, conversation=event.conversation)
            )
            if contact is None or await self._online(event.conversation, contact[0]):
                continue
            queued += await self._store.write(
                functools.partial(
                    _queue, conversation=event.conversation, seq=int(p["seq"]), recipient=contact[1]
                )
            )
        if queued:
            self._wake.set()

    async def _online(self, conversation: str, contact: str) -> bool:
        """Whether the attendee is connected; when the actor cannot say, assume not (a
        mail too many beats a reply never seen)."""
        try:
            online: list[Participant] = await self._system.groups.call(
                conversation, ListOnline, timeout=self._system.config.call_timeout
            )
        except Exception as exc:
            log.warning("mailer.presence_unknown conversation=%s error=%r", conversation, exc)
            return False
        return any(p.kind == "contact" and p.id == contact for p in online)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send queued mail until cancelled."""
        await self.reload()
        task_status.started()
        while True:
            self._wake = trio.Event()
            rows = await self._store.read(_due) if self.config.enabled else []
            for row_id, conversation, seq, recipient, status in rows:
                if status == "pending" and not await self._send(
                    row_id, conversation, seq, recipient
                ):
                    continue
                await self._announce(row_id, conversation, seq, recipient)
            staff = await self._store.read(staff_mail.due) if self.config.enabled else []
            for mail in staff:
                await self._send_staff(mail)
            if not rows and not staff:
                await self._wake.wait()

    async def _send(self, row_id: int, conversation: str, seq: int, recipient: str) -> bool:
        """Send one queued mail with retries; True once sent."""
        failures = 0
        while True:
            parts = await self._store.read(
                functools.partial(_mail_parts, conversation=conversation, seq=seq)
            )
            if parts is None:
                await self._store.write(
                    functools.partial(_set_status, row_id=row_id, status="skipped")
                )
                return False
            config = self.config
            message = compose(config, recipient, conversation, seq, parts)
            try:
                await trio.to_thread.run_sync(
                    functools.partial(send_mail, config, message), limiter=self._limiter
                )
            except MailError as exc:
                failures += 1
                if exc.permanent or failures >= MAX_ATTEMPTS:
                    await self._dead(row_id, conversation, seq, exc)
                    return False
                delay = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (failures - 1))
                await self._store.write(
                    functools.partial(
                        log_activity,
                        entry=Activity(
                            "mail", "warning", "smtp.send",
                            f"message {seq} to {recipient}: {exc}; retrying in {delay:g} s",
                            conversation=conversation, ref=str(seq), code=exc.code,
                        ),
                    )
                )  # fmt: skip
                await trio.sleep(delay)
                continue
            await self._store.write(
                functools.partial(
                    _mark_sent, row_id=row_id, conversation=conversation, seq=seq,
                    recipient=recipient,
                )
            )  # fmt: skip
            return True

    async def _send_staff(self, mail: staff_mail.StaffMail) -> None:
        """Send one staff mail with the attendee mail's retries; dead when they run out."""
        failures = 0
        while True:
            config = self.config
            try:
                await trio.to_thread.run_sync(
                    functools.partial(send_mail, config, staff_mail.compose(config.sender, mail)),
                    limiter=self._limiter,
                )
            except MailError as exc:
                failures += 1
                if exc.permanent or failures >= MAX_ATTEMPTS:
                    await self._store.write(
                        functools.partial(
                            staff_mail.mark_dead, mail=mail, attempts=failures, code=exc.code,
                            error=str(exc), permanent=exc.permanent,
                        )
                    )  # fmt: skip
                    return
                await trio.sleep(min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (failures - 1)))
                continue
            await self._store.write(
                functools.partial(staff_mail.mark_sent, mail=mail, attempts=failures + 1)
            )
            return

    async def _dead(self, row_id: int, conversation: str, seq: int, exc: MailError) -> None:
        def write(tx: Tx) -> None:
            _set_status(tx, row_id, "dead", f"{exc.code}: {exc}")
            log_activity(
                tx,
                Activity(
                    "mail", "error", "smtp.send", f"message {seq} not emailed: {exc}",
                    conversation=conversation, ref=str(seq), code=exc.code,
                    hint=_PERMANENT_HINT if exc.permanent else _RETRY_HINT,
                ),
            )  # fmt: skip

        await self._store.write(write)

    async def _announce(self, row_id: int, conversation: str, seq: int, recipient: str) -> None:
        """Record the mail in the conversation's history (idempotent by client_msg_id)."""
        await self._system.post(
            NewMessage(
                conversation=conversation,
                author=MAILER,
                kind="event",
                body=f"Message {seq} was sent to {recipient} by email (the attendee was offline).",
                client_msg_id=f"mail:{seq}",
                data={"event": "emailed", "seq": seq, "to": recipient},
                internal=True,
            )
        )
        await self._store.write(functools.partial(_set_status, row_id=row_id, status="announced"))

    async def redrive(self) -> int:
        """Queue every dead mail again; return how many."""
        count: int = await self._store.write(_redrive)
        self._wake.set()
        return count
