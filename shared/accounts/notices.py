"""What happens after an account change has committed: reconcile messages and mails to the owner.

Each step is safe to repeat and never undoes the change: a lost publish is healed by the
scheduled resync, a mail that fails is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.accounts.password_flows import send_account_mail
from shared.accounts.records import UserRecord
from shared.accounts.users import get_user

PROVIDER_NAMES = {"google": "Google", "github": "GitHub"}

log = logging.getLogger("coditect.accounts")


def mail_owner(services: Any, user: UserRecord, subject: str, text: str) -> bool:
    try:
        mail = services.mail
    except ValueError:  # a mail adapter that cannot be built: the change stands all the same
        log.exception("mail port is misconfigured; account mail not sent")
        return False
    return send_account_mail(mail, user, subject, text)


def publish_stops(services: Any, tenant_id: str, user_id: str, workspace_ids: list[str]) -> None:
    from shared.workspaces.service import publish_reconcile

    for workspace_id in workspace_ids:
        publish_reconcile(services.events, tenant_id, workspace_id, "account", user_id=user_id)


def after_take_back(services: Any, fields: dict[str, Any]) -> None:
    """The owner's account was taken back from a password set by someone else."""
    tenant_id, user_id = fields["tenant_id"], fields["user_id"]
    stopped: list[str] = fields.get("workspaces_stopped", [])
    publish_stops(services, tenant_id, user_id, stopped)
    user = services.db.transact(lambda tr: get_user(tr, tenant_id, user_id))
    if user is None:
        return
    provider = PROVIDER_NAMES.get(fields["provider"], fields["provider"])
    text = (
        f"You signed in to Coditect with {provider}, which confirmed that this address is yours;\n"
        f"{provider} is now a way to sign in to the account. The account's email had never been\n"
        "confirmed, so we treated whoever set its password as someone else: the password was\n"
        "removed and every session and API token was revoked;\n"
        f"{len(stopped)} running workspace(s) were stopped (their files are kept).\n\n"
        "Look at the account's workspaces and connected accounts; you can set a password again\n"
        "from the account page.\n"
    )
    mail_owner(services, user, "Your Coditect account is yours again", text)
