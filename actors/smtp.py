"""SMTP transport: the mail settings and one blocking send.

Split from actors/mailer.py, which keeps the queue and the actor: what is sent and when
is the mailer's business, how one message reaches an SMTP server is this module's. Both
kinds of mail the mailer sends (attendee replies, and staff mail from
actors/staff_mail.py) go through :func:`send_mail` with one :class:`MailConfig`.

Error handling: every failure is a :class:`MailError` whose ``permanent`` flag tells the
caller whether trying again can help (5xx answers and unusable settings cannot).
"""

from __future__ import annotations

import dataclasses
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True, slots=True)
class MailConfig:
    """SMTP settings: environment defaults overlaid with values saved over REST."""

    host: str = ""
    port: int = 587
    sender: str = "switchboard@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = True
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def with_saved(self, saved: dict[str, Any]) -> MailConfig:
        known = {f.name: type(getattr(self, f.name)) for f in dataclasses.fields(self)}
        changes = {k: v for k, v in saved.items() if k in known and type(v) is known[k]}
        return dataclasses.replace(self, **changes)


class MailError(Exception):
    """Sending failed; ``permanent`` when trying again cannot help."""

    def __init__(self, code: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


def send_mail(config: MailConfig, message: EmailMessage) -> None:
    """Send one message (blocking: run it in a worker thread).

    Raises:
        MailError: with ``permanent`` for 5xx answers and unusable settings.
    """
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls()
                smtp.ehlo()
            if config.username:
                smtp.login(config.username, config.password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise MailError(str(codes[0]), str(exc), permanent=all(c >= 500 for c in codes)) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(str(exc.smtp_code), str(exc), permanent=exc.smtp_code >= 500) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError("not_supported", str(exc), permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused, timeouts
        raise MailError("unreachable", repr(exc), permanent=False) from exc
