"""Reading the local mail outbox the auth function writes to (CODITECT_MAIL=local)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from shared.mail import outbox_directory, read_outbox

LINK = re.compile(r"(\S+)/#verify_email=([A-Za-z0-9_-]+)")


def outbox(services: Any) -> list[EmailMessage]:
    return read_outbox(outbox_directory(services.settings.data_dir))


def link_of(message: EmailMessage) -> tuple[str, str]:
    """The (origin, token) of the verification link in a mail; exactly one link is expected."""
    found = LINK.findall(message.get_content())
    assert len(found) == 1, message.get_content()
    return found[0]


def only_mail_to(services: Any, address: str) -> str:
    """The one mail in the outbox, checked to be to ``address``; returns its token."""
    messages = outbox(services)
    assert len(messages) == 1, [m["To"] for m in messages]
    assert messages[0]["To"] == address
    return link_of(messages[0])[1]


RESET_LINK = re.compile(r"(\S+)/#reset_password=([A-Za-z0-9_-]+)")


def mails_to(services: Any, address: str) -> list[EmailMessage]:
    return [m for m in outbox(services) if m["To"] == address]


def reset_token_in(message: EmailMessage) -> str:
    found = RESET_LINK.findall(message.get_content())
    assert len(found) == 1, message.get_content()
    return found[0][1]
