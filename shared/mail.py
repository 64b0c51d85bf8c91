"""The mail port: SMTP (STARTTLS) in production, files in a local outbox otherwise.

Messages carry one-time links, so neither adapter ever logs a body (nor a subject's recipient in
clear: logs name the recipient by a short hash). ``email``, ``smtplib`` and ``ssl`` are imported
on first send, so importing this module costs next to nothing at cold start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.digests import sha256_hex
from shared.envconfig import EnvSettings, env
from shared.secret_names import SMTP_PASSWORD
from shared.secrets import SecretsPort

if TYPE_CHECKING:
    from email.message import EmailMessage

log = logging.getLogger("coditect.mail")


class MailError(Exception):
    """The message could not be handed to the mail server (the caller decides what that means)."""


class MailPort(Protocol):
    def send(self, to: str, subject: str, text: str) -> None:
        """Deliver a plain-text message to ``to``; raises :class:`MailError` when it cannot."""
        ...


@dataclass(frozen=True)
class MailSettings(EnvSettings):
    backend: str = env(
        "CODITECT_MAIL",
        "local",
        "`local` (files under <data dir>/mail/outbox) or `smtp`.",
        pattern="^(local|smtp)$",
    )
    smtp_host: str = env("CODITECT_SMTP_HOST", "", "SMTP server (submission, STARTTLS).")
    smtp_port: int = env("CODITECT_SMTP_PORT", 587, "SMTP port (587: submission).", gt=0)
    smtp_user: str = env(
        "CODITECT_SMTP_USER", "", "SMTP user; empty: the server accepts us without AUTH."
    )
    sender: str = env(
        "CODITECT_MAIL_FROM", "Coditect <no-reply@coditect.local>", "From: of every mail."
    )
    timeout_seconds: float = env(
        "CODITECT_SMTP_TIMEOUT_SECONDS", 10.0, "Timeout of one SMTP conversation.", gt=0
    )

    def check(self) -> None:
        if self.backend == "smtp" and not self.smtp_host:
            raise ValueError("CODITECT_SMTP_HOST is required when CODITECT_MAIL=smtp")


def recipient_ref(address: str) -> str:
    """How logs name a recipient: enough to follow one address, no personal data."""
    return sha256_hex(address.lower())[:16]


def build_message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    # Plain ASCII lines go as they are (7bit), not quoted-printable: links stay whole and
    # readable in the raw message (an outbox file, a server's queue).
    plain = text.isascii() and all(len(line) <= 998 for line in text.splitlines())
    message.set_content(text, cte="7bit" if plain else None)
    return message


class LocalOutbox:
    """Each message becomes ``<directory>/<ms>-<n>.eml`` (0600), readable with any mail viewer."""

    def __init__(self, directory: str, sender: str = MailSettings.sender) -> None:
        self.directory = directory
        self.sender = sender
        self._lock = threading.Lock()
        self._count = 0

    def send(self, to: str, subject: str, text: str) -> None:
        data = build_message(self.sender, to, subject, text).as_bytes()
        with self._lock:
            self._count += 1
            name = f"{int(time.time() * 1000)}-{os.getpid()}-{self._count}.eml"
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            path = os.path.join(self.directory, name)
            # Written under a temporary name, then renamed: a reader never sees half a message.
            temporary = path + ".part"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(temporary, path)
        except OSError as error:
            raise MailError(f"cannot write to the local outbox: {error.strerror}") from None
        log.info("mail written to the local outbox", extra={"fields": {"file": name}})

    def messages(self) -> list[EmailMessage]:
        """The messages in the outbox, oldest first (tests and the local stack)."""
        return read_outbox(self.directory)


def read_outbox(directory: str) -> list[EmailMessage]:
    from email import message_from_bytes, policy

    if not os.path.isdir(directory):
        return []
    names = sorted(
        (n for n in os.listdir(directory) if n.endswith(".eml")),
        key=lambda n: tuple(int(p) for p in n[: -len(".eml")].split("-")),
    )
    found = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as fh:
            found.append(message_from_bytes(fh.read(), policy=policy.default))
    return found


class SmtpMail:
    """SMTP submission with STARTTLS always (the password never crosses the wire in clear).

    The connection is opened on the first send and kept for the next ones (one at a time); a
    connection the server dropped meanwhile is reopened once.
    """

    def __init__(
        self, settings: MailSettings, secrets: SecretsPort, *, ssl_context: Any = None
    ) -> None:
        if not settings.smtp_host:
            raise ValueError("CODITECT_SMTP_HOST is required when CODITECT_MAIL=smtp")
        self.settings = settings
        self._secrets = secrets
        self._ssl_context = ssl_context
        self._connection: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import smtplib
        import ssl

        context = self._ssl_context or ssl.create_default_context()
        connection = smtplib.SMTP(
            self.settings.smtp_host, self.settings.smtp_port, timeout=self.settings.timeout_seconds
        )
        try:
            connection.ehlo()
            if not connection.has_extn("starttls"):
                raise MailError("the SMTP server does not offer STARTTLS")
            connection.starttls(context=context)
            connection.ehlo()
            if self.settings.smtp_user:
                password = self._secrets.get(SMTP_PASSWORD).decode().strip()
                connection.login(self.settings.smtp_user, password)
        except BaseException:
            connection.close()
            raise
        return connection

    def _deliver(self, message: EmailMessage) -> None:
        if self._connection is None:
            self._connection = self._connect()
        self._connection.send_message(message)

    def send(self, to: str, subject: str, text: str) -> None:
        import smtplib

        message = build_message(self.settings.sender, to, subject, text)
        started = time.monotonic()
        with self._lock:
            kept = self._connection is not None
            try:
                try:
                    self._deliver(message)
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    if not kept:
                        raise
                    # A kept connection the server has closed since: open a new one, once.
                    self._drop()
                    self._deliver(message)
            except (smtplib.SMTPException, OSError, LookupError, MailError) as error:
                self._drop()
                # The error's class only: SMTP replies can echo what we sent.
                log.warning(
                    "mail not sent",
                    extra={"fields": {"to_ref": recipient_ref(to), "error": type(error).__name__}},
                )
                raise MailError(f"SMTP delivery failed ({type(error).__name__})") from None
        log.info(
            "mail sent",
            extra={
                "fields": {
                    "to_ref": recipient_ref(to),
                    "ms": round((time.monotonic() - started) * 1000),
                }
            },
        )

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except Exception:
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def outbox_directory(data_dir: str) -> str:
    return os.path.join(data_dir, "mail", "outbox")


def build_mail(settings: MailSettings, secrets: SecretsPort, data_dir: str) -> MailPort:
    if settings.backend == "smtp":
        return SmtpMail(settings, secrets)
    return LocalOutbox(outbox_directory(data_dir), settings.sender)
