"""Outgoing mail against a real SMTP server (aiosmtpd on loopback), and the .eml outbox."""

from __future__ import annotations

import email
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.domain.mail import MailNotSent, OutboxMailer, SmtpMailer, compose
from tests.services import free_port

SENDER = "Beacon <no-reply@beacon.example>"
USER, SECRET = "beacon", "smtp secret"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives (called on the server's thread)."""

    received: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def only_message(self) -> tuple[Envelope, Message]:
        [envelope] = self.received
        assert isinstance(envelope.content, bytes)
        return envelope, email.message_from_bytes(envelope.content)


@dataclass(frozen=True)
class Server:
    port: int
    inbox: Inbox


def serve(inbox: Inbox, **smtp_options: Any) -> Iterator[Server]:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    try:
        yield Server(controller.port, inbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """A plain SMTP server, as a local relay would be."""
    yield from serve(Inbox())


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "beacon test smtp")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def check_login(
    _server: Any, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        SECRET.encode(),
    )
    # handled=False: aiosmtpd answers the refusal itself (535); True would mean we had.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


@pytest.fixture
def tls_smtp_server(tls_certificate: tuple[Path, Path]) -> Iterator[Server]:
    """A submission server as providers run them: STARTTLS first, then login, or nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_certificate)
    yield from serve(
        Inbox(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=check_login,
    )


def mailer_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the mailer logged as errors (aiosmtpd, on its thread, may log its side too)."""
    return [
        r for r in caplog.records if r.name == "service.domain.mail" and r.levelno == logging.ERROR
    ]


def plain_mailer(port: int) -> SmtpMailer:
    return SmtpMailer(hostname="127.0.0.1", port=port, username="", password="", start_tls=False)


def a_message(to: str = "ada@example.com") -> Any:
    return compose(
        sender=SENDER,
        to=to,
        subject="Grüße from Beacon",
        body="Hello Ada,\n\nhttps://beacon.example/auth/verify/abc\n",
    )


def check_headers(message: Message) -> None:
    """What every mail carries: who, what, a unique Message-ID and the current Date."""
    assert message["From"] == SENDER
    assert message["To"] == "ada@example.com"
    assert str(email.header.make_header(email.header.decode_header(message["Subject"]))) == (
        "Grüße from Beacon"
    )
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@beacon.example>")
    sent_at = parsedate_to_datetime(message["Date"])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    lines = body.decode().replace("\r\n", "\n")  # SMTP carries lines with CRLF
    assert lines == "Hello Ada,\n\nhttps://beacon.example/auth/verify/abc\n"


async def test_smtp_delivers_the_composed_message(smtp_server: Server) -> None:
    await plain_mailer(smtp_server.port).send(a_message())
    envelope, message = smtp_server.inbox.only_message()
    assert envelope.mail_from == parseaddr(SENDER)[1]
    assert envelope.rcpt_tos == ["ada@example.com"]
    check_headers(message)


async def test_each_message_gets_its_own_message_id(smtp_server: Server) -> None:
    mailer = plain_mailer(smtp_server.port)
    await mailer.send(a_message())
    await mailer.send(a_message())
    ids = {email.message_from_bytes(e.content)["Message-ID"] for e in smtp_server.inbox.received}  # type: ignore[arg-type]
    assert len(ids) == 2


async def test_smtp_with_starttls_and_login(
    tls_smtp_server: Server, tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # How a deployment trusts a private CA: OpenSSL reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))
    mailer = SmtpMailer(
        hostname="127.0.0.1",
        port=tls_smtp_server.port,
        username=USER,
        password=SECRET,
        start_tls=True,
    )
    await mailer.send(a_message())
    _, message = tls_smtp_server.inbox.only_message()
    check_headers(message)


@pytest.mark.parametrize(
    ("trust", "password", "cause"),
    [
        (True, "not the secret", "SMTPAuthenticationError"),
        (False, SECRET, "certificate verify failed"),  # an unknown certificate is refused
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
async def test_a_refused_login_or_certificate_is_a_clear_error(
    tls_smtp_server: Server,
    tls_certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    trust: bool,
    password: str,
    cause: str,
) -> None:
    if trust:
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))
    mailer = SmtpMailer(
        hostname="127.0.0.1",
        port=tls_smtp_server.port,
        username=USER,
        password=password,
        start_tls=True,
    )
    with pytest.raises(MailNotSent, match="try again"):
        await mailer.send(a_message())
    assert tls_smtp_server.inbox.received == []
    [record] = mailer_errors(caplog)
    assert cause in record.getMessage()
    assert password not in record.getMessage()


async def test_starttls_refused_by_a_plain_server_is_a_clear_error(smtp_server: Server) -> None:
    mailer = SmtpMailer(
        hostname="127.0.0.1", port=smtp_server.port, username="", password="", start_tls=True
    )
    with pytest.raises(MailNotSent):
        await mailer.send(a_message())


async def test_a_server_that_is_down_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailNotSent, match="could not send the email") as raised:
        await plain_mailer(port).send(a_message())
    assert raised.value.status == 503
    [record] = mailer_errors(caplog)
    assert f"not sent via 127.0.0.1:{port}" in record.getMessage()
    assert "ada@example.com" in record.getMessage()


async def test_the_outbox_writes_each_message_as_an_eml_file(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    mailer = OutboxMailer(folder)
    await mailer.send(a_message())
    await mailer.send(a_message("bob@example.com"))
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    first, second = (email.message_from_bytes(path.read_bytes()) for path in files)
    check_headers(first)
    assert second["To"] == "bob@example.com"
