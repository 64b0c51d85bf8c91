"""The mail telling an owner that a sign-in method was added to their account.

Sent after the commit; a mail that cannot go out is logged and does not undo the link (the
audit event ``identity.linked`` records it either way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.mail import MailError, MailPort, recipient_ref

log = logging.getLogger("coditect.oauth")
PROVIDER_NAMES = {"google": "Google", "github": "GitHub"}


def sign_in_method_added_mail(provider: str, public_url: str) -> tuple[str, str]:
    """Subject and text of the notice (no link to act on: nothing in it is worth phishing)."""
    name = PROVIDER_NAMES.get(provider, provider)
    text = (
        f"Sign-in with {name} was just added to your Coditect account: from now on that {name}\n"
        "account can sign in to yours.\n\n"
        "If you did not add it, contact Coditect support at once: someone else may be able to\n"
        f"sign in to your account at {public_url.rstrip('/')}/ .\n"
    )
    return f"{name} sign-in was added to your Coditect account", text


def notify_sign_in_method_added(
    mail: Callable[[], MailPort], to: str, provider: str, public_url: str
) -> bool:
    subject, text = sign_in_method_added_mail(provider, public_url)
    try:
        mail().send(to, subject, text)
    except (MailError, ValueError):  # ValueError: a mail adapter that cannot be built
        log.warning(
            "sign-in method notice not sent",
            extra={"fields": {"provider": provider, "to_ref": recipient_ref(to)}},
        )
        return False
    return True
