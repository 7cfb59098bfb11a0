"""Outgoing mail: SMTP in production, a folder of .eml files in development and tests.

A mail that cannot be sent raises MailNotSent (503, "try again"), logged with its cause:
a page that sends mail never answers 500 because the mail server is down.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib

from service.errors import Unavailable

log = logging.getLogger(__name__)


class MailNotSent(Unavailable):
    """The mail server could not be reached, refused us, or timed out."""

    def __init__(self) -> None:
        super().__init__("We could not send the email just now. Please try again in a few minutes.")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def compose(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(body)
    return message


@dataclass(frozen=True)
class OutboxMailer:
    """Writes each message to `folder` as an .eml file and logs where it went."""

    folder: Path

    async def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        path.write_bytes(message.as_bytes())
        log.info("mail to %s (%s) written to %s", message["To"], message["Subject"], path)


@dataclass(frozen=True)
class SmtpMailer:
    hostname: str
    port: int
    username: str
    password: str
    start_tls: bool

    async def send(self, message: EmailMessage) -> None:
        """Deliver over SMTP; STARTTLS checks the server's certificate against the system's
        CAs (or `SSL_CERT_FILE`)."""
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                start_tls=self.start_tls,
                timeout=15,
            )
        except (aiosmtplib.SMTPException, OSError) as error:  # refused, down, TLS, timeout
            log.error(
                "mail to %s (%s) not sent via %s:%d: %s: %s",
                message["To"],
                message["Subject"],
                self.hostname,
                self.port,
                type(error).__name__,
                error,
            )
            raise MailNotSent() from error
        log.info("mail to %s (%s) sent", message["To"], message["Subject"])
