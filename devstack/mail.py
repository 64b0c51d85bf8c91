"""Says where the local stack's mail goes: the outbox folder (CODITECT_MAIL=local) or SMTP."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from shared.mail import MailSettings, outbox_directory


def announce(stack: Any) -> Callable[[], None]:
    mail = MailSettings.from_env()
    if mail.backend == "smtp":
        stack.started.append(f"mail: SMTP {mail.smtp_host}:{mail.smtp_port} (STARTTLS)")
    else:
        folder = os.path.abspath(outbox_directory(stack.settings.data_dir))
        stack.started.append(f"mail: one .eml file per message in {folder}")
    return lambda: None
