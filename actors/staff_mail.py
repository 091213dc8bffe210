"""SQL and the email of staff mail: notifications for staff users, sent by the Mailer.

A recipe's notify action with ``email`` queues one ``staff_mail`` row per user, keyed
``<run id>:<action index>:<user id>``: a run planned again queues nothing new. The Mailer
(actors/mailer.py) sends pending rows with the same SMTP settings, retries and dead
letters as the attendee mail; a re-drive queues dead staff mail again too.

Write functions take a :class:`~actors.store.Tx`, reads a read-only connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from actors.integration_store import Activity, log_activity
from actors.store import Tx

#: Rows read per pass of the mailer.
BATCH = 50
#: The subject line's prefix, so staff can filter these mails.
SUBJECT_PREFIX = "[Switchboard] "
PERMANENT_HINT = (
    "The mail server refused this notification for good (see the code). Check the user's "
    "address and the SMTP settings (host, port, login, STARTTLS), then press Re-drive."
)
RETRY_HINT = (
    "The mail server could not be reached or kept answering 'try later'. Check the SMTP "
    "settings and that the server is up, then press Re-drive."
)


@dataclass(frozen=True, slots=True)
class StaffMail:
    """One queued mail to a staff user."""

    id: int
    key: str
    user_id: str | None
    recipient: str
    subject: str
    body: str


def queue(
    tx: Tx, *, key: str, user_id: str | None, recipient: str, subject: str, body: str
) -> bool:
    """Queue one mail unless ``key`` was queued before; True when queued now."""
    cur = tx.execute(
        "INSERT INTO staff_mail (key, user_id, recipient, subject, body, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (key, user_id, recipient, subject, body, tx.now_ms, tx.now_ms),
    )
    return cur.rowcount == 1


def due(conn: sqlite3.Connection) -> list[StaffMail]:
    """Pending staff mail, oldest first."""
    rows = conn.execute(
        "SELECT id, key, user_id, recipient, subject, body FROM staff_mail "
        "WHERE status = 'pending' ORDER BY id LIMIT ?",
        (BATCH,),
    ).fetchall()
    return [StaffMail(*row) for row in rows]


def mark_sent(tx: Tx, mail: StaffMail, attempts: int) -> None:
    tx.execute(
        "UPDATE staff_mail SET status = 'sent', error = NULL, attempts = ?, sent_at = ?, "
        "updated_at = ? WHERE id = ?",
        (attempts, tx.now_ms, tx.now_ms, mail.id),
    )
    log_activity(
        tx,
        Activity(
            "mail", "info", "smtp.send", f"emailed a notification to {mail.recipient}",
            ref=mail.key,
        ),
    )  # fmt: skip


def mark_dead(
    tx: Tx, mail: StaffMail, attempts: int, code: str, error: str, *, permanent: bool
) -> None:
    tx.execute(
        "UPDATE staff_mail SET status = 'dead', error = ?, attempts = ?, updated_at = ? "
        "WHERE id = ?",
        (f"{code}: {error}", attempts, tx.now_ms, mail.id),
    )
    log_activity(
        tx,
        Activity(
            "mail", "error", "smtp.send",
            f"notification to {mail.recipient} not emailed: {error}",
            ref=mail.key, code=code, hint=PERMANENT_HINT if permanent else RETRY_HINT,
        ),
    )  # fmt: skip


def redrive(tx: Tx) -> int:
    """Queue every dead staff mail again; return how many."""
    return tx.execute(
        "UPDATE staff_mail SET status = 'pending', attempts = 0, error = NULL, updated_at = ? "
        "WHERE status = 'dead'",
        (tx.now_ms,),
    ).rowcount


def compose(sender: str, mail: StaffMail) -> EmailMessage:
    """The email for one queued row (its Message-ID derived from the key, so a mail sent
    twice after a crash can be recognised)."""
    message = EmailMessage()
    message["Subject"] = SUBJECT_PREFIX + mail.subject
    message["From"] = sender
    message["To"] = mail.recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<staff.{mail.key.replace(':', '.')}@switchboard>"
    message.set_content(mail.body + "\n")
    return message
