"""The mail port's adapters: SMTP against a real local SMTP server (aiosmtpd, STARTTLS with a
certificate made here, AUTH only over TLS), and the local outbox."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from shared.mail import LocalOutbox, MailError, MailSettings, SmtpMail, read_outbox
from shared.secret_names import SMTP_PASSWORD
from shared.secrets import LocalSecrets
from tests.conftest import free_port

SMTP_USER = "coditect-mailer"
SMTP_SECRET = "smtp-test-password-value"
BODY = "Open http://testserver/#verify_email=secret-token-in-the-body to confirm.\n"


@dataclass
class Inbox:
    """What the server received, and every AUTH attempt it saw."""

    envelopes: list[Any] = field(default_factory=list)
    logins: list[tuple[bytes, bool]] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.sessions.add(id(session))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_SECRET.encode()
        )
        self.logins.append((auth_data.login if isinstance(auth_data, LoginPassword) else b"", ok))
        return AuthResult(success=ok, handled=False)  # the server answers 535 on failure


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """What production does (verify the server), trusting our test certificate."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def start_server(
    inbox: Inbox, port: int, certificate: tuple[Path, Path] | None, *, auth: bool = True
) -> Controller:
    kwargs: dict[str, Any] = {}
    if certificate is not None:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(str(certificate[0]), str(certificate[1]))
        kwargs.update(tls_context=server_tls, require_starttls=True)
    if auth:
        kwargs.update(authenticator=inbox.authenticate, auth_require_tls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = start_server(inbox, port, certificate)
    yield inbox, port
    controller.stop()


def secrets_with_password(tmp_path: Path, value: str = SMTP_SECRET) -> LocalSecrets:
    secrets = LocalSecrets(str(tmp_path / "secrets"), env={})
    secrets.add_version(SMTP_PASSWORD, value.encode())
    return secrets


def adapter(port: int, secrets: LocalSecrets, context: ssl.SSLContext | None) -> SmtpMail:
    settings = MailSettings(
        backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_user=SMTP_USER,
        sender="Coditect <no-reply@coditect.test>",
        timeout_seconds=5,
    )
    return SmtpMail(settings, secrets, ssl_context=context)


def received(envelope: Any) -> Any:
    return message_from_bytes(envelope.original_content, policy=policy.default)


def test_smtp_delivers_over_starttls_with_auth_and_keeps_the_connection(
    smtp, certificate, tmp_path, caplog
):
    inbox, port = smtp
    caplog.set_level(logging.DEBUG)
    mail = adapter(port, secrets_with_password(tmp_path), client_context(certificate))
    assert inbox.logins == []  # lazily connected: nothing before the first send
    mail.send("ada@example.com", "Confirm your email", BODY)
    mail.send("grace@example.com", "Second", "another\n")
    mail.close()

    assert [e.rcpt_tos for e in inbox.envelopes] == [["ada@example.com"], ["grace@example.com"]]
    assert inbox.envelopes[0].mail_from == "no-reply@coditect.test"
    first = received(inbox.envelopes[0])
    assert first["Subject"] == "Confirm your email" and first["To"] == "ada@example.com"
    assert first["From"] == "Coditect <no-reply@coditect.test>"
    assert first.get_content().replace("\r\n", "\n") == BODY  # SMTP lines end in CRLF
    assert inbox.logins == [(SMTP_USER.encode(), True)]  # one login: one connection for both
    assert len(inbox.sessions) == 1
    # the logs say a mail went out, never what it said
    assert sum(r.getMessage() == "mail sent" for r in caplog.records) == 2
    for record in caplog.records:
        if record.name == "mail.log":
            continue  # the test server's own log (it echoes every line it reads)
        text = f"{record.getMessage()} {getattr(record, 'fields', '')}"
        assert "secret-token-in-the-body" not in text and SMTP_SECRET not in text
        assert "ada@example.com" not in text


def test_smtp_reconnects_when_the_server_dropped_the_kept_connection(certificate, tmp_path):
    inbox, port = Inbox(), free_port()
    controller = start_server(inbox, port, certificate)
    mail = adapter(port, secrets_with_password(tmp_path), client_context(certificate))
    try:
        mail.send("ada@example.com", "one", "1\n")
        controller.stop()  # the server goes away, and the kept connection with it
        controller = start_server(inbox, port, certificate)
        mail.send("ada@example.com", "two", "2\n")
    finally:
        mail.close()
        controller.stop()
    assert [received(e)["Subject"] for e in inbox.envelopes] == ["one", "two"]
    assert len(inbox.logins) == 2


def test_smtp_refuses_a_server_without_starttls_before_sending_the_password(certificate, tmp_path):
    inbox, port = Inbox(), free_port()
    controller = start_server(inbox, port, None, auth=False)  # plain text only
    try:
        mail = adapter(port, secrets_with_password(tmp_path), client_context(certificate))
        with pytest.raises(MailError):
            mail.send("ada@example.com", "s", BODY)
    finally:
        controller.stop()
    assert inbox.envelopes == [] and inbox.logins == []


def test_smtp_refuses_a_certificate_it_does_not_trust(smtp, tmp_path):
    inbox, port = smtp
    mail = adapter(port, secrets_with_password(tmp_path), ssl.create_default_context())
    with pytest.raises(MailError):
        mail.send("ada@example.com", "s", BODY)
    assert inbox.envelopes == [] and inbox.logins == []


def test_smtp_wrong_password_or_no_password_is_a_mail_error(smtp, certificate, tmp_path):
    inbox, port = smtp
    wrong = adapter(port, secrets_with_password(tmp_path, "not it"), client_context(certificate))
    with pytest.raises(MailError):
        wrong.send("ada@example.com", "s", BODY)
    missing = adapter(
        port, LocalSecrets(str(tmp_path / "empty"), env={}), client_context(certificate)
    )
    with pytest.raises(MailError):
        missing.send("ada@example.com", "s", BODY)
    assert inbox.envelopes == []
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN); all were refused, and the
    # adapter without a password never tried
    assert inbox.logins and set(inbox.logins) == {(SMTP_USER.encode(), False)}


def test_smtp_password_comes_from_the_secrets_port_env(smtp, certificate, tmp_path):
    inbox, port = smtp
    secrets = LocalSecrets(
        str(tmp_path / "none"), env={"CODITECT_SECRET_SMTP_PASSWORD": SMTP_SECRET}
    )
    adapter(port, secrets, client_context(certificate)).send("ada@example.com", "s", "t\n")
    assert inbox.logins == [(SMTP_USER.encode(), True)] and len(inbox.envelopes) == 1


def test_local_outbox_writes_one_private_file_per_message(tmp_path):
    folder = tmp_path / "outbox"
    outbox = LocalOutbox(str(folder), "Coditect <no-reply@coditect.local>")
    assert read_outbox(str(folder)) == []
    outbox.send("ada@example.com", "one", BODY)
    outbox.send("grace@example.com", "two", "2\n")
    files = sorted(os.listdir(folder))
    assert len(files) == 2 and all(f.endswith(".eml") for f in files)
    assert all(stat.S_IMODE(os.stat(folder / f).st_mode) == 0o600 for f in files)
    first, second = outbox.messages()
    assert (first["To"], first["Subject"], first.get_content()) == ("ada@example.com", "one", BODY)
    # the raw file shows the link as it is (no quoted-printable "=3D" in it)
    assert BODY.strip().encode() in (folder / files[0]).read_bytes()
    assert second["To"] == "grace@example.com"


def test_mail_settings_from_the_environment():
    assert MailSettings.from_env({}) == MailSettings()
    parsed = MailSettings.from_env(
        {
            "CODITECT_MAIL": "smtp",
            "CODITECT_SMTP_HOST": "smtp.example.com",
            "CODITECT_SMTP_PORT": "2525",
            "CODITECT_SMTP_USER": "apikey",
            "CODITECT_MAIL_FROM": "Coditect <no-reply@example.com>",
        }
    )
    assert (parsed.backend, parsed.smtp_host, parsed.smtp_port, parsed.smtp_user) == (
        "smtp",
        "smtp.example.com",
        2525,
        "apikey",
    )
    assert parsed.sender == "Coditect <no-reply@example.com>"
    with pytest.raises(ValueError, match="CODITECT_MAIL"):
        MailSettings.from_env({"CODITECT_MAIL": "sendgrid"})
    with pytest.raises(ValueError, match="CODITECT_SMTP_PORT"):
        MailSettings.from_env({"CODITECT_SMTP_PORT": "twenty"})
    with pytest.raises(ValueError, match="CODITECT_SMTP_HOST"):
        SmtpMail(MailSettings(backend="smtp"), LocalSecrets("/nonexistent", env={}))
